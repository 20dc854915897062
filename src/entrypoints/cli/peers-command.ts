import { Args, Command, Options } from "@effect/cli"
import { Console, Effect, Either, Option } from "effect"
import { readFileSync } from "node:fs"
import { ChatSystem } from "../../actors/chat-system.js"
import { IdentityKeys } from "../../adapters/identity-keys.js"
import { readPeerKey } from "../../adapters/openpgp-crypto.js"
import { isPeerName, peerByUri, PeerRegistry } from "../../adapters/peer-registry.js"
import { keyOfPeer } from "../../adapters/peer-keys.js"
import { InvalidInput, KeyChanged, UnknownRecipient } from "../../domain/errors.js"
import { isCapauthUri } from "../../domain/identity-uri.js"
import { closeMatches, type Peer, type PeerFile } from "../../domain/peer.js"
import { formatFingerprint, pairSafetyNumber } from "../../domain/safety-number.js"
import { peerKeyState } from "../peer-key-state.js"
import { KeysLive, PeersLive, StoreLive } from "./cli-layers.js"
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

const name = Args.text({ name: "name" }).pipe(Args.withDescription("the peer's short name (its file name)"))

const findPeer = (wanted: string) =>
  Effect.gen(function*() {
    const registry = yield* PeerRegistry
    const found = registry.named(wanted)
    if (found !== undefined) return found
    const names = registry.list().peers.flatMap((p) => [p.fileName, p.name])
    return yield* new UnknownRecipient({ name: wanted, suggestions: closeMatches(wanted, names) })
  })

/** The capauth URI a key's first user ID implies (`Name <email>` → capauth:email). */
const uriFromKey = (userIds: ReadonlyArray<string>): string | undefined => {
  const email = userIds.map((u) => /<([^<>\s@]+@[^<>\s@]+)>/.exec(u)?.[1]).find((e) => e !== undefined)
  return email === undefined ? undefined : `capauth:${email}`
}

const keyFile = Options.file("key").pipe(Options.withDescription("the peer's public key (armored or binary)"))
const uri = Options.text("uri").pipe(Options.optional,
  Options.withDescription("their capauth URI (default: from the key's email, else capauth:NAME@skworld.io)"))
const entityType = Options.choice("type", ["human", "agent"]).pipe(Options.optional,
  Options.withDescription("human or agent (default: as already registered, else human)"))

const addCommand = Command.make("add", { name, key: keyFile, uri, type: entityType }, (args) =>
  Effect.gen(function*() {
    if (!isPeerName(args.name)) {
      return yield* new InvalidInput({
        message: `"${args.name}" cannot be a peer name: use 1-64 letters, digits, '.', '_' or '-'`
      })
    }
    const bytes = yield* Effect.try({
      try: () => readFileSync(args.key),
      catch: () => new InvalidInput({ message: `cannot read ${args.key}` })
    })
    const text = bytes.toString("utf8")
    const key = yield* Effect.promise(() => readPeerKey(text.includes("-----BEGIN PGP") ? text : bytes))
    if (Either.isLeft(key)) return yield* new InvalidInput({ message: `${args.key}: ${key.left}` })
    const peerUri = Option.getOrUndefined(args.uri) ?? uriFromKey(key.right.userIds) ??
      `capauth:${args.name.toLowerCase()}@skworld.io`
    if (!isCapauthUri(peerUri)) {
      return yield* new InvalidInput({ message: `"${peerUri}" is not a capauth URI (capauth:name@host)` })
    }
    const registry = yield* PeerRegistry
    const existing = registry.list().peers.find((p) => p.fileName === args.name)
    if (existing !== undefined) {
      const current = yield* Effect.promise(() => keyOfPeer(existing))
      if (Either.isRight(current) && current.right.fingerprint !== key.right.fingerprint) {
        return yield* new KeyChanged({ peer: args.name, pinned: current.right.fingerprint, found: key.right.fingerprint })
      }
    }
    const other = peerByUri(registry.list().peers.filter((p) => p.fileName !== args.name), peerUri)
    if (other !== undefined) {
      return yield* new InvalidInput({ message: `${peerUri} already belongs to peer ${other.fileName}` })
    }
    const chat = yield* ChatSystem
    const pinnedNow = yield* chat.addPeer({ uri: peerUri, name: args.name, fingerprint: key.right.fingerprint })
    const email = peerUri.slice("capauth:".length)
    const record: PeerFile = {
      name: existing?.name ?? args.name,
      fingerprint: key.right.fingerprint.toUpperCase(),
      public_key: key.right.armored,
      entity_type: Option.getOrUndefined(args.type) ?? existing?.entity_type ?? "human",
      handle: args.name,
      email,
      capabilities: existing?.capabilities ?? [],
      contact_uris: [peerUri, ...(existing?.contact_uris ?? []).filter((u) => u !== peerUri)],
      trust_level: existing?.trust_level ?? "unverified",
      added_at: existing?.added_at ?? new Date().toISOString(),
      last_seen: existing?.last_seen ?? null,
      source: existing?.source ?? "skchat"
    }
    registry.write(args.name, record)
    yield* Console.log([
      `${existing !== undefined && !pinnedNow ? "already added" : "added"}: ${args.name} ${peerUri}`,
      `fingerprint: ${formatFingerprint(key.right.fingerprint)}`,
      `Check it with them: skchat identity fingerprint ${args.name}`
    ].join("\n"))
  }).pipe(Effect.provide(StoreLive), Effect.provide(PeersLive))
).pipe(Command.withDescription("add a peer from their public key (its fingerprint is computed, never taken on trust)"))

const showCommand = Command.make("show", { name, json }, (args) =>
  Effect.gen(function*() {
    const peer = yield* findPeer(args.name)
    const { description: keyState, fingerprint } = yield* peerKeyState(peer)
    const own = yield* Effect.flatMap(IdentityKeys, (k) => k.record()).pipe(Effect.provide(KeysLive))
    const shown = {
      ...peerJson(peer),
      key_fingerprint: fingerprint,
      key_state: keyState,
      safety_number: fingerprint !== null && own !== undefined ? pairSafetyNumber(own.fingerprint, fingerprint) : null
    }
    if (args.json) return yield* Console.log(JSON.stringify(shown, null, 2))
    yield* Console.log([
      `${peer.fileName}  ${peer.uri}`,
      `type:          ${peer.entity_type ?? ""}`,
      `fingerprint:   ${fingerprint === null ? "none" : formatFingerprint(fingerprint)}`,
      `key:           ${keyState}`,
      ...(shown.safety_number === null ? [] : [`safety number: ${shown.safety_number}`]),
      `trust:         ${peer.trust_level ?? ""}`,
      `added:         ${peer.added_at ?? ""}${peer.source ? ` (${peer.source})` : ""}`
    ].join("\n"))
  }).pipe(Effect.provide(StoreLive), Effect.provide(PeersLive))
).pipe(Command.withDescription("one peer: URI, key fingerprint, whether its key is pinned, safety number"))

const removeCommand = Command.make("remove", { name }, (args) =>
  Effect.gen(function*() {
    const registry = yield* PeerRegistry
    const chat = yield* ChatSystem
    const peer = registry.list().peers.find((p) => p.fileName === args.name) ?? registry.named(args.name)
    // A peer whose file was deleted by hand still has its pin: removing it by name must work too.
    const uris = peer !== undefined ? [peer.uri] : yield* chat.pinnedUrisNamed(args.name)
    if (peer === undefined && uris.length === 0) yield* findPeer(args.name)
    for (const u of uris) yield* chat.removePeer(u)
    if (peer !== undefined) registry.remove(peer.fileName)
    yield* Console.log(`removed ${args.name}; a new key for it can now be added`)
  }).pipe(Effect.provide(StoreLive), Effect.provide(PeersLive))
).pipe(Command.withDescription("remove a peer and forget its pinned key"))

export const peersCommand = Command.make("peers").pipe(
  Command.withDescription("the peer registry"),
  Command.withSubcommands([listCommand, addCommand, showCommand, removeCommand])
)
