import Database from "better-sqlite3"
import { readdirSync, rmSync } from "node:fs"
import { createRequire } from "node:module"
import { basename, dirname, join } from "node:path"
import { Worker } from "node:worker_threads"
import { SEARCH_INDEX_OPTIONS, SEARCH_TABLE_SQL } from "../adapters/schema-migrations.js"
import type { Db } from "../adapters/sqlite-database.js"

/**
 * A rebuild's FTS index, built on the second core while the first loads the message rows (building
 * it in line was the largest single part of a rebuild).
 *
 * A worker thread reads the log through its own read-only connection (the log cannot change during a
 * rebuild, which holds the write lock) and indexes every live plain-bodied message into a scratch file
 * holding an FTS5 table of the same options. The rebuild then drops `messages_fts`, creates it afresh
 * (a fresh table caches nothing of the old index) and copies the scratch table's shadow rows in, which
 * are FTS5's own format whatever the content option. Sealed (TTL) texts, which only the main thread can
 * open, are then indexed through FTS5 as usual. If the worker fails, the caller builds in line instead.
 * The worker's rule for "live" must stay the projections' rule: a message event, not removed by a
 * later MessageExpired; the rebuild tests compare the result with the live index.
 */
const WORKER_SOURCE = `
const { workerData } = require("node:worker_threads")
const Database = require(workerData.sqlite)
const done = new Int32Array(workerData.signal)
try {
  const log = new Database(workerData.store, { readonly: true })
  const out = new Database(workerData.scratch)
  out.pragma("journal_mode = OFF")
  out.pragma("synchronous = OFF")
  out.exec(workerData.createTable)
  out.exec("INSERT INTO messages_fts (messages_fts, rank) VALUES ('secure-delete', 1)")
  const expiredAt = new Map(log.prepare(
    "SELECT data ->> '$.message_id', seq FROM events " +
    "WHERE type NOT IN ('MessageComposed', 'MessageReceived', 'ThreadCreated') AND type = 'MessageExpired' AND v = 1"
  ).raw().all())
  const texts = log.prepare(
    "SELECT seq, message_id, data ->> '$.message.body.text' FROM events " +
    "WHERE message_id IS NOT NULL AND v = 1 AND data ->> '$.message.body._tag' = 'Plain' ORDER BY seq"
  ).raw()
  const insert = out.prepare("INSERT INTO messages_fts (rowid, content) VALUES (?, ?)")
  out.transaction(() => {
    for (const [seq, id, text] of texts.iterate()) {
      const expired = expiredAt.get(id)
      if ((expired === undefined || expired < seq) && text) insert.run(seq, text)
    }
  })()
  out.close()
  log.close()
  Atomics.store(done, 0, 1)
} catch (e) {
  Atomics.store(done, 0, 2)
}
Atomics.notify(done, 0)
`

const SHADOW_TABLES = ["messages_fts_data", "messages_fts_idx", "messages_fts_config"] as const

/** better-sqlite3's entry point, resolved from here, for the worker to load the very same addon. */
const sqliteEntry = (): string =>
  createRequire(typeof __filename === "string" ? __filename : import.meta.url).resolve("better-sqlite3")

export interface SearchIndexBuild {
  /**
   * Waits for the worker, then replaces `messages_fts` with its index and adds the sealed texts.
   * Returns false, having changed nothing, when the worker failed.
   */
  readonly install: () => boolean
}

export const startSearchIndexBuild = (db: Db): SearchIndexBuild => {
  const scratch = `${db.name}.search-build-${process.pid}`
  const signal = new SharedArrayBuffer(4)
  const done = new Int32Array(signal)
  const removeScratch = () => {
    for (const f of [scratch, `${scratch}-journal`]) rmSync(f, { force: true })
  }
  /** Scratch files of rebuilds that died midway (only one rebuild runs at a time: it holds the write lock). */
  const removeStaleScratch = () => {
    const dir = dirname(db.name)
    const prefix = `${basename(db.name)}.search-build-`
    for (const name of readdirSync(dir)) if (name.startsWith(prefix)) rmSync(join(dir, name), { force: true })
  }
  let worker: Worker | undefined
  try {
    removeStaleScratch()
    worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        sqlite: sqliteEntry(),
        store: db.name,
        scratch,
        createTable: `CREATE VIRTUAL TABLE messages_fts USING fts5(content, content = '', ${SEARCH_INDEX_OPTIONS})`,
        signal
      }
    })
    worker.unref()
  } catch {
    Atomics.store(done, 0, 2)
  }
  return {
    install: () => {
      // Blocking on purpose: the rebuild is one synchronous write transaction.
      while (Atomics.load(done, 0) === 0) Atomics.wait(done, 0, 0, 1000)
      void worker?.terminate()
      try {
        if (Atomics.load(done, 0) !== 1) return false
        const built = new Database(scratch, { readonly: true })
        try {
          db.prepare("DROP TABLE messages_fts").run()
          db.prepare(SEARCH_TABLE_SQL).run()
          // FTS5 guards its shadow tables against direct writes; this copy into a table no statement
          // has used yet is the one place they are written as plain tables.
          db.unsafeMode(true)
          for (const table of SHADOW_TABLES) {
            db.prepare(`DELETE FROM ${table}`).run()
            // safeIntegers: integers come back as BigInt and go in as INTEGER, not REAL (FTS5 reads
            // its config values, such as secure-delete, as integers).
            const rows = built.prepare(`SELECT * FROM ${table}`).raw().safeIntegers(true)
            const width = rows.columns().length
            const put = db.prepare(`INSERT INTO ${table} VALUES (${Array(width).fill("?").join(", ")})`)
            for (const row of rows.iterate() as IterableIterator<Array<unknown>>) put.run(...row)
          }
        } finally {
          db.unsafeMode(false)
          built.close()
        }
        db.prepare(`INSERT INTO messages_fts (rowid, content)
          SELECT rowid, sealed_text FROM messages WHERE sealed_text IS NOT NULL AND sealed_text <> ''`).run()
        return true
      } finally {
        removeScratch()
      }
    }
  }
}
