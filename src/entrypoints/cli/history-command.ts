import { Args, Command } from "@effect/cli"
import { Clock, Effect } from "effect"
import { ChatSystem } from "../../actors/chat-system.js"
import { PeerRegistry } from "../../adapters/peer-registry.js"
import { ChatQueries } from "../../projections/chat-queries.js"
import { MailLive, PeersLive } from "./cli-layers.js"
import { checkLimit, json, limit, printRows } from "./cli-options.js"
import { markShown } from "../mark-shown.js"
import { messageColumns } from "./render.js"

const participant = Args.text({ name: "participant" }).pipe(
  Args.withDescription("a peer name or capauth: URI")
)

export const historyCommand = Command.make("history", { participant, limit: limit(30), json }, (args) =>
  Effect.gen(function*() {
    const n = yield* checkLimit(args.limit)
    const peer = yield* Effect.flatMap(PeerRegistry, (peers) => peers.resolve(args.participant)).pipe(
      Effect.provide(PeersLive)
    )
    yield* Effect.flatMap(ChatSystem, (chat) => chat.expireDue())
    const now = yield* Clock.currentTimeMillis
    const rows = (yield* ChatQueries).conversation(now, peer, n)
    yield* printRows(args.json, rows, messageColumns, `No messages with ${peer}.`)
    yield* markShown(rows)
  }).pipe(Effect.provide(MailLive))
).pipe(Command.withDescription("the conversation with one participant, newest first"))
