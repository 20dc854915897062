import { Either } from "effect"
import type { Peer } from "../domain/peer.js"
import { type PeerKey, readPeerKey } from "./openpgp-crypto.js"

/**
 * A registered peer's public key. The fingerprint is always computed from the key; a peer file whose
 * stated fingerprint disagrees with its own key is refused, never believed.
 */
export const keyOfPeer = async (peer: Peer): Promise<Either.Either<PeerKey, string>> => {
  if (typeof peer.public_key !== "string" || peer.public_key.trim() === "") {
    return Either.left(`peer ${peer.fileName} has no public key`)
  }
  const key = await readPeerKey(peer.public_key)
  if (Either.isLeft(key)) return Either.left(`the key of peer ${peer.fileName}: ${key.left}`)
  const stated = peer.fingerprint?.replace(/\s/g, "").toLowerCase()
  if (stated !== undefined && stated !== "" && stated !== key.right.fingerprint) {
    return Either.left(
      `peer ${peer.fileName}'s file says fingerprint ${stated} but its key is ${key.right.fingerprint}`
    )
  }
  return key
}
