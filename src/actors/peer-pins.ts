import { Effect, Either } from "effect"
import type { PeerKey } from "../adapters/openpgp-crypto.js"
import { keyOfPeer } from "../adapters/peer-keys.js"
import { peerByUri, type PeerListing } from "../adapters/peer-registry.js"
import type { Db } from "../adapters/sqlite-database.js"
import type { ChatEvent } from "../domain/chat-event.js"
import { KeyChanged } from "../domain/errors.js"

/** The key pinned for a peer URI (the `peer_keys` projection). */
export interface Pin {
  readonly name: string
  readonly fingerprint: string
}

/**
 * A registered key checked against its pin. `pin` is the PeerAdded event to record with the message when
 * this is the key's first use (trust on first use), else undefined.
 */
export interface CheckedKey {
  readonly key: PeerKey
  readonly pin: ChatEvent | undefined
}

const changed = (name: string, pinned: string, found: string) => new KeyChanged({ peer: name, pinned, found })

/**
 * Key pinning: a peer's key is pinned the first time it is used or added, and from then on a different key
 * for that URI is refused until the peer is removed. The functions that return events run inside
 * ChatSystem's write transaction, where they may throw KeyChanged (another process pinned meanwhile).
 */
export const makePeerPins = (
  db: Db,
  registry: { readonly dir: string; readonly list: () => PeerListing }
) => {
  const selectPin = db.prepare("SELECT name, fingerprint FROM peer_keys WHERE uri = ?")
  const selectUrisNamed = db.prepare("SELECT uri FROM peer_keys WHERE name = ?").pluck()
  const pinned = (uri: string) => selectPin.get(uri) as Pin | undefined

  /** The registered key of a peer URI, checked against its pin; `missing` says why there is none. */
  const keyFor = (uri: string, now: number): Effect.Effect<
    { readonly found: CheckedKey } | { readonly missing: string },
    KeyChanged
  > =>
    Effect.gen(function*() {
      const peer = peerByUri(registry.list().peers, uri)
      if (peer === undefined) return { missing: `no peer in ${registry.dir} has the URI ${uri}` }
      const key = yield* Effect.promise(() => keyOfPeer(peer))
      if (Either.isLeft(key)) return { missing: key.left }
      const pin = pinned(uri)
      if (pin !== undefined && pin.fingerprint !== key.right.fingerprint) {
        return yield* changed(peer.fileName, pin.fingerprint, key.right.fingerprint)
      }
      const firstUse: ChatEvent | undefined = pin === undefined
        ? {
          _tag: "PeerAdded",
          v: 1,
          at: now,
          uri,
          name: peer.fileName,
          fingerprint: key.right.fingerprint,
          how: "first use"
        }
        : undefined
      return { found: { key: key.right, pin: firstUse } }
    })

  /** The first-use pin to append, unless another process pinned this URI meanwhile (then it must agree). */
  const firstUseEvents = (uri: string, checked: CheckedKey): Array<ChatEvent> => {
    const pin = checked.pin
    if (pin === undefined || pin._tag !== "PeerAdded") return []
    const now = pinned(uri)
    if (now === undefined) return [pin]
    if (now.fingerprint !== checked.key.fingerprint) throw changed(pin.name, now.fingerprint, checked.key.fingerprint)
    return []
  }

  /** `peers add`: the pin to append ([] when already pinned to this key); another key is refused. */
  const addEvents = (peer: { uri: string; name: string; fingerprint: string }, now: number): Array<ChatEvent> => {
    const pin = pinned(peer.uri)
    if (pin !== undefined && pin.fingerprint !== peer.fingerprint) {
      throw changed(pin.name, pin.fingerprint, peer.fingerprint)
    }
    return pin === undefined ? [{ _tag: "PeerAdded", v: 1, at: now, ...peer, how: "peers add" }] : []
  }

  /** `peers remove`: the unpin to append, or [] when nothing was pinned. */
  const removeEvents = (uri: string, now: number): Array<ChatEvent> => {
    const pin = pinned(uri)
    if (pin === undefined) return []
    return [{ _tag: "PeerRemoved", v: 1, at: now, uri, name: pin.name, fingerprint: pin.fingerprint }]
  }

  return {
    pinned,
    /** URIs pinned under a peer name (a peer whose file was deleted by hand can still be removed). */
    urisNamed: (name: string) => selectUrisNamed.all(name) as Array<string>,
    keyFor,
    firstUseEvents,
    addEvents,
    removeEvents
  }
}
