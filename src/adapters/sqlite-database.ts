import { Migrator } from "@effect/sql"
import { SqliteClient } from "@effect/sql-sqlite-node"
import Database from "better-sqlite3"
import { Cause, Context, Duration, Effect, Layer, Schedule } from "effect"
import { chmodSync, existsSync, mkdirSync } from "node:fs"
import { dirname } from "node:path"
import { StoreError } from "../domain/errors.js"
import { latestMigrationId, migrationLoader } from "./schema-migrations.js"
import { SkchatPaths } from "./skchat-paths.js"

export type Db = Database.Database

/** How long a writer waits for another process's transaction before giving up (never shown as BUSY). */
const BUSY_TIMEOUT_MS = 15_000

const storeError = (what: string) => (cause: unknown) =>
  new StoreError({ message: `${what}: ${cause instanceof Error ? cause.message : String(cause)}` })

const schemaVersion = (db: Db): number => {
  const table = db.prepare(
    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'effect_sql_migrations'"
  ).get()
  if (table === undefined) return 0
  const row = db.prepare("SELECT max(migration_id) AS id FROM effect_sql_migrations").get() as { id: number | null }
  return row.id ?? 0
}

/**
 * Runs the @effect/sql migrator on its own short-lived connection. Several processes may start on a
 * fresh store at once: the loser of the race sees "locked" (or BUSY) and simply waits for the winner's
 * schema to appear.
 */
const migrate = (db: Db, filename: string) =>
  Effect.gen(function*() {
    if (schemaVersion(db) >= latestMigrationId) return
    const runMigrator = Effect.gen(function*() {
      const sql = yield* SqliteClient.SqliteClient
      yield* sql.unsafe(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`)
      yield* Migrator.make({})({ loader: migrationLoader })
    }).pipe(Effect.provide(SqliteClient.layer({ filename })), Effect.scoped)
    let lastFailure = "another process holds the store"
    yield* runMigrator.pipe(
      // Losing the race is expected; any other failure is kept to be reported if the schema never appears.
      Effect.catchAllCause((cause) =>
        Effect.sync(() => {
          lastFailure = String(Cause.squash(cause)).split("\n")[0] ?? lastFailure
        })
      ),
      Effect.flatMap(() =>
        schemaVersion(db) >= latestMigrationId
          ? Effect.void
          : Effect.fail(
            new StoreError({ message: `cannot bring ${filename} to schema ${latestMigrationId}: ${lastFailure}` })
          )
      ),
      Effect.retry(Schedule.spaced(Duration.millis(50)).pipe(Schedule.upTo(Duration.millis(BUSY_TIMEOUT_MS))))
    )
  })

const open = (filename: string) =>
  Effect.try({
    try: () => {
      if (filename !== ":memory:") mkdirSync(dirname(filename), { recursive: true, mode: 0o700 })
      const fresh = filename !== ":memory:" && !existsSync(filename)
      const db = new Database(filename)
      // Messages are private: the store is the owner's alone (SQLite gives its -wal/-shm the same mode).
      if (fresh) chmodSync(filename, 0o600)
      try {
        db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`)
        db.pragma("journal_mode = WAL")
        // NORMAL is durable across process crashes in WAL mode (only an OS crash can lose the last commits).
        db.pragma("synchronous = NORMAL")
        // Freed pages are zeroed, so a purged message leaves no text behind in the file.
        db.pragma("secure_delete = ON")
        db.pragma("foreign_keys = ON")
        return db
      } catch (e) {
        db.close()
        throw e
      }
    },
    catch: storeError(`cannot open the store ${filename}`)
  })

/** The one SQLite connection of a process, on the schema the code expects. */
export class SqliteDatabase extends Context.Tag("skchat/SqliteDatabase")<SqliteDatabase, {
  readonly db: Db
  readonly filename: string
}>() {
  static readonly open = (filename: string) =>
    Effect.gen(function*() {
      const db = yield* Effect.acquireRelease(open(filename), (db) => Effect.sync(() => db.close()))
      yield* Effect.try({ try: () => schemaVersion(db), catch: storeError(`cannot read ${filename}`) })
      yield* migrate(db, filename)
      return { db, filename }
    })

  static readonly layer = Layer.scoped(
    SqliteDatabase,
    Effect.flatMap(SkchatPaths, (paths) => SqliteDatabase.open(paths.dbFile))
  )
}

export { storeError }
