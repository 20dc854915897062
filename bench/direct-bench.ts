/**
 * Issue #6's figures, between two real daemons (`skchat daemon start --foreground`) on 127.0.0.1 with host
 * candidates only: call set-up, message latency over the call's channel, and a file transfer against raw
 * node-datachannel between two processes in the same run. Always a process of its own: bench/run.ts starts it
 * as one, and `tsx bench/direct-bench.ts [--quick] [--only=setup,latency,file]` runs it alone; the table rows go
 * to stdout.
 */
import Database from "better-sqlite3"
import { Effect, ManagedRuntime } from "effect"
import { type ChildProcess, fork } from "node:child_process"
import { randomBytes } from "node:crypto"
import { closeSync, openSync, readdirSync, rmSync, watch, writeSync } from "node:fs"
import { join } from "node:path"
import { performance } from "node:perf_hooks"
import { fileURLToPath } from "node:url"
import type { LiveCall } from "../src/actors/call-manager.js"
import { ChatSystem } from "../src/actors/chat-system.js"
import { Courier } from "../src/actors/courier.js"
import type { TransferProgress } from "../src/actors/file-transfers.js"
import { askDaemon } from "../src/adapters/daemon-socket.js"
import { CHUNK_SIZE } from "../src/domain/file-attachment.js"
import { storeLayers } from "../src/entrypoints/store-layers.js"
import { type Chatter, makeChattingPair } from "../test/support/shared-folder.js"
import { startDaemon, stopDaemon } from "./transport-bench.js"

const root = fileURLToPath(new URL("..", import.meta.url))

type Report = (line: string) => void

const WARM_UP = 50

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!

const calls = async (who: Chatter) => ((await askDaemon(who.dataDir, "calls")) ?? []) as ReadonlyArray<LiveCall>

/** Polls `probe` every millisecond or so until it holds. */
const until = async (probe: () => Promise<boolean>, what: string, timeoutMs = 30_000) => {
  const deadline = Date.now() + timeoutMs
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(1)
  }
}

const connected = (who: Chatter) => async () => (await calls(who)).some((c) => c.state === "connected")
const idle = (who: Chatter) => async () => (await calls(who)).length === 0

/** Raw node-datachannel between two processes: seconds to move `bytes` (four channels, 64 KiB messages). */
const rawTransfer = async (bytes: number): Promise<number> => {
  const child = (role: string) =>
    fork(join(root, "bench/raw-datachannel-child.ts"), [role, String(bytes)], {
      execArgv: ["--import", "tsx"],
      stdio: ["ignore", "inherit", "inherit", "ipc"]
    })
  const sender = child("send")
  const receiver = child("receive")
  let started = 0
  const done = new Promise<number>((resolve) => {
    sender.on("message", (m: { sdp?: string; started?: number }) => {
      if (m.sdp !== undefined) receiver.send(m)
      if (m.started !== undefined) started = m.started
    })
    receiver.on("message", (m: { sdp?: string; done?: number }) => {
      if (m.sdp !== undefined) sender.send(m)
      if (m.done !== undefined) resolve(m.done)
    })
  })
  const end = await done
  await Promise.all([sender, receiver].map((c) => new Promise((r) => (c.exitCode !== null ? r(0) : c.once("exit", r)))))
  return (end - started) / 1000
}

const directBenchmarks = async (options: {
  readonly quick: boolean
  readonly report: Report
  /** Only these parts (a standalone run while tuning one). */
  readonly only?: ReadonlyArray<"setup" | "latency" | "file">
}) => {
  const { quick, report } = options
  const runs = (part: "setup" | "latency" | "file") => options.only === undefined || options.only.includes(part)
  const pair = await makeChattingPair("  webrtc:\n    bind_address: 127.0.0.1\n    auto_accept: true\n")
  const daemons: Array<ChildProcess> = []
  const alice = ManagedRuntime.make(storeLayers(pair.alice.env).mail)
  let bobDb: Database.Database | undefined
  try {
    for (const who of [pair.alice, pair.bob]) daemons.push((await startDaemon(who.env, who.dataDir, ["-i", "5"])).child)

    // 1. Call set-up: from asking alice's daemon to call until it reports the call connected.
    const setups: Array<number> = []
    const rounds = !runs("setup") ? 0 : quick ? 10 : 40
    for (let i = 0; i < rounds + 2 && rounds > 0; i++) {
      const t0 = performance.now()
      await askDaemon(pair.alice.dataDir, `call ${pair.bob.uri}`)
      await until(connected(pair.alice), "the call to connect")
      const ms = performance.now() - t0
      if (i >= 2) setups.push(ms) // two warm-ups: keys unlocked, node-datachannel loaded on both sides
      await askDaemon(pair.alice.dataDir, `call-hangup ${pair.bob.uri}`)
      await until(async () => (await idle(pair.alice)()) && (await idle(pair.bob)()), "the call to end")
      await sleep(20)
    }
    setups.sort((a, b) => a - b)
    if (rounds > 0) report(`| direct call set-up between two daemons on 127.0.0.1, from \`call\` to connected (${rounds} calls; ` +
      `offer and answer as sealed envelopes over the file transport, bob auto-accepting) | p50 ` +
      `${percentile(setups, 0.5).toFixed(0)} ms, p95 ${percentile(setups, 0.95).toFixed(0)} ms | p50 ≤ 100 ms |`)

    // 2. Message latency over the call, at a steady 10 messages/s as for the file transport (bench/transport-
    // bench.ts). Alice's process seals and stores each message (as `skchat send` does), then delivers it: her
    // daemon sends the sealed envelope over the channel, bob's daemon opens, verifies and commits it and
    // acknowledges, and alice records it sent. The latency is one way: from alice's delivery starting until
    // the message is in bob's store. The round trip (until alice has recorded the acknowledgement) and the
    // same with sealing and storing first are reported beside it.
    await askDaemon(pair.alice.dataDir, `call ${pair.bob.uri}`)
    await until(connected(pair.alice), "the call to connect")
    const chat = await alice.runPromise(ChatSystem)
    const courier = await alice.runPromise(Courier)
    // Alice's process finds the call in the log, which her daemon writes a moment after it reports the call
    // connected: a message sent in between goes by file, as it should.
    await until(async () => chat.direct.openCallWith(pair.bob.uri)?.state === "connected", "the log to show the call")
    // Warm-up: both daemons' receive paths compiled (the set-up rounds alone do not exercise them).
    for (let i = 0; i < WARM_UP; i++) {
      const r = await alice.runPromise(chat.send({ recipient: pair.bob.uri, content: `warm-up ${i}` }))
      await alice.runPromise(courier.deliverSoon(r.message.id))
    }
    const n = !runs("latency") ? 0 : quick ? 100 : 300
    const oneWay: Array<number> = []
    const roundTrip: Array<number> = []
    const endToEnd: Array<number> = []
    // Bob's store, followed from here as a reader of it would (the MCP server's follower does the same): every
    // commit of bob's daemon writes its WAL, and each change is looked at for the message on its way.
    bobDb = new Database(join(pair.bob.dataDir, "memory", "skchat.db"), { readonly: true })
    const inBobsStore = bobDb.prepare("SELECT 1 FROM events WHERE message_id = ?").pluck()
    let awaited: { readonly id: string; readonly seen: (at: number) => void } | undefined
    // The last WAL write of a commit can be seen a moment before the commit is (SQLite publishes it in the
    // shared-memory index after the write): a change that shows nothing yet is looked at again on the next
    // few turns of the event loop, rather than only at the next change, which may be much later.
    const look = (turns = 20) => {
      if (awaited === undefined) return
      if (inBobsStore.get(awaited.id) !== undefined) {
        awaited.seen(performance.now())
        awaited = undefined
      } else if (turns > 0) setImmediate(() => look(turns - 1))
    }
    const follower = watch(join(pair.bob.dataDir, "memory"), () => look())
    const start = performance.now()
    try {
      for (let i = 0; i < n; i++) {
        const wait = start + i * 100 - performance.now()
        if (wait > 0) await sleep(wait)
        const t0 = performance.now()
        const r = await alice.runPromise(chat.send({ recipient: pair.bob.uri, content: `latency ${i}` }))
        const committed = new Promise<number>((seen) => (awaited = { id: r.message.id, seen }))
        const t1 = performance.now()
        await alice.runPromise(courier.deliverSoon(r.message.id))
        const t2 = performance.now()
        // Bob's daemon commits before it acknowledges: by now the message is in his store, seen or not.
        look(0)
        oneWay.push((await committed) - t1)
        roundTrip.push(t2 - t1)
        endToEnd.push(t2 - t0)
      }
    } finally {
      follower.close()
    }
    for (const figures of [oneWay, roundTrip, endToEnd]) figures.sort((a, b) => a - b)
    const db = new Database(join(pair.alice.dataDir, "memory", "skchat.db"), { readonly: true })
    const direct = db.prepare(`SELECT count(*) FROM events WHERE type = 'MessageSent' AND data ->> '$.transport' = 'direct'`)
      .pluck().get() as number
    db.close()
    const arrived = bobDb.prepare("SELECT count(*) FROM messages WHERE direction = 'in'").pluck().get() as number
    const p50p95 = (figures: ReadonlyArray<number>) =>
      `p50 ${percentile(figures, 0.5).toFixed(1)} ms, p95 ${percentile(figures, 0.95).toFixed(1)} ms`
    if (n > 0) report(`| message latency over the call, sealed envelope, one way: from alice's process delivering the stored, sealed ` +
      `message (through her daemon), across the channel, until bob's daemon has opened, verified and committed it (seen in his store by a ` +
      `reader following it; ${n} messages at 10/s; ${direct} of ${n + WARM_UP} went direct, ${arrived} in bob's store). ` +
      `The round trip until alice has recorded bob's acknowledgement: ${p50p95(roundTrip)}; with sealing and storing ` +
      `first: ${p50p95(endToEnd)} | ${p50p95(oneWay)} | p95 ≤ 10 ms |`)

    // 3. A file over the call (sealed chunks, sha256 checked by the receiver), against raw node-datachannel
    // between two processes moving as many bytes the same way, in the same run.
    if (!runs("file")) return
    const bytes = (quick ? 64 : 256) * 1024 * 1024
    const file = join(pair.alice.home, "big.bin")
    const fd = openSync(file, "w")
    const block = randomBytes(4 * 1024 * 1024)
    for (let at = 0; at < bytes; at += block.byteLength) writeSync(fd, block)
    closeSync(fd)
    const mib = bytes / 2 ** 20
    /** Seconds from asking alice's daemon to send the file until it reports bob's sha256 check. */
    const ourTransfer = async () => {
      const t0 = performance.now()
      const started = await askDaemon(pair.alice.dataDir,
        `send-file ${JSON.stringify({ peer: pair.bob.uri, path: file })}`, 600_000) as TransferProgress
      let p = started
      while (p.state !== "completed" && p.state !== "failed") {
        // Asked now and then, as `send-file` does: asking costs the sending daemon's thread (at most 25 ms late).
        await sleep(25)
        p = await askDaemon(pair.alice.dataDir, `transfer ${started.transfer_id}`) as TransferProgress
      }
      const seconds = (performance.now() - t0) / 1000
      if (p.state !== "completed") throw new Error(`the transfer failed: ${p.reason}`)
      // Bob's copy is checked; it goes, so that the rounds do not fill the disk.
      const received = join(pair.bob.dataDir, "files")
      for (const name of readdirSync(received)) if (!name.startsWith(".")) rmSync(join(received, name))
      return seconds
    }
    // Raw and ours take turns, and the ratio is the median of the rounds': on two shared cores a single
    // transfer of either moves by 10-15% from one run to the next.
    const transfers: Array<{ readonly raw: number; readonly ours: number }> = []
    for (let i = 0; i < (quick ? 1 : 3); i++) transfers.push({ raw: await rawTransfer(bytes), ours: await ourTransfer() })
    const middle = [...transfers].sort((a, b) => a.raw / a.ours - b.raw / b.ours)[Math.floor(transfers.length / 2)]!
    const each = transfers.map((r) => `${r.ours.toFixed(2)} s against ${r.raw.toFixed(2)} s, ${(r.raw / r.ours).toFixed(2)}×`).join("; ")
    report(`| ${mib} MiB file over the call: hashed, offered in a sealed message, ${CHUNK_SIZE / 1024} KiB chunks sealed (AES-256-GCM) ` +
      `over 4 channels, written and sha256-checked by bob, against raw node-datachannel between two processes, same 4 ` +
      `channels, 64 KiB messages; ${transfers.length === 1 ? "one round" : `median of ${transfers.length} rounds, raw and ours in turn`} ` +
      `(${each}; the median round: ${(mib / middle.ours).toFixed(0)} MiB/s against ${(mib / middle.raw).toFixed(0)} MiB/s) | ` +
      `${(middle.raw / middle.ours).toFixed(2)}× raw | ≥ 0.8× |`)
    rmSync(file, { force: true })
  } finally {
    bobDb?.close()
    await alice.dispose()
    for (const d of daemons) await stopDaemon(d)
    pair.remove()
  }
}

const only = process.argv.find((a) => a.startsWith("--only="))?.slice("--only=".length).split(",")
await directBenchmarks({
  quick: process.argv.includes("--quick"),
  report: console.log,
  ...(only === undefined ? {} : { only: only as Array<"setup" | "latency" | "file"> })
})
