import type { LoggedEvent } from "../domain/chat-event.js"
import type { MessageBody } from "../domain/message-record.js"
import type { Db } from "../adapters/sqlite-database.js"

export interface ProjectionContext {
  /** Plaintext of a stored body; undefined once a TTL message's key has been shredded. */
  readonly openBody: (messageId: string, body: MessageBody) => string | undefined
}

/** A fold over the log into tables. `apply` runs inside the append transaction. */
export interface ProjectionFold {
  readonly apply: (logged: LoggedEvent) => void
  /** Called once after a rebuild has applied every event (bulk work that is cheaper done at the end). */
  readonly finishRebuild?: () => void
}

export interface Projection {
  readonly name: string
  /** Tables this projection owns: emptied by a rebuild, compared by the rebuild test. */
  readonly tables: ReadonlyArray<string>
  readonly make: (db: Db, ctx: ProjectionContext, mode: "live" | "rebuild") => ProjectionFold
}
