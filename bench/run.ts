/**
 * `npm run bench`: the figures issues #2 to #6 ask for, measured on this machine, written to BENCHMARKS.md
 * (`--quick`: smaller sizes, written to bench/last-quick-run.md). The sealing figures of #3 are in
 * bench/crypto-bench.ts. Everything runs in temp dirs; nothing touches the real home or the network.
 */
import { Effect, ManagedRuntime } from "effect"
import { spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { cpus, totalmem, tmpdir, type as osType, release } from "node:os"
import { join } from "node:path"
import { performance } from "node:perf_hooks"
import { ChatSystem } from "../src/actors/chat-system.js"
import { ChatHistory, historyLayer } from "../src/entrypoints/chat-history.js"
import { ChatQueries } from "../src/projections/chat-queries.js"
import { cryptoBenchmarks } from "./crypto-bench.js"
import { COMMON_TERM, RARE_TERM, syntheticMessage } from "./message-fixture.js"
import { mcpBenchmarks } from "./mcp-bench.js"
import { daemonStartupBenchmark, transportBenchmarks } from "./transport-bench.js"

const root = new URL("..", import.meta.url).pathname
const quick = process.argv.includes("--quick")
const BIG = quick ? 100_000 : 1_000_000
const CLI_STORE = 100_000

const percentile = (sorted: ReadonlyArray<number>, p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!
const median = (xs: ReadonlyArray<number>) => percentile([...xs].sort((a, b) => a - b), 0.5)

const openStore = (dir: string) => ManagedRuntime.make(historyLayer({ home: dir, dataDir: join(dir, ".skchat") }))

const fill = async (runtime: ReturnType<typeof openStore>, count: number, batch: number) => {
  const chat = await runtime.runPromise(ChatSystem)
  for (let start = 0; start < count; start += batch) {
    const messages = []
    for (let i = start; i < Math.min(count, start + batch); i++) messages.push(syntheticMessage(i))
    await runtime.runPromise(chat.recordAll(messages))
  }
}

const lines: Array<string> = []
const report = (line: string) => {
  console.log(line)
  lines.push(line)
}

const scratch = mkdtempSync(join(tmpdir(), "skchat-bench-"))
try {
  // 1. Append throughput through ChatSystem (event log + every projection, same transaction).
  {
    const runtime = openStore(join(scratch, "append"))
    const chat = await runtime.runPromise(ChatSystem)
    const single = 5_000
    let t = performance.now()
    for (let i = 0; i < single; i++) await runtime.runPromise(chat.recordAll([syntheticMessage(i)]))
    const singleRate = single / ((performance.now() - t) / 1000)
    report(`| append, one event per transaction | ${Math.round(singleRate).toLocaleString("en-US")} events/s | — |`)
    const batched = 200_000
    let offset = single
    for (const size of [1000, 5000]) {
      const messages = Array.from({ length: batched }, (_, i) => syntheticMessage(offset + i))
      offset += batched
      t = performance.now()
      for (let s = 0; s < batched; s += size) await runtime.runPromise(chat.recordAll(messages.slice(s, s + size)))
      const rate = batched / ((performance.now() - t) / 1000)
      report(
        `| append, batched (${size.toLocaleString("en-US")} per transaction) | ` +
          `${Math.round(rate).toLocaleString("en-US")} events/s | ≥ 50,000 events/s |`
      )
    }
    await runtime.dispose()
  }

  // 2 and 3. A large log: rebuild every projection, then search it.
  {
    const dir = join(scratch, "big")
    let runtime = openStore(dir)
    let t = performance.now()
    await fill(runtime, BIG, 5000)
    const fillSeconds = (performance.now() - t) / 1000
    await runtime.dispose()
    runtime = openStore(dir)
    const chat = await runtime.runPromise(ChatSystem)
    // Three rebuilds, the median reported: the first, right after the fill, varied most (4.75-5.36 s
    // against 4.36-5.05 s for the later ones in an A/B run on this machine).
    const rebuilds: Array<number> = []
    let events = 0
    for (let r = 0; r < 3; r++) {
      t = performance.now()
      events = await runtime.runPromise(chat.rebuild())
      rebuilds.push((performance.now() - t) / 1000)
    }
    report(
      `| rebuild all projections, ${events.toLocaleString("en-US")}-event log (median of 3: ` +
        `${rebuilds.map((x) => x.toFixed(2)).join(", ")} s) | ${median(rebuilds).toFixed(2)} s | ≤ 5 s |`
    )
    report(`| (building that log by batched append took ${fillSeconds.toFixed(1)} s) | | |`)

    const queries = await runtime.runPromise(ChatQueries)
    const now = Date.now()
    for (const [label, term] of [["rare", RARE_TERM], ["very common", COMMON_TERM]] as const) {
      const times: Array<number> = []
      let hits = 0
      for (let i = 0; i < 220; i++) {
        const t0 = performance.now()
        hits = queries.search(now, term, 10).length
        if (i >= 20) times.push(performance.now() - t0)
      }
      times.sort((a, b) => a - b)
      report(
        `| search "${term}" (${label}, ${hits} of limit 10 shown) at ${BIG.toLocaleString("en-US")} messages | ` +
          `p50 ${percentile(times, 0.5).toFixed(2)} ms, p95 ${percentile(times, 0.95).toFixed(2)} ms | p95 ≤ 10 ms |`
      )
    }
    await runtime.dispose()
    // 8. The daemon on that log (issue #4): start-up until it serves, and memory at rest.
    await daemonStartupBenchmark({ home: dir, dataDir: join(dir, ".skchat"), events, report })
  }

  // 4. CLI cold start on a 100k-message store, against bare `node -e 0` in the same run.
  {
    const dir = join(scratch, "cli")
    const runtime = openStore(dir)
    await fill(runtime, CLI_STORE, 5000)
    await runtime.runPromise(Effect.flatMap(ChatHistory, (h) => h.inbox(1)))
    await runtime.dispose()
    const env = { ...process.env, HOME: dir, SKCHAT_HOME: join(dir, ".skchat"), NO_COLOR: "1" }
    const time = (args: ReadonlyArray<string>) => {
      const t0 = performance.now()
      const r = spawnSync(process.execPath, args, { env, stdio: ["ignore", "ignore", "inherit"] })
      if (r.status !== 0) throw new Error(`${args.join(" ")} exited ${r.status}`)
      return performance.now() - t0
    }
    const cli = [join(root, "bin/skchat.cjs"), "inbox", "--limit", "20"]
    time(cli)
    const nodeTimes: Array<number> = []
    const cliTimes: Array<number> = []
    for (let i = 0; i < 21; i++) {
      nodeTimes.push(time(["-e", "0"]))
      cliTimes.push(time(cli))
    }
    const n = median(nodeTimes)
    const c = median(cliTimes)
    report(
      `| \`skchat inbox --limit 20\` cold start, ${CLI_STORE.toLocaleString("en-US")}-message store | ` +
        `${c.toFixed(0)} ms vs \`node -e 0\` ${n.toFixed(0)} ms = ${(c / n).toFixed(2)}× | ≤ 3.5× |`
    )
  }

  // 5-7. Sealing (issue #3): seal/open against bare OpenPGP.js, sealed sends/s on one core, rebuild of a
  // received sealed log without decrypting.
  await cryptoBenchmarks({ quick, scratch, report })

  // 9-10. Transports (issue #4): throughput and latency A → B over the file transport, B's daemon running.
  await transportBenchmarks({ quick, report })

  // 11-13. The MCP server (issue #5): start-up, send_message round trips, wait_for_messages wake-up.
  await mcpBenchmarks({ quick, report })

  // 14-16. Direct calls (issue #6): call set-up, message latency over the call, a file against raw node-datachannel.
  // In a process of its own, as `tsx bench/direct-bench.ts` runs them alone: alice's side of the latency runs
  // in that process and the transfer shares the two cores with it, so it starts as small as it does alone
  // rather than grown by the parts above. (The transfer still measured lower here than alone: see notes.md.)
  const direct = spawnSync(process.execPath, ["--import", "tsx", join(root, "bench/direct-bench.ts"), ...(quick ? ["--quick"] : [])],
    { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], maxBuffer: 16 * 1024 * 1024 })
  if (direct.status !== 0) throw new Error(`the direct benchmarks exited ${direct.status}`)
  for (const line of direct.stdout.split("\n")) if (line.startsWith("| ")) report(line)
} finally {
  rmSync(scratch, { recursive: true, force: true })
}

const cpu = cpus()[0]?.model ?? "unknown CPU"
const machine = `${cpu}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, ` +
  `${osType()} ${release()}, Node ${process.version}`
const table = ["| what | figure | goal |", "|---|---|---|", ...lines].join("\n")
writeFileSync(
  join(root, quick ? "bench/last-quick-run.md" : "BENCHMARKS.md"),
  `# skchat benchmarks

Measured by \`npm run bench\` (bench/run.ts) on ${new Date().toISOString().slice(0, 10)}.
Machine: ${machine}.

${table}

How each is measured is described in bench/run.ts and bench/crypto-bench.ts. Medians and percentiles are
over repeated runs in one process; the cold-start ratio compares medians of 21 interleaved runs of each
command. Seal/open: skchat and bare OpenPGP.js alternate op by op after a warm-up, and each figure is the
median over 11 rounds of that round's mean. Sealed sends run in a child process pinned to CPU 0 with
\`taskset\`. The rebuilds alternate between the two stores, each freshly opened, median of 5.

${readFileSync(join(root, "bench/notes.md"), "utf8")}`
)
console.log(`\nmachine: ${machine}`)
