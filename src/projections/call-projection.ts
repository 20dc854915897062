import type { Projection } from "./projection.js"

/** Direct calls and where each stands: `calling` / `ringing`, `connected`, `ended` (with its outcome). */
export const callProjection: Projection = {
  name: "calls",
  tables: ["calls"],
  make: (db) => {
    const start = db.prepare(`INSERT INTO calls (call_id, peer, direction, state, started_at) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT (call_id) DO NOTHING`)
    const connect = db.prepare("UPDATE calls SET state = 'connected', connected_at = ? WHERE call_id = ?")
    const end = db.prepare("UPDATE calls SET state = 'ended', ended_at = ?, outcome = ?, reason = ? WHERE call_id = ?")
    return {
      apply: ({ event }) => {
        switch (event._tag) {
          case "CallStarted":
            start.run(event.call_id, event.peer, event.direction, event.direction === "out" ? "calling" : "ringing",
              event.at)
            return
          case "CallConnected":
            connect.run(event.at, event.call_id)
            return
          case "CallEnded":
            end.run(event.at, event.outcome, event.reason, event.call_id)
        }
      }
    }
  }
}
