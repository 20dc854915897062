/**
 * The figures of issue #3, called from bench/run.ts (and run as its own child process for the one-core
 * send measurement):
 *   1. seal / open per message through skchat's envelope codec, against bare OpenPGP.js in the same run;
 *   2. sealed sends per second through ChatSystem into the log, pinned to one core;
 *   3. rebuild of a log of received sealed messages (no decryption) against a plaintext log of the same size.
 * Everything runs in temp dirs; nothing touches the real home or the network.
 */
import Database from "better-sqlite3"
import { Effect, Either, ManagedRuntime } from "effect"
import { spawnSync } from "node:child_process"
import { createHash } from "node:crypto"
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { availableParallelism } from "node:os"
import { join } from "node:path"
import { performance } from "node:perf_hooks"
import { fileURLToPath } from "node:url"
import * as openpgp from "openpgp"
import { ChatSystem, DEFAULT_MAX_ENVELOPE_BYTES } from "../src/actors/chat-system.js"
import { makeContentVault } from "../src/adapters/content-vault.js"
import { openEnvelope, type OpenContext, sealEnvelope } from "../src/adapters/envelope-codec.js"
import { makeEventLog } from "../src/adapters/event-log.js"
import {
  decryptions,
  generateKeyPair,
  type GeneratedKeys,
  type OwnKey,
  type PeerKey,
  readPeerKey,
  readPrivateKey,
  unlockKey
} from "../src/adapters/openpgp-crypto.js"
import { SqliteDatabase } from "../src/adapters/sqlite-database.js"
import type { ChatEvent } from "../src/domain/chat-event.js"
import { ChatMessage } from "../src/domain/chat-message.js"
import { uuidv7 } from "../src/domain/message-id.js"
import { type MessageRecord, recordOf } from "../src/domain/message-record.js"
import { isoFromMillis, timestampMillis } from "../src/domain/timestamp.js"
import { historyLayer } from "../src/entrypoints/chat-history.js"
import { makeProjector } from "../src/projections/projector.js"
import { installIdentity, registerPeer } from "../test/support/identities.js"
import { syntheticMessage } from "./message-fixture.js"

const here = fileURLToPath(import.meta.url)
const root = fileURLToPath(new URL("..", import.meta.url))

const median = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}
const fmt = (n: number) => Math.round(n).toLocaleString("en-US")

/** A plain-ASCII body of exactly `size` bytes (words, so nothing in it needs JSON escaping). */
const bodyOf = (size: number) => {
  const words = "the quick brown fox jumps over the lazy dog while sealed chat messages go by ".repeat(
    Math.ceil(size / 70) + 1
  )
  return words.slice(0, size)
}

// ---------------------------------------------------------------------------------------------------
// Temp homes with an identity and registered peers, written as `skchat init` and skcapstone write them
// (test/support/identities.ts, shared with the tests).

interface Home {
  readonly home: string
  readonly dataDir: string
  readonly uri: string
}

/** A text message with every optional field at its default, to be sealed. */
const plainMessage = (sender: string, recipient: string, content: string, now: number) =>
  new ChatMessage({
    id: uuidv7(now),
    sender,
    recipient,
    content,
    content_type: "text/plain",
    timestamp: isoFromMillis(now),
    thread_id: null,
    reply_to_id: null,
    ttl: null,
    delivery_status: "pending",
    encrypted: true,
    metadata: {},
    attachments: []
  })

const makeHome = (dir: string, uri: string): Home => {
  mkdirSync(dir, { recursive: true })
  return { home: dir, dataDir: join(dir, ".skchat"), uri }
}

const openStore = (home: Home) => ManagedRuntime.make(historyLayer({ home: home.home, dataDir: home.dataDir }))

const ownKey = async (keys: GeneratedKeys): Promise<OwnKey> =>
  Either.getOrThrow(await unlockKey(await readPrivateKey(keys.armoredPrivate), undefined))
const peerKey = async (keys: GeneratedKeys): Promise<PeerKey> => Either.getOrThrow(await readPeerKey(keys.armoredPublic))

const ME = "capauth:bench@localhost"
const ALICE = "capauth:alice@skworld.io"
const BOB = "capauth:bob@skworld.io"

// ---------------------------------------------------------------------------------------------------
// 1. Seal and open per message: skchat's codec against bare OpenPGP.js, interleaved.

/**
 * Runs `a` and `b` alternately (ABBA over the ops of a round, so neither always goes first, and a GC
 * pause or JIT tier-up lands on both sides alike), after `warmup` ops of each. Returns the median over
 * `rounds` of each variant's mean ms per op in that round.
 */
const interleaved = async (
  a: (i: number) => Promise<unknown>,
  b: (i: number) => Promise<unknown>,
  opts: { readonly warmup: number; readonly rounds: number; readonly perRound: number }
) => {
  for (let i = 0; i < opts.warmup; i++) {
    await a(i)
    await b(i)
  }
  const as: Array<number> = []
  const bs: Array<number> = []
  let n = 0
  for (let r = 0; r < opts.rounds; r++) {
    let sa = 0
    let sb = 0
    for (let i = 0; i < opts.perRound; i++, n++) {
      const aFirst = (i + r) % 2 === 0
      for (const first of aFirst ? [true, false] : [false, true]) {
        const t0 = performance.now()
        await (first ? a(n) : b(n))
        const dt = performance.now() - t0
        if (first) sa += dt
        else sb += dt
      }
    }
    as.push(sa / opts.perRound)
    bs.push(sb / opts.perRound)
  }
  return { a: median(as), b: median(bs) }
}

export const sealOpen = async (quick: boolean, report: (line: string) => void) => {
  const [aliceKeys, meKeys] = await Promise.all([
    generateKeyPair({ name: "alice", email: "alice@skworld.io" }, undefined),
    generateKeyPair({ name: "bench", email: "bench@localhost" }, undefined)
  ])
  const alice = await ownKey(aliceKeys)
  const me = await ownKey(meKeys)
  const alicePeer = await peerKey(aliceKeys)
  const mePeer = await peerKey(meKeys)
  const CONFIG = { aeadProtect: false }
  const utf8 = new TextEncoder()

  for (const size of [200, 64 * 1024]) {
    const small = size <= 1024
    const label = small ? `${size}-byte body` : `${size / 1024} KiB body`
    const content = bodyOf(size)
    const bytes = utf8.encode(content)
    const now = Date.now()
    const message = plainMessage(ALICE, ME, content, now)
    const ctx: OpenContext = {
      me,
      myUri: ME,
      maxBytes: DEFAULT_MAX_ENVELOPE_BYTES,
      acceptUnsigned: false,
      now,
      seen: () => undefined,
      senderKey: async () => Either.right(alicePeer)
    }

    // skchat seal vs openpgp.encrypt: same signing key, same two encryption keys, armored, no AEAD.
    const sealSkchat = () => sealEnvelope(message, alice, mePeer, uuidv7(Date.now()))
    const sealBare = async () =>
      openpgp.encrypt({
        message: await openpgp.createMessage({ binary: bytes }),
        encryptionKeys: [mePeer.key, alice.publicKey],
        signingKeys: alice.privateKey,
        format: "armored",
        config: CONFIG
      })
    const plan = quick
      ? { warmup: small ? 30 : 15, rounds: 5, perRound: small ? 30 : 15 }
      : { warmup: small ? 100 : 30, rounds: 11, perRound: small ? 100 : 30 }
    const seal = await interleaved(sealSkchat, sealBare, plan)

    // A pool of distinct messages of each kind to open, cycled.
    const pool = 16
    const envelopes: Array<Uint8Array> = []
    const bare: Array<string> = []
    for (let i = 0; i < pool; i++) {
      envelopes.push(utf8.encode((await sealSkchat()).text))
      bare.push(await sealBare())
    }
    const openSkchat = async (i: number) => {
      const opened = await openEnvelope(envelopes[i % pool]!, ctx)
      if (opened._tag !== "Opened" || !opened.verified) throw new Error(`bench envelope refused: ${JSON.stringify(opened)}`)
    }
    const openBare = async (i: number) =>
      openpgp.decrypt({
        message: await openpgp.readMessage({ armoredMessage: bare[i % pool]! }),
        decryptionKeys: me.privateKey,
        verificationKeys: alicePeer.key,
        expectSigned: true,
        format: "binary",
        config: CONFIG
      })
    const open = await interleaved(openSkchat, openBare, plan)

    for (const [what, r] of [["seal (sign + encrypt)", seal], ["open (decrypt + verify)", open]] as const) {
      report(
        `| ${what}, ${label} | skchat ${r.a.toFixed(2)} ms vs bare OpenPGP.js ${r.b.toFixed(2)} ms = ` +
          `${(r.a / r.b).toFixed(2)}× | ≤ 1.2× |`
      )
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// 2. Sealed sends per second through ChatSystem, in a child process pinned to one core.

interface SendsResult {
  readonly sends: number
  readonly seconds: number
  readonly p50: number
  /** Mean ms per op, on the same core after the sends: sealEnvelope alone, and bare openpgp.encrypt. */
  readonly sealOnly: number
  readonly bareEncrypt: number
  readonly parallelism: number
  readonly cpusAllowed: string
  readonly concurrentSeconds: number
}

const IN_FLIGHT = 16

/**
 * The child: N sequential ChatSystem.send calls on a provisioned store, then, for scale, sealEnvelope alone
 * and bare openpgp.encrypt (same keys) interleaved.
 */
const sendsChild = async (homeDir: string, count: number, warmup: number): Promise<SendsResult> => {
  const home = makeHome(homeDir, ME)
  const runtime = openStore(home)
  const chat = await runtime.runPromise(ChatSystem)
  const content = bodyOf(200)
  const send = () => runtime.runPromise(chat.send({ recipient: BOB, content }))
  // OpenPGP.js, Effect and XState take a few thousand sends to reach steady state (a daemon or MCP server
  // is long-lived); a short warm-up measured a third less.
  for (let i = 0; i < warmup; i++) await send()
  const times: Array<number> = []
  const t = performance.now()
  for (let i = 0; i < count; i++) {
    const t0 = performance.now()
    await send()
    times.push(performance.now() - t0)
  }
  const seconds = (performance.now() - t) / 1000
  // The same with 16 sends in flight (an agent or daemon with several to send): the crypto of one
  // overlaps the round trips to the WebCrypto thread of another; each still commits on its own.
  const t1 = performance.now()
  for (let i = 0; i < count; i += IN_FLIGHT) await Promise.all(Array.from({ length: IN_FLIGHT }, send))
  const concurrentSeconds = (performance.now() - t1) / 1000
  await runtime.dispose()

  const me = await ownKey(JSON.parse(readFileSync(join(homeDir, "keys.json"), "utf8")) as GeneratedKeys)
  const bob = await peerKey(JSON.parse(readFileSync(join(homeDir, "bob.json"), "utf8")) as GeneratedKeys)
  const now = Date.now()
  const message = plainMessage(ME, BOB, content, now)
  const bytes = new TextEncoder().encode(content)
  const crypto = await interleaved(
    () => sealEnvelope(message, me, bob, uuidv7(Date.now())),
    async () =>
      openpgp.encrypt({
        message: await openpgp.createMessage({ binary: bytes }),
        encryptionKeys: [bob.key, me.publicKey],
        signingKeys: me.privateKey,
        format: "armored",
        config: { aeadProtect: false }
      }),
    { warmup: 50, rounds: 5, perRound: Math.max(20, Math.floor(count / 30)) }
  )
  let cpusAllowed = "unknown"
  try {
    cpusAllowed = /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync("/proc/self/status", "utf8"))?.[1] ?? "unknown"
  } catch {
    // not Linux
  }
  return {
    sends: count,
    seconds,
    concurrentSeconds,
    p50: median(times),
    sealOnly: crypto.a,
    bareEncrypt: crypto.b,
    parallelism: availableParallelism(),
    cpusAllowed
  }
}

export const sealedSends = async (quick: boolean, scratch: string, report: (line: string) => void) => {
  const dir = join(scratch, "sends")
  const home = makeHome(dir, ME)
  const [meKeys, bobKeys] = await Promise.all([
    generateKeyPair({ name: "bench", email: "bench@localhost" }, undefined),
    generateKeyPair({ name: "bob", email: "bob@skworld.io" }, undefined)
  ])
  await installIdentity(home, "bench", home.uri, { keys: meKeys })
  await registerPeer(home, "bob", BOB, bobKeys)
  writeFileSync(join(dir, "keys.json"), JSON.stringify(meKeys))
  writeFileSync(join(dir, "bob.json"), JSON.stringify(bobKeys))
  const count = quick ? 320 : 3008
  const warmup = quick ? 300 : 3000
  // SKCHAT_BENCH_PROFILE=<dir> writes a V8 CPU profile of the child there (bench/notes.md).
  const profile = process.env["SKCHAT_BENCH_PROFILE"]
  const node = [
    process.execPath,
    ...(profile ? ["--cpu-prof", `--cpu-prof-dir=${profile}`] : []),
    "--import",
    "tsx",
    here,
    "--sends-child",
    dir,
    String(count),
    String(warmup)
  ]
  // The whole child, its libuv pool (where WebCrypto runs) and V8's helper threads, on CPU 0.
  const pinned = spawnSync("taskset", ["-c", "0", "true"]).status === 0
  const [cmd, ...args] = pinned ? ["taskset", "-c", "0", ...node] : node
  const r = spawnSync(cmd!, args, { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] })
  if (r.status !== 0) throw new Error(`the send benchmark child exited ${r.status}`)
  const result = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as SendsResult
  const rate = result.sends / result.seconds
  const where = pinned
    ? `one core (taskset -c 0: the child saw CPUs ${result.cpusAllowed}, availableParallelism ${result.parallelism})`
    : `NOT pinned (no taskset here; availableParallelism ${result.parallelism})`
  report(
    `| sealed sends through ChatSystem into the log, 200-byte bodies, ${fmt(result.sends)} sequential, ${where} | ` +
      `${fmt(rate)} messages/s (mean ${(1000 * result.seconds / result.sends).toFixed(2)} ms, p50 ` +
      `${result.p50.toFixed(2)} ms per send; on that core sealEnvelope alone ${result.sealOnly.toFixed(2)} ms = ` +
      `${fmt(1000 / result.sealOnly)}/s, bare openpgp.encrypt ${result.bareEncrypt.toFixed(2)} ms = ` +
      `${fmt(1000 / result.bareEncrypt)}/s) | ≥ 500/s |`
  )
  report(
    `| the same with ${IN_FLIGHT} sends in flight, ${where} | ` +
      `${fmt(result.sends / result.concurrentSeconds)} messages/s | ≥ 500/s |`
  )
}

// ---------------------------------------------------------------------------------------------------
// 3. Rebuild of a log of received sealed messages against a plaintext log of the same size.

/** Message `i` of the received stores: the synthetic fixture's text and threads, from alice to us. */
const receivedMessage = (i: number, encrypted: boolean): ChatMessage => {
  const m = syntheticMessage(i)
  return new ChatMessage({ ...m, sender: ALICE, recipient: ME, delivery_status: "pending", encrypted }, true)
}

/** What ChatSystem logs for a message (these have no TTL, so the body is always plain). */
const loggedRecord = (m: ChatMessage): MessageRecord =>
  recordOf(m, () => {
    throw new Error("bench messages have no TTL")
  })

const storeFile = (home: Home) => join(home.dataDir, "memory", "skchat.db")

/** Keys of each top-level member and of the message record, to hold real and bulk events to one shape. */
const shapeOf = (data: string) => {
  const d = JSON.parse(data) as Record<string, unknown>
  return `${Object.keys(d).sort().join(",")} / ${Object.keys(d["message"] as object).sort().join(",")}`
}

export const rebuildSealed = async (quick: boolean, scratch: string, report: (line: string) => void) => {
  const total = quick ? 20_000 : 100_000
  const real = quick ? 500 : 3000
  const batch = 5000
  const [meKeys, aliceKeys] = await Promise.all([
    generateKeyPair({ name: "bench", email: "bench@localhost" }, undefined),
    generateKeyPair({ name: "alice", email: "alice@skworld.io" }, undefined)
  ])
  const alice = await ownKey(aliceKeys)
  const mePeer = await peerKey(meKeys)

  // The sealed store: `real` envelopes sealed by alice and opened by ChatSystem.receive, for real.
  const sealedHome = makeHome(join(scratch, "rebuild-sealed"), ME)
  await installIdentity(sealedHome, "bench", sealedHome.uri, { keys: meKeys })
  await registerPeer(sealedHome, "alice", ALICE, aliceKeys)
  let t = performance.now()
  const decryptedBefore = decryptions()
  {
    const runtime = openStore(sealedHome)
    const chat = await runtime.runPromise(ChatSystem)
    const utf8 = new TextEncoder()
    for (let start = 0; start < real; start += 250) {
      const raws: Array<Uint8Array> = []
      for (let i = start; i < Math.min(real, start + 250); i++) {
        const m = receivedMessage(i, true)
        raws.push(utf8.encode((await sealEnvelope(m, alice, mePeer, uuidv7(timestampMillis(m.timestamp)))).text))
      }
      const outcomes = await runtime.runPromise(chat.receive(raws))
      const refused = outcomes.find((o) => o.status !== "accepted" || !o.verified)
      if (refused !== undefined) throw new Error(`a bench envelope was not accepted: ${JSON.stringify(refused)}`)
    }
    await runtime.dispose()
  }
  const realSeconds = (performance.now() - t) / 1000
  // The counter sees ChatSystem's decryptions (same module instance): one per real envelope.
  const realDecryptions = decryptions() - decryptedBefore
  if (realDecryptions !== real) throw new Error(`${real} envelopes received, ${realDecryptions} decryptions counted`)

  // The rest: MessageReceived events of the same shape (verified, envelope_id, signer, payload hash), appended through the
  // event log and the live projector in 5,000-event transactions, as ChatSystem's commit does.
  t = performance.now()
  const signer = alice.fingerprint
  await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const { db } = yield* SqliteDatabase.open(storeFile(sealedHome))
    const log = makeEventLog(db)
    const vault = makeContentVault(db)
    const projector = makeProjector(db, { openBody: vault.open })
    for (let start = real; start < total; start += batch) {
      const now = Date.now()
      const events: Array<ChatEvent> = []
      for (let i = start; i < Math.min(total, start + batch); i++) {
        const m = receivedMessage(i, true)
        const ts = timestampMillis(m.timestamp)
        events.push({
          _tag: "MessageReceived",
          v: 1,
          message: loggedRecord(m),
          ts,
          verified: true,
          envelope_id: uuidv7(ts),
          signer,
          payload_digest: createHash("sha256").update(`payload ${i}`).digest("hex")
        })
      }
      db.transaction(() => projector.apply(log.append(events, now))).immediate()
    }
  })))
  const bulkSeconds = (performance.now() - t) / 1000

  // The plaintext store: the same messages, unencrypted, recorded with recordAll (MessageReceived, verified
  // false), and alice pinned too, so both logs hold the same events but for the seal fields.
  const plainHome = makeHome(join(scratch, "rebuild-plain"), ME)
  await installIdentity(plainHome, "bench", plainHome.uri, { keys: meKeys })
  await registerPeer(plainHome, "alice", ALICE, aliceKeys)
  {
    const runtime = openStore(plainHome)
    const chat = await runtime.runPromise(ChatSystem)
    await runtime.runPromise(chat.addPeer({ uri: ALICE, name: "alice", fingerprint: alice.fingerprint }))
    for (let start = 0; start < total; start += batch) {
      const messages: Array<ChatMessage> = []
      for (let i = start; i < Math.min(total, start + batch); i++) messages.push(receivedMessage(i, false))
      await runtime.runPromise(chat.recordAll(messages))
    }
    await runtime.dispose()
  }

  // Both logs checked: event counts and shapes, real and bulk sealed events alike.
  const inspect = (home: Home) => {
    const db = new Database(storeFile(home), { readonly: true })
    try {
      const types = db.prepare("SELECT type, count(*) AS n FROM events GROUP BY type ORDER BY type").all() as Array<
        { type: string; n: number }
      >
      // The shapes of the first and the last 100 received messages (in and out of threads alike).
      const shapes = (order: string) =>
        [...new Set((db.prepare(`SELECT data FROM events WHERE type = 'MessageReceived' ORDER BY seq ${order} LIMIT 100`)
          .pluck().all() as Array<string>).map(shapeOf))].sort().join("\n")
      const first = shapes("ASC")
      const last = shapes("DESC")
      const counts = db.prepare("SELECT count(*) AS n, sum(verified) AS verified FROM messages").get() as {
        n: number
        verified: number
      }
      return { types: types.map((r) => `${r.type} ${r.n}`).join(", "), first, last, counts }
    } finally {
      db.close()
    }
  }
  const sealedLog = inspect(sealedHome)
  const plainLog = inspect(plainHome)
  if (sealedLog.first !== sealedLog.last) {
    throw new Error(`bulk events differ in shape from received ones:\n${sealedLog.first}\n${sealedLog.last}`)
  }
  if (sealedLog.types !== plainLog.types) throw new Error(`logs differ: ${sealedLog.types} vs ${plainLog.types}`)

  // Rebuilds, alternating stores (and which goes first), each on a freshly opened store.
  const rounds = quick ? 3 : 5
  const sealedTimes: Array<number> = []
  const plainTimes: Array<number> = []
  let decryptedDuringRebuild = 0
  const rebuild = async (home: Home, sealed: boolean) => {
    const runtime = openStore(home)
    const chat = await runtime.runPromise(ChatSystem)
    const before = decryptions()
    const t0 = performance.now()
    const events = await runtime.runPromise(chat.rebuild())
    const dt = (performance.now() - t0) / 1000
    if (sealed) decryptedDuringRebuild += decryptions() - before
    await runtime.dispose()
    ;(sealed ? sealedTimes : plainTimes).push(dt)
    return events
  }
  await rebuild(sealedHome, true)
  await rebuild(plainHome, false)
  sealedTimes.length = 0
  plainTimes.length = 0
  let events = 0
  for (let r = 0; r < rounds; r++) {
    for (const sealed of r % 2 === 0 ? [true, false] : [false, true]) events = await rebuild(sealed ? sealedHome : plainHome, sealed)
  }
  const after = inspect(sealedHome)
  if (after.counts.n !== total || after.counts.verified !== total) {
    throw new Error(`the sealed store rebuilt to ${after.counts.n} messages, ${after.counts.verified} verified`)
  }
  const s = median(sealedTimes)
  const p = median(plainTimes)
  report(
    `| rebuild, ${fmt(total)} received sealed messages (${fmt(events)}-event log; ${decryptedDuringRebuild} ` +
      `decryptions in ${rounds + 1} rebuilds) | ${s.toFixed(2)} s vs plaintext log ${p.toFixed(2)} s = ` +
      `${(s / p).toFixed(2)}× | ≤ 1.5×, 0 decryptions |`
  )
  report(
    `| (that log: ${fmt(real)} envelopes sealed and received for real in ${realSeconds.toFixed(1)} s, ` +
      `${fmt(realDecryptions)} decryptions counted; ` +
      `${fmt(total - real)} same-shape events appended in ${bulkSeconds.toFixed(1)} s) | | |`
  )
  if (decryptedDuringRebuild !== 0) throw new Error(`a rebuild decrypted ${decryptedDuringRebuild} messages`)
}

export const cryptoBenchmarks = async (options: {
  readonly quick: boolean
  readonly scratch: string
  readonly report: (line: string) => void
}) => {
  await sealOpen(options.quick, options.report)
  await sealedSends(options.quick, options.scratch, options.report)
  await rebuildSealed(options.quick, options.scratch, options.report)
}

if (process.argv[1] === here && process.argv[2] === "--sends-child") {
  const [dir, count, warmup] = process.argv.slice(3)
  const result = await sendsChild(dir!, Number(count), Number(warmup))
  console.log(JSON.stringify(result))
}
