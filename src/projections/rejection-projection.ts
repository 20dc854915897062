import type { Projection } from "./projection.js"

/** Envelopes refused on arrival, with why and where the raw bytes were quarantined. */
export const rejectionProjection: Projection = {
  name: "rejections",
  tables: ["rejections"],
  make: (db) => {
    const insert = db.prepare(`INSERT INTO rejections (seq, at, reason, detail, claimed_id, claimed_sender, sha256,
      size, file) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
    return {
      apply: ({ event, seq }) => {
        if (event._tag !== "EnvelopeRejected") return
        insert.run(seq, event.at, event.reason, event.detail, event.claimed_id, event.claimed_sender, event.sha256,
          event.size, event.file)
      }
    }
  }
}
