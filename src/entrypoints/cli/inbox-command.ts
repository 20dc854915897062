import { Command, Options } from "@effect/cli"
import { Clock, Effect, Option } from "effect"
import { ChatSystem } from "../../actors/chat-system.js"
import { ChatQueries } from "../../projections/chat-queries.js"
import { MailLive } from "./cli-layers.js"
import { checkLimit, json, limit, printRows } from "./cli-options.js"
import { markShown } from "../mark-shown.js"
import { messageColumns } from "./render.js"

const thread = Options.text("thread").pipe(Options.withAlias("t"), Options.optional,
  Options.withDescription("only this thread"))

export const inboxCommand = Command.make("inbox", { limit: limit(20), thread, json }, (args) =>
  Effect.gen(function*() {
    const n = yield* checkLimit(args.limit)
    yield* Effect.flatMap(ChatSystem, (chat) => chat.expireDue())
    const now = yield* Clock.currentTimeMillis
    const rows = (yield* ChatQueries).inbox(now, n, { threadId: Option.getOrUndefined(args.thread) })
    yield* printRows(args.json, rows, messageColumns, "No messages.")
    yield* markShown(rows)
  }).pipe(Effect.provide(MailLive))
).pipe(Command.withDescription("received messages, newest first"))
