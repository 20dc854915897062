import { Args, Command } from "@effect/cli"
import { Clock, Effect } from "effect"
import { ChatSystem } from "../../actors/chat-system.js"
import { ChatQueries } from "../../projections/chat-queries.js"
import { StoreLive } from "./cli-layers.js"
import { checkLimit, json, limit, printRows } from "./cli-options.js"
import { messageColumns } from "./render.js"

const query = Args.text({ name: "query" }).pipe(
  Args.withDescription("words to find (all must match; word* for a prefix)")
)

export const searchCommand = Command.make("search", { query, limit: limit(10), json }, (args) =>
  Effect.gen(function*() {
    const n = yield* checkLimit(args.limit)
    yield* Effect.flatMap(ChatSystem, (chat) => chat.expireDue())
    const now = yield* Clock.currentTimeMillis
    const rows = (yield* ChatQueries).search(now, args.query, n)
    yield* printRows(args.json, rows, messageColumns, "No matches.")
  }).pipe(Effect.provide(StoreLive))
).pipe(Command.withDescription("full-text search, most recent first"))
