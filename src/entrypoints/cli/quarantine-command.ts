import { Command } from "@effect/cli"
import { Effect } from "effect"
import type { RejectionView } from "../../projections/message-queries.js"
import { ChatQueries } from "../../projections/chat-queries.js"
import { StoreLive } from "./cli-layers.js"
import { checkLimit, json, limit, printRows } from "./cli-options.js"
import { type Column, shortTime } from "./render.js"

const columns: ReadonlyArray<Column<RejectionView>> = [
  { header: "TIME", value: (r) => shortTime(r.at) },
  { header: "REASON", value: (r) => r.reason },
  { header: "CLAIMED SENDER", value: (r) => r.claimed_sender ?? "" },
  { header: "FILE", value: (r) => r.file ?? "(dropped)", dropOrder: 1 },
  { header: "DETAIL", value: (r) => r.detail, flexible: true }
]

export const quarantineCommand = Command.make("quarantine", { limit: limit(20), json }, (args) =>
  Effect.gen(function*() {
    const n = yield* checkLimit(args.limit)
    const rows = (yield* ChatQueries).rejections(n)
    yield* printRows(args.json, rows, columns, "No envelopes were refused.")
  }).pipe(Effect.provide(StoreLive))
).pipe(Command.withDescription("envelopes refused on arrival, with why, newest first"))
