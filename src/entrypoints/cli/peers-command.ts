import { Command } from "@effect/cli"
import { Console, Effect } from "effect"
import { PeerRegistry } from "../../adapters/peer-registry.js"
import type { Peer } from "../../domain/peer.js"
import { PeersLive } from "./cli-layers.js"
import { json, printRows } from "./cli-options.js"
import type { Column } from "./render.js"

const peerColumns: ReadonlyArray<Column<Peer>> = [
  { header: "NAME", value: (p) => p.fileName },
  { header: "URI", value: (p) => p.uri },
  { header: "TYPE", value: (p) => p.entity_type ?? "" },
  { header: "TRUST", value: (p) => (p.trust_level === undefined || p.trust_level === null ? "" : String(p.trust_level)) },
  { header: "FINGERPRINT", value: (p) => p.fingerprint ?? "", flexible: true }
]

/** What `--json` shows of a peer: the registry fields, without the bulky armored key. */
const peerJson = ({ public_key, ...rest }: Peer) => ({ ...rest, has_public_key: typeof public_key === "string" })

const listCommand = Command.make("list", { json }, (args) =>
  Effect.gen(function*() {
    const { peers, unreadable } = (yield* PeerRegistry).list()
    for (const u of unreadable) yield* Console.error(`skchat: skipped ${u.file}: ${u.reason}`)
    yield* printRows(args.json, args.json ? peers.map(peerJson) as unknown as Array<Peer> : peers, peerColumns,
      "No peers in ~/.skcapstone/peers.")
  }).pipe(Effect.provide(PeersLive))
).pipe(Command.withDescription("peers in the skcapstone registry"))

export const peersCommand = Command.make("peers").pipe(
  Command.withDescription("the peer registry"),
  Command.withSubcommands([listCommand])
)
