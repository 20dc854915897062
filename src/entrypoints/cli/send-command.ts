import { Args, Command, Options } from "@effect/cli"
import { Clock, Console, Effect, Option } from "effect"
import { ChatSystem } from "../../actors/chat-system.js"
import { Courier } from "../../actors/courier.js"
import { PeerRegistry } from "../../adapters/peer-registry.js"
import { normalizeContentType } from "../../domain/content-type.js"
import { InvalidInput } from "../../domain/errors.js"
import { ChatQueries } from "../../projections/chat-queries.js"
import { MailLive, PeersLive } from "./cli-layers.js"

const recipient = Args.text({ name: "recipient" }).pipe(
  Args.withDescription("a peer name from ~/.skcapstone/peers or a capauth: URI")
)
const message = Args.text({ name: "message" })
const thread = Options.text("thread").pipe(Options.withAlias("t"), Options.optional,
  Options.withDescription("thread id to post in (created if new)"))
const replyTo = Options.text("reply-to").pipe(Options.withAlias("r"), Options.optional,
  Options.withDescription("id of the message this replies to"))
const ttl = Options.integer("ttl").pipe(Options.optional,
  Options.withDescription("seconds until the message expires and is erased"))
const contentType = Options.choice("content-type", ["plain", "markdown"]).pipe(Options.withDefault("plain"))
const json = Options.boolean("json").pipe(Options.withDescription("print the stored message as JSON"))
const plaintext = Options.boolean("plaintext").pipe(
  Options.withDescription("send unencrypted on purpose (still signed; marked plaintext everywhere)")
)

export const sendCommand = Command.make(
  "send",
  { recipient, message, thread, replyTo, ttl, contentType, json, plaintext },
  (args) =>
    Effect.gen(function*() {
      const to = yield* Effect.flatMap(PeerRegistry, (peers) => peers.resolve(args.recipient)).pipe(
        Effect.provide(PeersLive)
      )
      if (Option.isSome(args.ttl) && args.ttl.value <= 0) {
        return yield* new InvalidInput({ message: "--ttl must be a positive whole number of seconds" })
      }
      const chat = yield* ChatSystem
      const { envelopeId, message } = yield* chat.send({
        recipient: to,
        content: args.message,
        contentType: normalizeContentType(args.contentType),
        threadId: Option.getOrUndefined(args.thread),
        replyToId: Option.getOrUndefined(args.replyTo),
        ttl: Option.getOrUndefined(args.ttl),
        plaintext: args.plaintext
      })
      // Stored first; then straight to a transport. What fails is retried on the logged schedule.
      const courier = yield* Courier
      const round = yield* courier.deliver([message.id])
      if (round.retrying + round.failed > 0) {
        yield* Console.error(`skchat: not sent yet (${round.errors[0] ?? "no transport took it"}); ` +
          (round.failed > 0 ? "failed for good" : "it stays in the outbox and is retried (by `skchat daemon` or the next send/receive)"))
      }
      const now = yield* Clock.currentTimeMillis
      const status = (yield* ChatQueries).byId(now, message.id)?.delivery_status ?? message.delivery_status
      yield* Console.log(args.json
        ? JSON.stringify({ ...message, delivery_status: status, envelope_id: envelopeId }, null, 2)
        : message.id)
    }).pipe(Effect.provide(MailLive))
).pipe(Command.withDescription(
  "seal (sign and encrypt) a message to a peer and hand it to the first transport that takes it" +
    " (it waits in the outbox as pending while none does)"
))
