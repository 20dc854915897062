import { Command } from "@effect/cli"
import { Effect } from "effect"
import { ChatSystem } from "../../actors/chat-system.js"
import { ChatQueries } from "../../projections/chat-queries.js"
import { StoreLive } from "./cli-layers.js"
import { checkLimit, json, limit, printRows } from "./cli-options.js"
import { threadColumns } from "./render.js"

export const threadsCommand = Command.make("threads", { limit: limit(20), json }, (args) =>
  Effect.gen(function*() {
    const n = yield* checkLimit(args.limit)
    yield* Effect.flatMap(ChatSystem, (chat) => chat.expireDue())
    const rows = (yield* ChatQueries).threads(n)
    yield* printRows(args.json, rows, threadColumns, "No threads.")
  }).pipe(Effect.provide(StoreLive))
).pipe(Command.withDescription("threads by last activity"))
