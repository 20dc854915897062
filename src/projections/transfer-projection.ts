import type { Projection } from "./projection.js"

/** File transfers and where each stands: `sending` / `receiving`, then `completed` or `failed`. */
export const transferProjection: Projection = {
  name: "transfers",
  tables: ["transfers"],
  make: (db) => {
    const start = db.prepare(`INSERT INTO transfers (transfer_id, message_id, direction, peer, name, size, sha256, path,
      state, started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (transfer_id) DO NOTHING`)
    const complete = db.prepare(`UPDATE transfers SET state = 'completed', ended_at = ?, route = ?,
      path = coalesce(?, path) WHERE transfer_id = ? AND state <> 'completed'`)
    const fail = db.prepare(`UPDATE transfers SET state = 'failed', ended_at = ?, reason = ?
      WHERE transfer_id = ? AND state <> 'completed'`)
    return {
      apply: ({ event }) => {
        switch (event._tag) {
          case "TransferStarted":
            start.run(event.transfer_id, event.message_id, event.direction, event.peer, event.name, event.size,
              event.sha256, event.path, event.direction === "out" ? "sending" : "receiving", event.at)
            return
          case "TransferCompleted":
            complete.run(event.at, event.route, event.path, event.transfer_id)
            return
          case "TransferFailed":
            fail.run(event.at, event.reason, event.transfer_id)
        }
      }
    }
  }
}
