import { Command, Options } from "@effect/cli"
import { Clock, Console, Effect, Layer } from "effect"
import { ChatSystem } from "../../actors/chat-system.js"
import { Courier } from "../../actors/courier.js"
import { ActorInspector } from "../../adapters/actor-inspector.js"
import { askDaemon } from "../../adapters/daemon-socket.js"
import { SkchatPaths } from "../../adapters/skchat-paths.js"
import { InvalidInput } from "../../domain/errors.js"
import { ChatQueries } from "../../projections/chat-queries.js"
import type { MessageView } from "../../projections/message-queries.js"
import { storeLayers } from "../store-layers.js"
import { makeWakeUps } from "../wake-ups.js"
import { MailLive } from "./cli-layers.js"
import { checkLimit, limit } from "./cli-options.js"
import { markShown } from "../mark-shown.js"
import { bold, securityMarks, shortTime, styleFor } from "./render.js"

const interval = Options.float("interval").pipe(Options.withAlias("i"), Options.withDefault(5.0),
  Options.withDescription("seconds between polls (default 5.0)"))
const inspect = Options.boolean("inspect").pipe(
  Options.withDescription("show the running actors in the Stately inspector"))

/** Following a daemon, the log is looked at this often: reading a few rows costs nothing. */
const FOLLOW_MS = 250

const line = (m: MessageView): string => {
  const style = styleFor(process.stdout, process.env)
  const marks = securityMarks(m)
  const where = m.thread_id === null ? "" : ` [${m.thread_id}]`
  const flags = marks.length === 0 ? "" : ` (${marks.join(" ")})`
  return `${shortTime(m.timestamp)}  ${bold(style, m.sender)}${where}${flags}${m.expires_at === null ? "" : " ⏱"}: ` +
    m.content.replace(/[\r\n]+/g, " ")
}

export const watchCommand = Command.make("watch", { interval, limit: limit(20), inspect }, (args) =>
  Effect.gen(function*() {
    const n = yield* checkLimit(args.limit)
    if (!(args.interval > 0)) return yield* new InvalidInput({ message: "--interval must be a number of seconds above 0" })
    const chat = yield* ChatSystem
    const courier = yield* Courier
    const queries = yield* ChatQueries
    const { dataDir } = yield* SkchatPaths

    const { wait } = yield* makeWakeUps(courier.transports)

    yield* chat.expireDue()
    let now = yield* Clock.currentTimeMillis
    const first = queries.latestArrived(now, n)
    let last = first.at(-1)?.seq ?? 0
    const daemonAtStart = (yield* Effect.promise(() => askDaemon(dataDir, "status"))) !== undefined
    yield* Console.log(bold(styleFor(process.stdout, process.env),
      `Watching for messages (${daemonAtStart ? "following the daemon" : `polling every ${args.interval}s`}; Ctrl+C to stop)`))
    for (const { message } of first) yield* Console.log(line(message))
    yield* markShown(first.map((f) => f.message))

    for (;;) {
      // With a daemon running it owns the transports; watch only follows the log it writes.
      const daemon = (yield* Effect.promise(() => askDaemon(dataDir, "status", 1000))) !== undefined
      if (!daemon && courier.transports.length > 0) {
        const summary = yield* courier.receive().pipe(Effect.catchAll((e) =>
          Effect.as(Console.error(`skchat: ${"message" in e ? e.message : String(e)}`), undefined)
        ))
        for (const r of summary?.rejected ?? []) yield* Console.error(`skchat: rejected an envelope: ${r.reason} (${r.detail})`)
      }
      yield* chat.expireDue()
      now = yield* Clock.currentTimeMillis
      const arrived = queries.arrivedAfter(now, last, 500)
      for (const { seq, message } of arrived) {
        yield* Console.log(line(message))
        last = seq
      }
      yield* markShown(arrived.map((a) => a.message))
      if ((yield* wait(daemon ? Math.min(FOLLOW_MS, args.interval * 1000) : args.interval * 1000)) === "stop") break
    }
    yield* Console.log("Stopped watching.")
  }).pipe(
    Effect.scoped,
    Effect.provide(Layer.fresh(
      args.inspect
        ? storeLayers(process.env, ActorInspector.layer({
          env: process.env,
          localServer: true,
          onServerReady: (info) => process.stdout.write(`${info.hint}\n`)
        })).mail
        : MailLive
    ))
  )
).pipe(Command.withDescription("a live view of incoming messages until Ctrl+C (follows the daemon when one runs)"))
