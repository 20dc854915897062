import { Effect, Either } from "effect"
import { ChatSystem } from "../actors/chat-system.js"
import { keyOfPeer } from "../adapters/peer-keys.js"
import type { Peer } from "../domain/peer.js"

/** A registered peer's key as `peers show` and an agent's list_peers report it. */
export interface PeerKeyState {
  /** Computed from the key itself (never taken from the peer file); null when there is no usable key. */
  readonly fingerprint: string | null
  readonly state: "pinned" | "not pinned yet" | "changed" | "unusable"
  /** The same in words: why unusable, or which key is pinned instead. */
  readonly description: string
}

export const peerKeyState = (peer: Peer) =>
  Effect.gen(function*() {
    const key = yield* Effect.promise(() => keyOfPeer(peer))
    if (Either.isLeft(key)) {
      return { fingerprint: null, state: "unusable", description: `unusable: ${key.left}` } satisfies PeerKeyState
    }
    const fingerprint = key.right.fingerprint
    const pinned = yield* Effect.flatMap(ChatSystem, (chat) => chat.pinnedKey(peer.uri))
    const state: PeerKeyState = pinned === undefined
      ? { fingerprint, state: "not pinned yet", description: "not pinned yet (pinned on first use)" }
      : pinned.fingerprint === fingerprint
      ? { fingerprint, state: "pinned", description: "pinned" }
      : { fingerprint, state: "changed", description: `CHANGED: pinned ${pinned.fingerprint}` }
    return state
  })
