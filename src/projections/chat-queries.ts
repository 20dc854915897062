import { Context, Effect, Layer } from "effect"
import { SqliteDatabase } from "../adapters/sqlite-database.js"
import { type DirectQueries, makeDirectQueries } from "./direct-queries.js"
import { makeMessageQueries, type MessageQueries } from "./message-queries.js"

/** The read side: queries over the projections, for entrypoints. */
export class ChatQueries extends Context.Tag("skchat/ChatQueries")<ChatQueries, MessageQueries & DirectQueries>() {
  static readonly layer = Layer.effect(
    ChatQueries,
    Effect.map(SqliteDatabase, ({ db }) => ({ ...makeMessageQueries(db), ...makeDirectQueries(db) }))
  )
}
