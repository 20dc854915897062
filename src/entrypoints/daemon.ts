import { Cause, Clock, Effect, Runtime } from "effect"
import { appendFileSync, mkdirSync, rmSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { ChatSystem } from "../actors/chat-system.js"
import { makeCallManager } from "../actors/call-manager.js"
import { Courier, type ReceiveSummary } from "../actors/courier.js"
import { progressFromLog } from "../actors/file-transfers.js"
import { makeTransferRecaller } from "../actors/transfer-recaller.js"
import { SkchatConfig } from "../adapters/config-file.js"
import type { RelayReply } from "../adapters/daemon-relay.js"
import { askDaemon, DaemonAlreadyRunning, listenDaemonSocket } from "../adapters/daemon-socket.js"
import { SkchatPaths } from "../adapters/skchat-paths.js"
import type { OutboundEnvelope } from "../adapters/transport.js"
import { errorLine } from "../domain/error-line.js"
import { ConfigError, InvalidInput } from "../domain/errors.js"
import { readWebrtcSettings } from "../domain/webrtc-settings.js"
import { makeWakeUps } from "./wake-ups.js"

export interface DaemonOptions {
  readonly intervalSeconds: number
  readonly logFile: string
  /** Only start, stop and errors in the log. */
  readonly quiet: boolean
  /** Also print log lines on stdout (running in the foreground of a terminal). */
  readonly echo: boolean
  /** Called once the daemon holds its lock and serves. */
  readonly onReady?: (info: { readonly pid: number; readonly pidFile: string }) => void
}

/** What a running daemon answers on its socket (`daemon status`, an agent's daemon_status). */
export interface DaemonStatus {
  readonly pid: number
  readonly data_dir: string
  readonly started_at: string
  readonly interval: number
  readonly log_file: string
  readonly transports: ReadonlyArray<string>
  readonly rounds: number
  readonly received: number
  readonly rejected: number
  readonly sent: number
  readonly last_error: string | null
}

/** The data dir's daemon's status, or undefined when none runs. */
export const daemonStatusOf = (dataDir: string): Promise<DaemonStatus | undefined> =>
  askDaemon(dataDir, "status") as Promise<DaemonStatus | undefined>

export const pidFileOf = (dataDir: string) => join(dataDir, "daemon.pid")
export const defaultLogFile = (dataDir: string) => join(dataDir, "daemon.log")

/** How long a wake-up waits for more arrivals before the round starts. */
const COALESCE_MS = 10

/** Longest a delivery receipt waits while messages keep arriving. */
const RECEIPT_PAUSE_MS = 1000

const describeReceive = (s: ReceiveSummary): ReadonlyArray<string> => {
  const lines: Array<string> = []
  for (const m of s.accepted) {
    lines.push(`received ${m.id} from ${m.sender}${m.thread_id === null ? "" : ` in ${m.thread_id}`}`)
  }
  if (s.unverified > 0) lines.push(`${s.unverified} of them UNVERIFIED (legacy, unsigned)`)
  for (const r of s.rejected) lines.push(`rejected ${r.source}: ${r.reason} (${r.detail})${r.file ? ` -> ${r.file}` : ""}`)
  if (s.duplicates > 0) lines.push(`${s.duplicates} duplicate(s) consumed`)
  if (s.receipts > 0) lines.push(`${s.receipts} receipt(s): ${s.statusUpdates} message status(es) updated`)
  return lines
}

/**
 * The background process that keeps a data dir current: it takes the data dir's lock (one daemon per
 * data dir), brings the projections up to the log's head, then loops: take in what the transports
 * hold, send receipts owed and outbox messages due, expire TTL messages. It wakes when a watched folder
 * changes (file-system notifications), when the next logged deadline (retry or TTL) falls due, when
 * another skchat process pokes it, and at the latest every interval (polling, for folders where
 * notifications do not arrive). SIGTERM or SIGINT: it finishes the round in hand and stops cleanly.
 */
export const runDaemon = (options: DaemonOptions) =>
  Effect.gen(function*() {
    const paths = yield* SkchatPaths
    const chat = yield* ChatSystem
    const courier = yield* Courier
    const pidFile = pidFileOf(paths.dataDir)
    mkdirSync(dirname(options.logFile), { recursive: true })
    const log = (line: string, always = false) => {
      if (options.quiet && !always) return
      const stamped = `${new Date().toISOString()} ${line}`
      try {
        appendFileSync(options.logFile, `${stamped}\n`, { mode: 0o600 })
      } catch {
        // A log that cannot be written must not stop the daemon.
      }
      if (options.echo) process.stdout.write(`${stamped}\n`)
    }

    const stats = { startedAt: Date.now(), rounds: 0, received: 0, rejected: 0, sent: 0, lastError: null as string | null }
    const alreadyRunning = () =>
      new InvalidInput({ message: `a daemon is already running for ${paths.dataDir} (see \`skchat daemon status\`)` })
    // Without our key nothing can be opened or acknowledged: say so now, not in every round. Before the
    // lock, so `daemon start` never sees a daemon that is about to give up; after a quick look for a
    // running one, so nobody is asked for a passphrase only to be told that.
    if ((yield* Effect.promise(() => askDaemon(paths.dataDir, "status"))) !== undefined) return yield* alreadyRunning()
    const config = yield* SkchatConfig
    const webrtc = readWebrtcSettings((key) => config.get("webrtc", key))
    if (typeof webrtc === "string") return yield* new ConfigError({ message: webrtc })
    yield* chat.unlockKey()
    // Arrivals wake the loop at once; polling every interval stays as the fallback. (Signals are taken
    // over only now: a Ctrl+C at the passphrase prompt above still ends the process.)
    const { wait, wake } = yield* makeWakeUps(courier.transports, (dir, e) =>
      log(`cannot watch ${dir} (${errorLine(e)}): polling every ${options.intervalSeconds}s`, true))

    const run = Runtime.runPromise(yield* Effect.runtime<never>())
    const calls = makeCallManager({
      me: chat.identity.uri,
      settings: webrtc,
      sendSignal: (peer, callId, signal) => run(Effect.asVoid(courier.sendSignal(peer, callId, signal))),
      record: (events) => run(chat.record(events)),
      receive: (items) =>
        run(courier.receiveItems(items)).then((summary) => {
          stats.received += summary.accepted.length
          stats.rejected += summary.rejected.length
          for (const line of describeReceive(summary)) log(line)
          takeSignals(summary)
          // Receipts owed for what came in: the next round sends them (over the channel, first).
          if (summary.accepted.length > 0) wake()
        }),
      log: (line) => log(line),
      onLink: (peer, link) => (link === undefined ? transfers.linkDown(peer) : transfers.linkUp(peer, link)),
      onControl: (peer, frame) => transfers.control(peer, frame),
      onExtraChannel: (peer, channel) => transfers.channel(peer, channel),
      onConnected: (peer) => recaller.connected(peer),
      onEnded: (peer, outcome) => recaller.ended(peer, outcome)
    })
    const recaller = makeTransferRecaller({
      unfinished: (peer) => chat.direct.sendingTo(peer).length > 0,
      inCall: (peer) => calls.inCall(peer),
      call: (peer) => void calls.call(peer, Date.now()),
      log: (line) => log(line)
    })
    const { transfers } = courier
    courier.holdCalls({ transport: calls.transport, link: calls.link, openChannel: calls.openChannel, log: (line) => log(line) })
    const takeSignals = (summary: ReceiveSummary) => {
      const now = Date.now()
      for (const s of summary.signals) calls.signal(s.from, s.callId, s.signal, now)
    }

    /** One line from the socket: `verb argument`. */
    const command = async (line: string): Promise<unknown> => {
      const space = line.indexOf(" ")
      const verb = space < 0 ? line : line.slice(0, space)
      const arg = space < 0 ? "" : line.slice(space + 1)
      const now = Date.now()
      switch (verb) {
        case "poke":
          wake()
          break
        case "call":
          return calls.call(arg, now)
        case "call-accept":
          return calls.accept(arg, now)
        case "call-hangup":
          return calls.hangUp(arg)
        case "calls":
          return calls.live()
        case "send-file": {
          const { peer, path, note } = JSON.parse(arg) as { peer?: unknown; path?: unknown; note?: unknown }
          if (typeof peer !== "string" || typeof path !== "string") throw new InvalidInput({ message: "send-file needs a peer and a path" })
          const started = await transfers.send(peer, path, typeof note === "string" ? note : undefined)
          return transfers.progress(started.transferId)
        }
        case "transfer": {
          const logged = chat.direct.transfer(arg)
          return transfers.progress(arg) ?? (logged === undefined ? { error: `no transfer ${arg}` } : progressFromLog(logged))
        }
        case "relay": {
          const envelope = JSON.parse(arg) as OutboundEnvelope
          if (typeof envelope?.recipient !== "string" || typeof envelope.text !== "string") {
            return { passed: "not an envelope" } satisfies RelayReply
          }
          return calls.transport.send(envelope).then(
            (): RelayReply => ({ ok: true }),
            (e): RelayReply => ({ passed: errorLine(e) })
          )
        }
      }
      return statusNow()
    }
    const statusNow = (): DaemonStatus => ({
      pid: process.pid,
      data_dir: paths.dataDir,
      started_at: new Date(stats.startedAt).toISOString(),
      interval: options.intervalSeconds,
      log_file: options.logFile,
      transports: courier.transports.map((t) => t.name),
      rounds: stats.rounds,
      received: stats.received,
      rejected: stats.rejected,
      sent: stats.sent,
      last_error: stats.lastError
    })
    // Last out: calls are hung up (peers told, ends recorded) and node-datachannel released, or the process
    // would never exit.
    yield* Effect.addFinalizer(() =>
      Effect.promise(async () => {
        recaller.stop()
        await transfers.stop()
        await calls.stop()
      }))

    yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => listenDaemonSocket(paths.dataDir, command),
        catch: (e) =>
          e instanceof DaemonAlreadyRunning
            ? alreadyRunning()
            : new InvalidInput({ message: `cannot take the daemon lock: ${errorLine(e)}` })
      }),
      (server) => Effect.promise(() => new Promise<void>((done) => server.close(() => done())))
    )
    yield* Effect.acquireRelease(
      Effect.sync(() => writeFileSync(pidFile, `${process.pid}\n`)),
      () => Effect.sync(() => rmSync(pidFile, { force: true }))
    )

    const caughtUp = yield* chat.catchUp()
    if (caughtUp > 0) log(`projections caught up on ${caughtUp} event(s)`, true)
    // Calls the log still shows open died with the daemon that held them.
    const stale = chat.direct.openCalls()
    yield* chat.record(stale.map((c) => ({
      _tag: "CallEnded" as const,
      v: 1 as const,
      at: Date.now(),
      call_id: c.call_id,
      outcome: "interrupted" as const,
      reason: "the daemon holding it stopped"
    })))

    // During a burst, receipts wait until it pauses (or a second has passed): a few envelopes answer it.
    let lastReceipts = 0
    const round = Effect.gen(function*() {
      stats.rounds += 1
      const now = yield* Clock.currentTimeMillis
      const summary = yield* courier.receive({ receipts: false })
      takeSignals(summary)
      calls.tick(now)
      const holdReceipts = summary.accepted.length > 0 && now - lastReceipts < RECEIPT_PAUSE_MS
      if (!holdReceipts) {
        const sent = yield* courier.sendReceipts()
        lastReceipts = now
        if (sent > 0) log(`acknowledged ${sent} message(s) to their senders`)
      }
      stats.received += summary.accepted.length
      stats.rejected += summary.rejected.length
      for (const line of describeReceive(summary)) log(line)
      for (const e of summary.errors) log(`error: ${e}`, true)
      const outbox = yield* courier.deliver()
      stats.sent += outbox.sent
      if (outbox.sent > 0) log(`sent ${outbox.sent} message(s)`)
      if (outbox.retrying > 0) log(`${outbox.retrying} message(s) not sent yet: ${outbox.errors[0] ?? ""}`, true)
      if (outbox.failed > 0) log(`${outbox.failed} message(s) failed for good: ${outbox.errors[0] ?? ""}`, true)
      const expired = yield* chat.expireDue()
      if (expired > 0) log(`expired ${expired} message(s)`)
      return holdReceipts
    }).pipe(
      // A bad round (a locked store, a transport gone) is logged; the daemon keeps running.
      Effect.catchAllCause((cause) =>
        Effect.sync(() => {
          const failure = Cause.squash(cause)
          stats.lastError = errorLine(failure)
          log(`error: ${stats.lastError}`, true)
          return false
        })
      )
    )

    log(`started (pid ${process.pid}, data dir ${paths.dataDir}, transports: ${
      courier.transports.map((t) => t.name).join(", ") || "none"
    }, every ${options.intervalSeconds}s)`, true)
    options.onReady?.({ pid: process.pid, pidFile })

    const intervalMs = Math.max(50, options.intervalSeconds * 1000)
    for (;;) {
      // Receipts held back: look again shortly, to send them once the burst has passed.
      const held = yield* round
      const deadline = yield* chat.nextDeadline().pipe(Effect.orElseSucceed(() => undefined))
      const now = yield* Clock.currentTimeMillis
      // Never a busy loop, even when a deadline keeps being due (a round that keeps failing, say).
      const untilDeadline = deadline === undefined ? intervalMs : Math.max(20, deadline - now + 1)
      const waitMs = Math.min(intervalMs, untilDeadline, held ? 50 : intervalMs)
      const why = yield* wait(waitMs)
      if (why === "stop") break
      // A burst of arrivals: let it gather for a moment, so a round takes many files instead of one or two.
      if (why === "wake") yield* Effect.sleep(COALESCE_MS)
    }
    log("stopping (signal received)", true)
  }).pipe(Effect.scoped)
