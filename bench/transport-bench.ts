/**
 * Issue #4's figures: sealed messages from A to B over the file transport with B's daemon running
 * (throughput end to end, and latency at a steady 10 messages/s), and the daemon's start-up time and
 * resident memory on a 1,000,000-event log. B's daemon is a real `skchat daemon start --foreground`
 * child process; A sends in this process through ChatSystem and the Courier, as `skchat send` does.
 */
import Database from "better-sqlite3"
import { Effect, ManagedRuntime } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { appendFileSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { performance } from "node:perf_hooks"
import { fileURLToPath } from "node:url"
import { ChatSystem } from "../src/actors/chat-system.js"
import { Courier } from "../src/actors/courier.js"
import { askDaemon } from "../src/adapters/daemon-socket.js"
import { timestampMillis } from "../src/domain/timestamp.js"
import { storeLayers } from "../src/entrypoints/store-layers.js"
import { installIdentity } from "../test/support/identities.js"
import { type Chatter, fileTransportConfig, makeChattingPair } from "../test/support/shared-folder.js"

const root = fileURLToPath(new URL("..", import.meta.url))
const bin = join(root, "bin", "skchat.cjs")

type Report = (line: string) => void

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!

/** `skchat daemon start --foreground` for a data dir, resolved once it answers on its socket. */
export const startDaemon = async (env: NodeJS.ProcessEnv, dataDir: string, args: ReadonlyArray<string> = []) => {
  const t0 = performance.now()
  const child = spawn(process.execPath, [bin, "daemon", "start", "--foreground", "--quiet", ...args], {
    env: { ...env, SKCHAT_DAEMON_CHILD: "1" },
    stdio: ["ignore", "ignore", "inherit"]
  })
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the daemon exited with ${child.exitCode}`)
    if ((await askDaemon(dataDir, "status", 200)) !== undefined) return { child, readyMs: performance.now() - t0 }
    await sleep(2)
  }
}

export const stopDaemon = async (child: ChildProcess) => {
  if (child.exitCode !== null) return
  const exited = new Promise((r) => child.once("exit", r))
  child.kill("SIGTERM")
  await exited
}

const residentMb = (pid: number) => {
  const status = readFileSync(`/proc/${pid}/status`, "utf8")
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) / 1024
}

/** User + system CPU time of a process, from /proc (clock ticks of 10 ms). */
const cpuSeconds = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
  return (Number(fields[11]) + Number(fields[12])) / 100
}

/** A's side in this process: the store plus transports, as the CLI's `send` uses them. */
const sender = (who: Chatter) => ManagedRuntime.make(storeLayers(who.env).mail)

const inboundCount = (db: Database.Database) =>
  db.prepare("SELECT count(*) FROM messages WHERE direction = 'in'").pluck().get() as number

/**
 * A and B over a shared folder, B's daemon running, A's store open here; `f` gets a `send` that stores a
 * message and hands it to the transport as `skchat send` does, and B's store to count arrivals in.
 * Everything is stopped and removed afterwards.
 */
const withPair = async (f: (ctx: {
  readonly send: (content: string) => Effect.Effect<unknown, unknown>
  readonly run: <X>(effect: Effect.Effect<X, unknown>) => Promise<X>
  readonly bobDb: () => Database.Database
  /** CPU seconds B's daemon has used so far. */
  readonly bobCpu: () => number
}) => Promise<void>) => {
  const pair = await makeChattingPair()
  const a = sender(pair.alice)
  let child: ChildProcess | undefined
  let bobDb: Database.Database | undefined
  try {
    child = (await startDaemon(pair.bob.env, pair.bob.dataDir)).child
    const chat = await a.runPromise(ChatSystem)
    const courier = await a.runPromise(Courier)
    const send = (content: string) =>
      Effect.flatMap(chat.send({ recipient: pair.bob.uri, content }), (r) => courier.deliverSoon(r.message.id))
    await f({
      send,
      run: (effect) => a.runPromise(effect),
      bobCpu: () => cpuSeconds(child!.pid!),
      bobDb: () => (bobDb ??= new Database(join(pair.bob.dataDir, "memory", "skchat.db"), { readonly: true }))
    })
  } finally {
    bobDb?.close()
    if (child !== undefined) await stopDaemon(child)
    await a.dispose()
    pair.remove()
  }
}

export const transportBenchmarks = async (options: { readonly quick: boolean; readonly report: Report }) => {
  const { quick, report } = options
  // 1. Throughput: N sealed messages, sent with 16 in flight, until the last is in B's inbox.
  await withPair(async ({ bobCpu, bobDb, run, send }) => {
    const n = quick ? 1_000 : 10_000
    // Warm-up (keys unlocked, OpenPGP loaded on both sides) before the clock starts.
    await run(send("warm-up"))
    while (inboundCount(bobDb()) < 1) await sleep(5)
    const t0 = performance.now()
    const aCpu0 = process.cpuUsage()
    const bCpu0 = bobCpu()
    await run(Effect.forEach(Array.from({ length: n }, (_, i) => i), (i) => send(`message ${i} of the throughput run`),
      { concurrency: 16, discard: true }))
    const sentMs = performance.now() - t0
    while (inboundCount(bobDb()) < n + 1) await sleep(5)
    const totalMs = performance.now() - t0
    const aCpu = process.cpuUsage(aCpu0)
    const cpuNote = `CPU per message: A ${((aCpu.user + aCpu.system) / 1000 / n).toFixed(2)} ms, B's daemon ` +
      `${((bobCpu() - bCpu0) * 1000 / n).toFixed(2)} ms`
    report(`| ${n.toLocaleString("en-US")} sealed messages A → B over the file transport, B's daemon running, end to end ` +
      `(A sealed and wrote them in ${(sentMs / 1000).toFixed(1)} s; the last was in B's inbox after ` +
      `${(totalMs / 1000).toFixed(1)} s; ${cpuNote}) | ${Math.round(n / (totalMs / 1000))} messages/s | ≥ 400 messages/s |`)
  })

  // 2. Latency at a steady 10 messages/s: from the moment A composes (the message's own timestamp) to
  // the moment B's daemon commits it (the recorded_at of B's MessageReceived event); one clock.
  await withPair(async ({ bobDb, run, send }) => {
    const n = quick ? 100 : 600
    await run(send("warm-up"))
    await sleep(500)
    const start = performance.now()
    for (let i = 0; i < n; i++) {
      const wait = start + i * 100 - performance.now()
      if (wait > 0) await sleep(wait)
      await run(send(`steady ${i}`))
    }
    while (inboundCount(bobDb()) < n + 1) await sleep(20)
    const rows = bobDb().prepare(`SELECT recorded_at, data ->> '$.message.timestamp' AS ts FROM events
      WHERE type = 'MessageReceived' ORDER BY seq`).all() as Array<{ recorded_at: number; ts: string }>
    const latencies = rows.slice(1).map((r) => r.recorded_at - timestampMillis(r.ts)).sort((x, y) => x - y)
    report(`| send-to-B's-inbox latency at a steady 10 messages/s (${n} messages, B's daemon notified by the ` +
      `file system) | p50 ${percentile(latencies, 0.5)} ms, p95 ${percentile(latencies, 0.95)} ms, max ` +
      `${latencies.at(-1)} ms | p95 ≤ 50 ms |`)
  })
}

/**
 * The daemon on a big store (the `events`-event log bench/run.ts built): time from spawning it until it
 * answers on its socket, median of 5 starts, and its resident memory after it has settled.
 */
export const daemonStartupBenchmark = async (options: {
  readonly home: string
  readonly dataDir: string
  readonly events: number
  readonly report: Report
}) => {
  const { dataDir, home, report } = options
  const env: NodeJS.ProcessEnv = { PATH: process.env["PATH"], HOME: home, SKCHAT_HOME: dataDir, LANG: "C.UTF-8" }
  // The daemon unlocks its key before it serves: the store gets the identity `skchat init` would make.
  await installIdentity({ dataDir }, "bench", "capauth:bench@localhost", { writeConfig: false })
  appendFileSync(join(dataDir, "config.yml"),
    fileTransportConfig("capauth:bench@localhost", join(home, "inbox"), join(home, "outbox")))
  const times: Array<number> = []
  let rss = NaN
  for (let i = 0; i < 5; i++) {
    const { child, readyMs } = await startDaemon(env, dataDir, ["-i", "5"])
    times.push(readyMs)
    if (i === 4) {
      // At rest: a few seconds idle, a poll round or so behind it.
      await sleep(6000)
      rss = residentMb(child.pid!)
    }
    await stopDaemon(child)
  }
  times.sort((a, b) => a - b)
  report(`| daemon start-up on a ${options.events.toLocaleString("en-US")}-event log, until it serves (median of 5: ` +
    `${times.map((t) => t.toFixed(0)).join(", ")} ms; includes starting Node) | ${percentile(times, 0.5).toFixed(0)} ms | ≤ 1 s |`)
  report(`| daemon resident memory at rest on that log (VmRSS, 6 s after start) | ${rss.toFixed(0)} MB | ≤ 150 MB |`)
}
