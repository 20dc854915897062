import type { LoggedEvent } from "../domain/chat-event.js"
import type { MessageBody } from "../domain/message-record.js"
import type { Db } from "../adapters/sqlite-database.js"

export interface ProjectionContext {
  /** Plaintext of a stored body; undefined once a TTL message's key has been shredded. */
  readonly openBody: (messageId: string, body: MessageBody) => string | undefined
}

/**
 * The events a rebuild loads set-wise (one INSERT ... SELECT over the log) instead of folding them one
 * by one: they are nearly the whole log, and a per-event fold of a million of them cannot meet the
 * rebuild budget. Every other event is folded, in log order, by the same `apply` as the live path.
 */
export const BULK_LOADED_TYPES: ReadonlyArray<string> = ["MessageComposed", "MessageReceived", "ThreadCreated"]

/**
 * A projection at work. Live, `apply` sees every event inside its append transaction. In a rebuild,
 * `bulkLoad` first produces exactly what folding the BULK_LOADED_TYPES would have, then `apply` sees
 * only the other events, then `finishRebuild` does deferred bulk work. The rebuild test holds the two
 * paths to identical tables.
 */
export interface ProjectionFold {
  /** Called first in a rebuild, inside its transaction, before anything is emptied. */
  readonly beginRebuild?: (options: RebuildOptions) => void
  readonly apply: (logged: LoggedEvent) => void
  readonly bulkLoad?: () => void
  readonly finishRebuild?: () => void
}

export interface RebuildOptions {
  /** Build the search index on another core meanwhile (pointless, and so off, on a single core). */
  readonly searchInBackground: boolean
}

export interface Projection {
  readonly name: string
  /** Tables this projection owns: emptied by a rebuild, compared by the rebuild test. */
  readonly tables: ReadonlyArray<string>
  readonly make: (db: Db, ctx: ProjectionContext, mode: "live" | "rebuild") => ProjectionFold
}
