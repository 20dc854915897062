import { Args, Command, Options } from "@effect/cli"
import { Console, Effect, Option } from "effect"
import { InvalidInput } from "../../domain/errors.js"
import type { LiveCall } from "../../actors/call-manager.js"
import { askDaemon } from "../../adapters/daemon-socket.js"
import { PeerRegistry } from "../../adapters/peer-registry.js"
import { pathsFromEnv } from "../../adapters/skchat-paths.js"
import { ChatQueries } from "../../projections/chat-queries.js"
import type { CallView } from "../../projections/direct-queries.js"
import { requestDaemon } from "../daemon-request.js"
import { PeersLive, StoreLive } from "./cli-layers.js"

const peer = Args.text({ name: "peer" }).pipe(Args.withDescription("a peer name from ~/.skcapstone/peers or a capauth: URI"))
const json = Options.boolean("json").pipe(Options.withDescription("print JSON"))
const dataDir = () => pathsFromEnv(process.env).dataDir

const resolvePeer = (nameOrUri: string) =>
  Effect.flatMap(PeerRegistry, (peers) => peers.resolve(nameOrUri)).pipe(Effect.provide(PeersLive))

/** Asks the daemon to act on a call with a peer, and says what it answered. */
const onCall = (verb: string, done: (call: LiveCall) => string) => (args: { readonly peer: string; readonly json: boolean }) =>
  Effect.gen(function*() {
    const uri = yield* resolvePeer(args.peer)
    const call = yield* requestDaemon<LiveCall>(dataDir(), `${verb} ${uri}`)
    yield* Console.log(args.json ? JSON.stringify(call, null, 2) : done(call))
  })

const acceptCommand = Command.make("accept", { peer, json },
  onCall("call-accept", (c) => `accepted the call from ${c.peer} (call ${c.call_id}); connecting`)).pipe(
  Command.withDescription("accept a peer's incoming call"))

const hangupCommand = Command.make("hangup", { peer, json },
  onCall("call-hangup", (c) => `hung up the call with ${c.peer} (call ${c.call_id})`)).pipe(
  Command.withDescription("end the call with a peer (they are told)"))

const line = (c: CallView, live: LiveCall | undefined) =>
  `${c.peer}  ${c.state}${live !== undefined && live.state !== c.state ? ` (${live.state})` : ""}  ` +
  `${c.direction === "out" ? "outgoing" : "incoming"} call ${c.call_id}, since ${c.started_at}` +
  (c.state === "ended" ? `; ${c.outcome ?? ""}${c.reason === null ? "" : ` (${c.reason})`}` : "")

const statusCommand = Command.make("status", { json }, (args) =>
  Effect.gen(function*() {
    const calls = (yield* ChatQueries).calls(20)
    const live = ((yield* Effect.promise(() => askDaemon(dataDir(), "calls"))) ?? []) as ReadonlyArray<LiveCall>
    const liveOf = (c: CallView) => live.find((l) => l.call_id === c.call_id)
    if (args.json) {
      yield* Console.log(JSON.stringify(calls.map((c) => ({ ...c, negotiation: liveOf(c)?.state ?? null })), null, 2))
    } else if (calls.length === 0) {
      yield* Console.log("no calls yet")
    } else {
      for (const c of calls) yield* Console.log(line(c, liveOf(c)))
    }
  }).pipe(Effect.provide(StoreLive))
).pipe(Command.withDescription("calls in progress, then the latest ended ones"))

export const callCommand = Command.make("call", { peer: Args.optional(peer), json }, (args) =>
  Option.match(args.peer, {
    onNone: () => new InvalidInput({ message: "say whom to call: `skchat call PEER` (or call accept|status|hangup)" }),
    onSome: (p) =>
      onCall("call", (c) => `calling ${c.peer} (call ${c.call_id}); the daemon negotiates: see \`skchat call status\``)({
        peer: p,
        json: args.json
      })
  })).pipe(
  Command.withDescription("call a peer directly (WebRTC data channel); returns at once, the daemon negotiates"),
  Command.withSubcommands([acceptCommand, statusCommand, hangupCommand])
)
