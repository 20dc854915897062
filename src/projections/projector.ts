import type { LoggedEvent } from "../domain/chat-event.js"
import type { Db } from "../adapters/sqlite-database.js"
import { callProjection } from "./call-projection.js"
import { messageProjection } from "./message-projection.js"
import { peerKeyProjection } from "./peer-key-projection.js"
import type { Projection, ProjectionContext, ProjectionFold, RebuildOptions } from "./projection.js"
import { rejectionProjection } from "./rejection-projection.js"
import { searchProjection } from "./search-projection.js"
import { threadProjection } from "./thread-projection.js"
import { transferProjection } from "./transfer-projection.js"

/**
 * Every projection, in the order they see each event. Search and threads read the message row an
 * expiry is about to delete, so the message projection comes last.
 */
export const projections: ReadonlyArray<Projection> = [
  searchProjection,
  threadProjection,
  messageProjection,
  peerKeyProjection,
  rejectionProjection,
  callProjection,
  transferProjection
]

/** Bulk loads run in the opposite order: threads are derived from the loaded message rows. */
const bulkOrder: ReadonlyArray<Projection> = [messageProjection, threadProjection, searchProjection,
  peerKeyProjection, rejectionProjection, callProjection, transferProjection]


export interface Projector {
  /** Folds freshly appended events; runs in the append transaction. */
  readonly apply: (logged: ReadonlyArray<LoggedEvent>) => void
  /**
   * Empties every projection and refolds the whole log: the bulk-loaded types set-wise, then `others`
   * (every other event, in log order) one by one. Runs in one write transaction; returns the last seq.
   */
  readonly rebuild: (
    others: Iterable<LoggedEvent>,
    lastSeq: number,
    ctx: ProjectionContext,
    options: RebuildOptions
  ) => void
  /**
   * Folds into each projection the events after its checkpoint (`read(seq)` yields those after `seq`).
   * Live appends keep every checkpoint at the head, so on start this is normally a no-op; a projection
   * left behind (by an older build, say) catches up on its tail only. Runs in a write transaction;
   * returns how many events were folded.
   */
  readonly catchUp: (read: (afterSeq: number) => Iterable<LoggedEvent>, headSeq: number) => number
  /** Last seq each projection has applied. */
  readonly checkpoints: () => ReadonlyArray<{ readonly name: string; readonly seq: number }>
}

export const makeProjector = (db: Db, ctx: ProjectionContext): Projector => {
  const live = projections.map((p) => p.make(db, ctx, "live"))
  const saveCheckpoint = db.prepare(
    "INSERT INTO projection_checkpoints (name, seq) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET seq = excluded.seq"
  )
  const selectCheckpoints = db.prepare("SELECT name, seq FROM projection_checkpoints ORDER BY name")

  const checkpointAll = (seq: number) => {
    for (const p of projections) saveCheckpoint.run(p.name, seq)
  }

  const fold = (folds: ReadonlyArray<ProjectionFold>, logged: LoggedEvent) => {
    for (const f of folds) f.apply(logged)
  }

  return {
    apply: (logged) => {
      if (logged.length === 0) return
      for (const e of logged) fold(live, e)
      checkpointAll(logged[logged.length - 1]!.seq)
    },
    rebuild: (others, lastSeq, rebuildCtx, options) => {
      const tables = projections.flatMap((p) => p.tables)
      // Secondary indexes are dropped and built again at the end: sorting once is far cheaper than
      // growing every B-tree row by row.
      const indexes = db.prepare(
        `SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL
           AND tbl_name IN (${tables.map(() => "?").join(", ")})`
      ).all(...tables) as Array<{ name: string; sql: string }>
      // secure_delete stays on: the rows emptied here include the plaintext of live TTL messages, and a
      // copy left in a freed page would outlive the message's expiry.
      const folds = new Map(projections.map((p) => [p, p.make(db, rebuildCtx, "rebuild")] as const))
      for (const f of folds.values()) f.beginRebuild?.(options)
      for (const { name } of indexes) db.prepare(`DROP INDEX ${name}`).run()
      for (const table of tables) db.prepare(`DELETE FROM ${table}`).run()
      // Message rows go in without their indexes; the indexes are built before the thread load,
      // which reads message rows by thread.
      folds.get(messageProjection)!.bulkLoad?.()
      for (const { sql } of indexes) db.prepare(sql).run()
      for (const p of bulkOrder) if (p !== messageProjection) folds.get(p)!.bulkLoad?.()
      const ordered = projections.map((p) => folds.get(p)!)
      for (const e of others) fold(ordered, e)
      for (const f of ordered) f.finishRebuild?.()
      checkpointAll(lastSeq)
    },
    catchUp: (read, headSeq) => {
      const at = new Map((selectCheckpoints.all() as Array<{ name: string; seq: number }>).map((c) => [c.name, c.seq]))
      const lagging = projections.map((p, i) => ({ name: p.name, fold: live[i]!, seq: at.get(p.name) ?? 0 }))
        .filter((l) => l.seq < headSeq)
      if (lagging.length === 0) return 0
      let folded = 0
      for (const e of read(Math.min(...lagging.map((l) => l.seq)))) {
        for (const l of lagging) if (e.seq > l.seq) l.fold.apply(e)
        folded += 1
      }
      for (const l of lagging) saveCheckpoint.run(l.name, headSeq)
      return folded
    },
    checkpoints: () => selectCheckpoints.all() as Array<{ name: string; seq: number }>
  }
}
