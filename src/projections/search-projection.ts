import type { Projection } from "./projection.js"

/**
 * Full-text index over live message content (FTS5, contentless: it holds tokens, the text stays in
 * `messages`). Must be applied before the message projection: expiry looks the rowid up there.
 */
export const searchProjection: Projection = {
  name: "search",
  tables: ["messages_fts"],
  make: (db, ctx, mode) => {
    const insert = db.prepare("INSERT INTO messages_fts (rowid, content) VALUES (?, ?)")
    const rowidOf = db.prepare("SELECT rowid FROM messages WHERE id = ?").pluck()
    const remove = db.prepare("DELETE FROM messages_fts WHERE rowid = ?")
    return {
      apply: ({ event, seq }) => {
        switch (event._tag) {
          case "MessageComposed":
          case "MessageReceived": {
            // A rebuild indexes the surviving rows in one pass at the end instead.
            if (mode === "rebuild") return
            const text = ctx.openBody(event.message.id, event.message.body)
            if (text !== undefined && text !== "") insert.run(seq, text)
            return
          }
          case "MessageExpired": {
            if (mode === "rebuild") return
            const rowid = rowidOf.get(event.message_id) as number | undefined
            if (rowid !== undefined) remove.run(rowid)
            return
          }
        }
      },
      finishRebuild: () => {
        db.prepare("INSERT INTO messages_fts (rowid, content) SELECT rowid, content FROM messages WHERE content <> ''")
          .run()
      }
    }
  }
}
