import type { Db } from "./sqlite-database.js"

/** Rows per multi-row INSERT: per-statement overhead was a tenth of an append when each row had its own. */
export const ROWS_PER_STATEMENT = 64

/**
 * Collects rows for one table and writes them ROWS_PER_STATEMENT at a time (the remainder one by one)
 * when flushed or when a full statement's worth is waiting. Callers flush before anything reads the
 * table and at the end of their transaction.
 */
export interface BatchInsert {
  readonly add: (...values: ReadonlyArray<unknown>) => void
  readonly flush: () => void
}

export const makeBatchInsert = (db: Db, into: string, columns: number): BatchInsert => {
  const row = `(${Array(columns).fill("?").join(", ")})`
  const one = db.prepare(`INSERT INTO ${into} VALUES ${row}`)
  const many = db.prepare(`INSERT INTO ${into} VALUES ${Array(ROWS_PER_STATEMENT).fill(row).join(", ")}`)
  let pending: Array<unknown> = []
  return {
    add: (...values) => {
      for (const v of values) pending.push(v)
      if (pending.length === ROWS_PER_STATEMENT * columns) {
        many.run(pending)
        pending = []
      }
    },
    flush: () => {
      for (let i = 0; i < pending.length; i += columns) one.run(pending.slice(i, i + columns))
      pending = []
    }
  }
}
