import type { Projection } from "./projection.js"

/**
 * The key pinned for each peer URI. `PeerAdded` pins (replacing nothing: a changed key is refused before
 * it gets here), `PeerRemoved` unpins, so the next key for that URI can be accepted.
 */
export const peerKeyProjection: Projection = {
  name: "peer_keys",
  tables: ["peer_keys"],
  make: (db) => {
    const pin = db.prepare(`INSERT INTO peer_keys (uri, name, fingerprint, how, pinned_at) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT (uri) DO UPDATE SET name = excluded.name, fingerprint = excluded.fingerprint, how = excluded.how,
        pinned_at = excluded.pinned_at`)
    const unpin = db.prepare("DELETE FROM peer_keys WHERE uri = ?")
    return {
      apply: ({ event }) => {
        if (event._tag === "PeerAdded") pin.run(event.uri, event.name, event.fingerprint, event.how, event.at)
        else if (event._tag === "PeerRemoved") unpin.run(event.uri)
      }
    }
  }
}
