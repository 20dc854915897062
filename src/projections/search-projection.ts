import type { Projection } from "./projection.js"
import { type SearchIndexBuild, startSearchIndexBuild } from "./search-index-builder.js"

/**
 * Full-text index over live message text: FTS5 over the `message_texts` view (external content).
 * Must be applied before the message projection: removing a message's tokens needs its row.
 */
export const searchProjection: Projection = {
  name: "search",
  tables: [],
  make: (db, ctx, mode) => {
    const insert = db.prepare("INSERT INTO messages_fts (rowid, content) VALUES (?, ?)")
    // FTS5 removes tokens given the exact text that was indexed, which the view still yields.
    const remove = db.prepare(`INSERT INTO messages_fts (messages_fts, rowid, content)
      SELECT 'delete', rowid, content FROM message_texts
      WHERE rowid = (SELECT seq FROM events WHERE message_id = ? AND seq < ?) AND content <> ''`)
    let background: SearchIndexBuild | undefined
    return {
      // The index of a rebuild is built on another core meanwhile (search-index-builder.ts).
      beginRebuild: ({ searchInBackground }) => {
        if (searchInBackground) background = startSearchIndexBuild(db)
      },
      apply: ({ event, seq }) => {
        // A rebuild indexes the surviving rows in one pass at the end instead.
        if (mode === "rebuild") return
        switch (event._tag) {
          case "MessageComposed":
          case "MessageReceived": {
            const text = ctx.openBody(event.message.id, event.message.body)
            if (text !== undefined && text !== "") insert.run(seq, text)
            return
          }
          case "MessageExpired":
            remove.run(event.message_id, seq)
            return
        }
      },
      finishRebuild: () => {
        if (background?.install() === true) return
        db.prepare("INSERT INTO messages_fts (messages_fts) VALUES ('delete-all')").run()
        db.prepare("INSERT INTO messages_fts (rowid, content) SELECT rowid, content FROM message_texts WHERE content <> ''")
          .run()
      }
    }
  }
}
