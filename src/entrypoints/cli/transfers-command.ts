import { Command } from "@effect/cli"
import { Effect } from "effect"
import { humanBytes } from "../../domain/file-attachment.js"
import { ChatQueries } from "../../projections/chat-queries.js"
import type { TransferView } from "../../projections/direct-queries.js"
import { StoreLive } from "./cli-layers.js"
import { checkLimit, json, limit, printRows } from "./cli-options.js"
import type { Column } from "./render.js"

const columns: ReadonlyArray<Column<TransferView>> = [
  { header: "STARTED", value: (t) => t.started_at.slice(0, 19).replace("T", " ") },
  { header: "", value: (t) => (t.direction === "out" ? "→" : "←") },
  { header: "PEER", value: (t) => t.peer },
  { header: "NAME", value: (t) => t.name },
  { header: "SIZE", value: (t) => humanBytes(t.size) },
  { header: "STATE", value: (t) => t.state },
  { header: "ROUTE", value: (t) => t.route ?? "" },
  { header: "PATH", value: (t) => t.reason ?? t.path, flexible: true }
]

export const transfersCommand = Command.make("transfers", { limit: limit(50), json }, (args) =>
  Effect.gen(function*() {
    const n = yield* checkLimit(args.limit)
    const rows = (yield* ChatQueries).transfers(n)
    yield* printRows(args.json, rows, columns, "No file transfers yet.")
  }).pipe(Effect.provide(StoreLive))
).pipe(Command.withDescription("file transfers, newest first, and where each stands"))
