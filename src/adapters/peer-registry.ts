import { Context, Effect, Either, Layer, Schema } from "effect"
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { errorLine } from "../domain/error-line.js"
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

type FileReading = { readonly peer: Peer } | { readonly reason: string }

/**
 * What each peer file said, by path, with the stat it was read at. A daemon or a burst of sends looks up
 * peers for every message; a file is read and decoded again only when its size, mtime or inode changed
 * (so an edit by hand or by another tool is still seen at once).
 */
const readings = new Map<string, { readonly stamp: string; readonly reading: FileReading }>()

const readPeerFile = (file: string, fileName: string): FileReading => {
  let stamp: string
  try {
    const st = statSync(file)
    stamp = `${st.size}:${st.mtimeMs}:${st.ino}`
  } catch (e) {
    return { reason: errorLine(e) }
  }
  const known = readings.get(file)
  if (known !== undefined && known.stamp === stamp) return known.reading
  let reading: FileReading
  try {
    const decoded = decodePeer(JSON.parse(readFileSync(file, "utf8")))
    reading = Either.isLeft(decoded)
      ? { reason: "not a peer record (needs at least a \"name\")" }
      : { peer: { ...decoded.right, fileName, uri: peerUri(decoded.right) } }
  } catch (e) {
    reading = { reason: errorLine(e) }
  }
  readings.set(file, { stamp, reading })
  return reading
}

/** The skcapstone peer registry: one JSON file per peer, shared with other tools. */
const readPeers = (peersDir: string): PeerListing => {
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
    const reading = readPeerFile(file, name.slice(0, -".json".length))
    if ("peer" in reading) peers.push(reading.peer)
    else unreadable.push({ file, reason: reading.reason })
  }
  return { peers, unreadable }
}

/** A peer file name: what `skchat peers add NAME` accepts (it becomes `<NAME>.json`). */
export const isPeerName = (name: string): boolean => /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name)

/** The peer a URI belongs to: its messages' address or one of its contact URIs. */
export const peerByUri = (peers: ReadonlyArray<Peer>, uri: string): Peer | undefined =>
  peers.find((p) => p.uri === uri || (p.contact_uris ?? []).includes(uri))

export class PeerRegistry extends Context.Tag("skchat/PeerRegistry")<PeerRegistry, {
  readonly dir: string
  readonly list: () => PeerListing
  /** The peer with this file name, `name` or `handle`. */
  readonly named: (name: string) => Peer | undefined
  /** Writes `<fileName>.json` (through a temp file and a rename). */
  readonly write: (fileName: string, peer: PeerFile) => void
  readonly remove: (fileName: string) => void
  /** A peer name or capauth URI to the URI messages go to. Unknown names fail with close matches. */
  readonly resolve: (nameOrUri: string) => Effect.Effect<string, UnknownRecipient>
}>() {
  static readonly layer = Layer.effect(
    PeerRegistry,
    Effect.map(SkchatPaths, ({ peersDir }) => {
      const list = () => readPeers(peersDir)
      return {
        dir: peersDir,
        list,
        named: (name: string) => list().peers.find((p) => peerAnswersTo(p, name)),
        write: (fileName: string, peer: PeerFile) => {
          mkdirSync(peersDir, { recursive: true })
          const tmp = join(peersDir, `.${fileName}.json.tmp`)
          writeFileSync(tmp, `${JSON.stringify(peer, null, 2)}\n`)
          renameSync(tmp, join(peersDir, `${fileName}.json`))
        },
        remove: (fileName: string) => rmSync(join(peersDir, `${fileName}.json`), { force: true }),
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
