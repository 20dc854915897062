import { Context, Effect, Either, Layer, Schema } from "effect"
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { UnknownRecipient } from "../domain/errors.js"
import { isCapauthUri } from "../domain/identity-uri.js"
import { closeMatches, type Peer, peerAnswersTo, PeerFile, peerUri } from "../domain/peer.js"
import { SkchatPaths } from "./skchat-paths.js"

const decodePeer = Schema.decodeUnknownEither(PeerFile)

export interface PeerListing {
  readonly peers: ReadonlyArray<Peer>
  /** Files that are not valid peer records, with why: shown, never silently dropped. */
  readonly unreadable: ReadonlyArray<{ readonly file: string; readonly reason: string }>
}

/** The skcapstone peer registry: one JSON file per peer, shared with other tools (read-only here). */
export const readPeers = (peersDir: string): PeerListing => {
  let names: Array<string>
  try {
    names = readdirSync(peersDir).filter((n) => n.endsWith(".json") && !n.startsWith(".")).sort()
  } catch {
    return { peers: [], unreadable: [] }
  }
  const peers: Array<Peer> = []
  const unreadable: Array<{ file: string; reason: string }> = []
  for (const name of names) {
    const file = join(peersDir, name)
    try {
      const decoded = decodePeer(JSON.parse(readFileSync(file, "utf8")))
      if (Either.isLeft(decoded)) {
        unreadable.push({ file, reason: "not a peer record (needs at least a \"name\")" })
        continue
      }
      peers.push({ ...decoded.right, fileName: name.slice(0, -".json".length), uri: peerUri(decoded.right) })
    } catch (e) {
      unreadable.push({ file, reason: e instanceof Error ? e.message : String(e) })
    }
  }
  return { peers, unreadable }
}

export class PeerRegistry extends Context.Tag("skchat/PeerRegistry")<PeerRegistry, {
  readonly list: () => PeerListing
  /** A peer name or capauth URI to the URI messages go to. Unknown names fail with close matches. */
  readonly resolve: (nameOrUri: string) => Effect.Effect<string, UnknownRecipient>
}>() {
  static readonly layer = Layer.effect(
    PeerRegistry,
    Effect.map(SkchatPaths, ({ peersDir }) => {
      const list = () => readPeers(peersDir)
      return {
        list,
        resolve: (nameOrUri: string) =>
          Effect.suspend(() => {
            const wanted = nameOrUri.trim()
            if (isCapauthUri(wanted) || wanted.startsWith("group:")) return Effect.succeed(wanted)
            const { peers } = list()
            const match = peers.find((p) => peerAnswersTo(p, wanted))
            if (match) return Effect.succeed(match.uri)
            const names = [...new Set(peers.flatMap((p) => [p.fileName, p.name, p.handle ?? []].flat()))]
            return Effect.fail(new UnknownRecipient({ name: wanted, suggestions: closeMatches(wanted, names) }))
          })
      }
    })
  )
}
