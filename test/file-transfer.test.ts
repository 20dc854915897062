import { createHash, randomBytes } from "node:crypto"
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import type { TransferProgress } from "../src/actors/file-transfers.js"
import { encodeChunkFile, sealChunk } from "../src/adapters/file-chunk.js"
import { writeEnvelopeFile } from "../src/adapters/folder-mailbox.js"
import { CHUNK_SIZE, FILE_ATTACHMENT_TYPE } from "../src/domain/file-attachment.js"
import type { TransferView } from "../src/projections/direct-queries.js"
import { uuidv7 } from "../src/domain/message-id.js"
import { openHistory } from "../src/index.js"
import { waitFor } from "./support/cli-wait.js"
import { cleanUpPairs, daemonLogOf, oneErrorLine, startDaemonOf } from "./support/daemon-pair.js"
import { DaemonReaper, daemonStatus, eventually, isAlive, waitGone } from "./support/daemon-process.js"
import { type ChattingPair, type Chatter, makeChattingPair } from "./support/shared-folder.js"
import { filesUnder, runCli } from "./support/temp-home.js"

/**
 * File transfer (issue #6) as a user makes it: `skchat send-file` and `skchat transfers` of the built CLI,
 * with real `skchat daemon` processes (alice's and bob's, each with its own data dir) connecting a WebRTC
 * call (node-datachannel) on 127.0.0.1 for the direct route, and a file transport over a shared folder for
 * the fallback (sealed chunk files). Every daemon is stopped in afterEach, which fails if any process is
 * left. Nothing here measures time: it waits (generously) for what must happen, and checks bytes by sha256.
 */

const reaper = new DaemonReaper()
const pairs: Array<ChattingPair> = []

afterEach(async ({ task }) => {
  await cleanUpPairs(reaper, pairs, task.result?.state === "fail")
})

/** Calls stay on the loopback address and are answered at once on both sides. */
const WEBRTC = "  webrtc:\n    bind_address: 127.0.0.1\n    auto_accept: true\n"

const newPair = async () => {
  const pair = await makeChattingPair(WEBRTC)
  pairs.push(pair)
  return pair
}

const startDaemon = (who: Chatter) => startDaemonOf(reaper, who)
const logOf = daemonLogOf
const oneLine = oneErrorLine

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex")
const sha256Of = (path: string) => sha256(readFileSync(path))

/** A file of random bytes under `who`'s home (in `sub`, if given); its path and sha256. */
const randomFile = (who: Chatter, name: string, size: number, sub = "outgoing") => {
  const dir = join(who.home, sub)
  mkdirSync(dir, { recursive: true })
  const path = join(dir, name)
  const bytes = randomBytes(size)
  writeFileSync(path, bytes)
  return { path, size, sha256: sha256(bytes) }
}

const CHUNK = CHUNK_SIZE

/** Base64 sealed bytes with one byte in the middle flipped. */
const flipByte = (base64: string): string => {
  const bytes = Buffer.from(base64, "base64")
  bytes[bytes.length >> 1]! ^= 0x01
  return bytes.toString("base64")
}

type Progress = TransferProgress

/** `skchat send-file PEER PATH --json ...`: its answer (and its stderr, which must be empty on a pipe). */
const sendFile = async (from: Chatter, to: string, path: string, more: ReadonlyArray<string> = []): Promise<Progress> => {
  const r = await runCli(["send-file", to, path, "--json", ...more], from.env)
  expect(r.code, `send-file ${to} ${path}: ${r.stderr}`).toBe(0)
  // No progress bar on a pipe.
  expect(r.stderr).toBe("")
  return JSON.parse(r.stdout) as Progress
}


const transfersOf = async (who: Chatter): Promise<Array<TransferView>> => {
  const r = await runCli(["transfers", "--json", "-n", "1000"], who.env)
  expect(r.code, r.stderr).toBe(0)
  return JSON.parse(r.stdout) as Array<TransferView>
}

/** The transfer `id` on `who`'s side once it is in `state`. */
const transferReaches = async (who: Chatter, id: string, state: TransferView["state"], timeoutMs = 120_000) => {
  const rows = await waitFor(() => transfersOf(who), (ts) => ts.some((t) => t.transfer_id === id && t.state === state),
    { what: `${who.name}: transfer ${id} to be ${state}`, timeoutMs, intervalMs: 250 })
  return rows.find((t) => t.transfer_id === id)!
}

interface InboxMessage {
  readonly id: string
  readonly sender: string
  readonly content: string
  readonly verified: boolean
  readonly attachments: ReadonlyArray<Record<string, unknown>>
}

const inboxOf = async (who: Chatter): Promise<Array<InboxMessage>> => {
  const r = await runCli(["inbox", "--json", "-n", "1000"], who.env)
  expect(r.code, r.stderr).toBe(0)
  return JSON.parse(r.stdout) as Array<InboxMessage>
}

/** `skchat receive --json` on a side without a daemon. */
const receive = async (who: Chatter) => {
  const r = await runCli(["receive", "--json"], who.env)
  expect(r.code, r.stderr).toBe(0)
  return { ...r, summary: JSON.parse(r.stdout) as { received: number; rejected: number; errors: Array<string> } }
}

const filesDir = (who: Chatter) => join(who.dataDir, "files")
const partialDir = (who: Chatter) => join(filesDir(who), ".partial")
/** The names in `who`'s files folder (not the partial transfers' folder). */
const receivedNames = (who: Chatter): Array<string> =>
  existsSync(filesDir(who)) ? readdirSync(filesDir(who)).filter((n) => n !== ".partial").sort() : []

/** Chunks a partial transfer's record says arrived (bits set in its `have` bitmap). */
const chunksHad = (recordFile: string): number => {
  try {
    const record = JSON.parse(readFileSync(recordFile, "utf8")) as { have: string }
    let n = 0
    for (const byte of Buffer.from(record.have, "base64")) for (let b = byte; b !== 0; b >>= 1) n += b & 1
    return n
  } catch {
    return 0 // not there yet, or being replaced
  }
}

/** The chunk files waiting in a transport folder, by name. */
const chunkFilesIn = (dir: string): Array<{ name: string; text: string; transfer_id: string; index: number; sealed: string }> =>
  (existsSync(dir) ? readdirSync(dir) : [])
    .filter((n) => n.endsWith(".skc.json"))
    .map((name) => ({ name, text: readFileSync(join(dir, name), "utf8") }))
    .filter((f) => f.text.startsWith('{"skchat_chunk":1,'))
    .map((f) => ({ ...f, ...(JSON.parse(f.text) as { transfer_id: string; index: number; sealed: string }) }))

interface CallView {
  readonly call_id: string
  readonly state: string
  readonly outcome: string | null
}

const callStatus = async (who: Chatter): Promise<Array<CallView>> => {
  const r = await runCli(["call", "status", "--json"], who.env)
  expect(r.code, r.stderr).toBe(0)
  return JSON.parse(r.stdout) as Array<CallView>
}

/** `from` calls `to` (auto-accepted); resolves once both hold that call connected. */
const connect = async (from: Chatter, to: Chatter): Promise<string> => {
  const r = await runCli(["call", to.name, "--json"], from.env)
  expect(r.code, r.stderr).toBe(0)
  const callId = (JSON.parse(r.stdout) as { call_id: string }).call_id
  expect(callId).toEqual(expect.any(String))
  for (const who of [from, to]) {
    await waitFor(() => callStatus(who), (cs) => cs.some((c) => c.call_id === callId && c.state === "connected"),
      { what: `${who.name}: call ${callId} connected`, timeoutMs: 60_000, intervalMs: 200 })
  }
  return callId
}

describe("send-file over a connected call", () => {
  it("sends the file over the call's channels, waits for the receiver's check; both sides record it", async () => {
    const { alice, bob } = await newPair()
    await startDaemon(alice)
    await startDaemon(bob)
    await connect(alice, bob)

    const file = randomFile(alice, "blob.bin", 8 * 1024 * 1024 + 4321)
    const sent = await sendFile(alice, "bob", file.path)
    expect(sent).toMatchObject({
      peer: bob.uri,
      name: "blob.bin",
      size: file.size,
      sha256: file.sha256,
      done_bytes: file.size,
      state: "completed",
      route: "direct",
      reason: null
    })
    const id = sent.transfer_id

    // Bob's daemon checked the whole file before alice's command returned: it is in place with the right bytes.
    const landed = join(filesDir(bob), "blob.bin")
    expect(receivedNames(bob)).toEqual(["blob.bin"])
    expect(sha256Of(landed)).toBe(file.sha256)
    expect(readdirSync(partialDir(bob))).toEqual([])

    // The offer is an ordinary (verified) message in bob's inbox, with the file attached.
    const offer = (await inboxOf(bob)).find((m) => m.id === sent.message_id)
    expect(offer).toMatchObject({ sender: alice.uri, content: "sent a file: blob.bin (8.0 MiB)", verified: true })
    expect(offer!.attachments).toHaveLength(1)
    expect(offer!.attachments[0]).toEqual({
      type: FILE_ATTACHMENT_TYPE,
      transfer_id: id,
      name: "blob.bin",
      size: file.size,
      sha256: file.sha256,
      chunk_size: CHUNK,
      key: expect.stringMatching(/^[A-Za-z0-9+/]{43}=$/)
    })

    const mine = await transferReaches(alice, id, "completed")
    expect(mine).toMatchObject({
      message_id: sent.message_id,
      direction: "out",
      peer: bob.uri,
      name: "blob.bin",
      size: file.size,
      sha256: file.sha256,
      path: file.path,
      route: "direct",
      reason: null
    })
    expect(mine.ended_at).toEqual(expect.any(String))
    const theirs = await transferReaches(bob, id, "completed")
    expect(theirs).toMatchObject({
      message_id: sent.message_id,
      direction: "in",
      peer: alice.uri,
      name: "blob.bin",
      size: file.size,
      sha256: file.sha256,
      path: landed,
      route: "direct",
      reason: null
    })
    expect(await transfersOf(alice)).toHaveLength(1)
    expect(await transfersOf(bob)).toHaveLength(1)
    expect(logOf(bob)).toContain(`received blob.bin from ${alice.uri}`)
  }, 180_000)

  it("resumes after the receiver's daemon is killed mid-transfer, on the next call, and completes with the right bytes",
    async () => {
      const { alice, bob } = await newPair()
      await startDaemon(alice)
      const firstBob = await startDaemon(bob)
      const firstCall = await connect(alice, bob)

      const file = randomFile(alice, "big.bin", 128 * 1024 * 1024)
      const started = await sendFile(alice, "bob", file.path, ["--no-wait"])
      expect(started).toMatchObject({ peer: bob.uri, name: "big.bin", size: file.size, sha256: file.sha256, route: "direct" })
      expect(["sending", "waiting"]).toContain(started.state)
      const id = started.transfer_id

      // As soon as bob's partial record says some chunks arrived, bob's daemon dies without a word.
      const record = join(partialDir(bob), `${id}.json`)
      await waitFor(() => chunksHad(record), (n) => n > 0,
        { what: "bob's partial record to hold a chunk", timeoutMs: 120_000, intervalMs: 5 })
      process.kill(firstBob, "SIGKILL")
      await waitGone(firstBob)

      // What bob had is on disk: the partial file and its record, not the finished file.
      const had = chunksHad(record)
      expect(had).toBeGreaterThan(0)
      expect(had).toBeLessThan(file.size / CHUNK)
      expect(existsSync(join(partialDir(bob), `${id}.part`))).toBe(true)
      expect(receivedNames(bob)).toEqual([])
      expect((await transfersOf(bob)).find((t) => t.transfer_id === id)?.state).toBe("receiving")

      // Bob comes back and calls alice: her daemon replaces the dead call, and the transfer carries on.
      await startDaemon(bob)
      const secondCall = await connect(bob, alice)
      expect(secondCall).not.toBe(firstCall)

      const theirs = await transferReaches(bob, id, "completed", 240_000)
      expect(theirs).toMatchObject({ direction: "in", peer: alice.uri, size: file.size, sha256: file.sha256, route: "direct" })
      expect(theirs.path).toBe(join(filesDir(bob), "big.bin"))
      expect(receivedNames(bob)).toEqual(["big.bin"])
      expect(sha256Of(theirs.path)).toBe(file.sha256)
      expect(readdirSync(partialDir(bob))).toEqual([])

      const mine = await transferReaches(alice, id, "completed")
      expect(mine).toMatchObject({ direction: "out", route: "direct", path: file.path, reason: null })
      // One transfer on each side: resumed, not started again.
      expect((await transfersOf(alice)).map((t) => t.transfer_id)).toEqual([id])
      expect((await transfersOf(bob)).map((t) => t.transfer_id)).toEqual([id])
      expect((await inboxOf(bob)).filter((m) => m.id === started.message_id)).toHaveLength(1)
    }, 420_000)
})

describe("a lost call with a transfer under way", () => {
  it("the sender's daemon calls again by itself, and the transfer completes on that call", async () => {
    const { alice, bob } = await newPair()
    await startDaemon(alice)
    const firstBob = await startDaemon(bob)
    await connect(alice, bob)
    const file = randomFile(alice, "again.bin", 64 * 1024 * 1024)
    const started = await sendFile(alice, "bob", file.path, ["--no-wait"])
    const id = started.transfer_id
    const record = join(partialDir(bob), `${id}.json`)
    await waitFor(() => chunksHad(record), (n) => n > 0,
      { what: "bob's partial record to hold a chunk", timeoutMs: 120_000, intervalMs: 5 })
    process.kill(firstBob, "SIGKILL")
    await waitGone(firstBob)

    // Bob's daemon is back (auto-accepting), but nobody calls by hand: alice's daemon notices its call is
    // lost (when ICE gives up on the dead peer) and calls bob again.
    await startDaemon(bob)
    const theirs = await transferReaches(bob, id, "completed", 240_000)
    expect(sha256Of(theirs.path!)).toBe(file.sha256)
    expect((await transferReaches(alice, id, "completed")).route).toBe("direct")
    expect(logOf(alice)).toMatch(/calling capauth:bob@skworld\.io again to resume file transfers \(try 1 of 3\)/)
    const outcomes = (await callStatus(alice)).map((c) => c.outcome)
    expect(outcomes).toContain("failed")
  }, 300_000)
})

describe("send-file without a connected call: sealed chunk files over the transports", () => {
  it("with no daemon anywhere: the command sends the chunks itself; bob's `skchat receive` puts the file together",
    async () => {
      const { alice, bob } = await newPair()
      const file = randomFile(alice, "notes.pdf", 1024 * 1024 + 777)
      const sent = await sendFile(alice, "bob", file.path)
      expect(sent).toMatchObject({
        peer: bob.uri,
        name: "notes.pdf",
        size: file.size,
        sha256: file.sha256,
        done_bytes: file.size,
        state: "completed",
        route: "transport",
        reason: null
      })
      const id = sent.transfer_id
      const chunks = chunkFilesIn(bob.inbox)
      expect(chunks.map((c) => c.index).sort((a, b) => a - b))
        .toEqual(Array.from({ length: Math.ceil(file.size / CHUNK) }, (_, i) => i))
      expect(chunks.every((c) => c.transfer_id === id)).toBe(true)
      // Sealed: the plain bytes are nowhere in the shared folder.
      const head = readFileSync(file.path).subarray(0, 64)
      expect(filesUnder(bob.inbox).filter((f) => readFileSync(f).includes(head))).toEqual([])

      const mine = await transferReaches(alice, id, "completed")
      expect(mine).toMatchObject({ direction: "out", peer: bob.uri, route: "transport", path: file.path })

      const got = await receive(bob)
      expect(got.summary).toMatchObject({ received: 1, rejected: 0, errors: [] })
      expect(got.stderr).toBe("")
      const landed = join(filesDir(bob), "notes.pdf")
      expect(receivedNames(bob)).toEqual(["notes.pdf"])
      expect(sha256Of(landed)).toBe(file.sha256)
      expect(chunkFilesIn(bob.inbox)).toEqual([])

      const theirs = await transferReaches(bob, id, "completed")
      expect(theirs).toMatchObject({
        message_id: sent.message_id,
        direction: "in",
        peer: alice.uri,
        name: "notes.pdf",
        size: file.size,
        sha256: file.sha256,
        path: landed,
        route: "transport",
        reason: null
      })
      const offer = (await inboxOf(bob)).find((m) => m.id === sent.message_id)
      expect(offer).toMatchObject({ sender: alice.uri, content: "sent a file: notes.pdf (1.0 MiB)", verified: true })
      expect(offer!.attachments[0]).toMatchObject({ type: FILE_ATTACHMENT_TYPE, transfer_id: id, sha256: file.sha256 })
    }, 120_000)

  it("with both daemons running but no call: alice's daemon sends chunk files, bob's daemon takes them in", async () => {
    const { alice, bob } = await newPair()
    await startDaemon(alice)
    await startDaemon(bob)

    const file = randomFile(alice, "photo.jpg", 2 * 1024 * 1024 + 12345)
    const sent = await sendFile(alice, "bob", file.path)
    expect(sent).toMatchObject({ peer: bob.uri, name: "photo.jpg", size: file.size, sha256: file.sha256, state: "completed", route: "transport" })
    const id = sent.transfer_id

    const theirs = await transferReaches(bob, id, "completed")
    const landed = join(filesDir(bob), "photo.jpg")
    expect(theirs).toMatchObject({ direction: "in", peer: alice.uri, route: "transport", path: landed, sha256: file.sha256 })
    expect(receivedNames(bob)).toEqual(["photo.jpg"])
    expect(sha256Of(landed)).toBe(file.sha256)
    await eventually("bob's daemon to consume every chunk file", () => chunkFilesIn(bob.inbox).length === 0, 60_000, 200)
    expect(await transferReaches(alice, id, "completed")).toMatchObject({ direction: "out", route: "transport" })
    // No call was involved.
    expect(await callStatus(alice)).toEqual([])
    expect(await callStatus(bob)).toEqual([])
    expect(logOf(bob)).toContain(`received photo.jpg from ${alice.uri}`)
  }, 120_000)

  it("drops an altered chunk and one moved to another place: nothing lands, the transfer stays incomplete", async () => {
    const { alice, bob } = await newPair()
    const file = randomFile(alice, "ledger.csv", 5 * CHUNK + 100)
    const sent = await sendFile(alice, "bob", file.path)
    expect(sent).toMatchObject({ state: "completed", route: "transport" })
    const id = sent.transfer_id

    const chunks = chunkFilesIn(bob.inbox)
    expect(chunks).toHaveLength(6)
    const byIndex = (i: number) => chunks.find((c) => c.index === i)!
    // One byte of chunk 1's sealed bytes flipped.
    const flipped = byIndex(1)
    writeFileSync(join(bob.inbox, flipped.name), flipped.text.replace(flipped.sealed, flipByte(flipped.sealed)))
    // Chunk 2, intact, but claiming to be chunk 4 (the genuine chunk 4 is there too).
    const moved = byIndex(2)
    writeFileSync(join(bob.inbox, moved.name), moved.text.replace('"index":2,', '"index":4,'))
    expect(chunkFilesIn(bob.inbox).map((c) => c.index).sort()).toEqual([0, 1, 3, 4, 4, 5])

    const got = await receive(bob)
    expect(got.summary).toMatchObject({ received: 1, rejected: 0 })
    expect(got.summary.errors).toEqual([expect.stringMatching(/^2 file chunk\(s\) .*dropped$/)])
    expect(oneLine(got.stderr)).toMatch(/^skchat: 2 file chunk\(s\) .*dropped$/)
    // Taken in or dropped, the chunk files are consumed.
    expect(chunkFilesIn(bob.inbox)).toEqual([])

    // Nothing landed, nothing failed: the transfer waits for chunks 1 and 2.
    expect(receivedNames(bob)).toEqual([])
    expect((await transfersOf(bob)).find((t) => t.transfer_id === id))
      .toMatchObject({ direction: "in", state: "receiving", ended_at: null, reason: null })
    expect(readdirSync(partialDir(bob)).sort()).toEqual([`${id}.json`, `${id}.part`])
    // In the partial file, the genuine chunks are in place; nothing was written where 1 and 2 go, and the
    // moved chunk did not overwrite chunk 4.
    const part = readFileSync(join(partialDir(bob), `${id}.part`))
    const original = readFileSync(file.path)
    const region = (b: Buffer, i: number) => b.subarray(i * CHUNK, Math.min(b.length, (i + 1) * CHUNK))
    for (const i of [0, 3, 4, 5]) expect(region(part, i).equals(region(original, i)), `chunk ${i} in place`).toBe(true)
    for (const i of [1, 2]) expect(region(part, i).equals(Buffer.alloc(CHUNK)), `nothing written at chunk ${i}`).toBe(true)
  }, 120_000)

  it("an altered copy of a chunk beside the genuine one is dropped, and the file completes with the signed bytes",
    async () => {
      const { alice, bob } = await newPair()
      const file = randomFile(alice, "ledger.csv", 3 * CHUNK + 5)
      const sent = await sendFile(alice, "bob", file.path)
      const chunks = chunkFilesIn(bob.inbox)
      expect(chunks).toHaveLength(4)
      for (const c of chunks) {
        writeEnvelopeFile(bob.inbox, uuidv7(Date.now()), c.text.replace(c.sealed, flipByte(c.sealed)))
      }
      expect(chunkFilesIn(bob.inbox)).toHaveLength(8)

      const got = await receive(bob)
      expect(got.summary.errors).toEqual([expect.stringMatching(/^4 file chunk\(s\) .*dropped$/)])
      const done = await transferReaches(bob, sent.transfer_id, "completed")
      expect(done).toMatchObject({ route: "transport", path: join(filesDir(bob), "ledger.csv"), reason: null })
      expect(receivedNames(bob)).toEqual(["ledger.csv"])
      expect(sha256Of(done.path)).toBe(file.sha256)
      expect(readdirSync(partialDir(bob))).toEqual([])
    }, 120_000)

  it("chunk files that reach `skchat receive` over two passes still make the file", async () => {
    const { alice, bob } = await newPair()
    const file = randomFile(alice, "slow-sync.bin", 5 * CHUNK + 100)
    const sent = await sendFile(alice, "bob", file.path)
    const id = sent.transfer_id

    // The shared folder has not synced chunk 1 yet (Syncthing carries files one by one).
    const late = chunkFilesIn(bob.inbox).find((c) => c.index === 1)!
    const held = join(alice.home, late.name)
    writeFileSync(held, late.text)
    rmSync(join(bob.inbox, late.name))

    const first = await receive(bob)
    expect(first.summary).toMatchObject({ received: 1, rejected: 0, errors: [] })
    expect(chunkFilesIn(bob.inbox)).toEqual([])
    expect(receivedNames(bob)).toEqual([])
    expect((await transfersOf(bob)).find((t) => t.transfer_id === id)?.state).toBe("receiving")

    // Chunk 1 arrives; the next pass completes the file.
    writeFileSync(join(bob.inbox, late.name), readFileSync(held))
    const second = await receive(bob)
    expect(second.summary).toMatchObject({ received: 0, rejected: 0, errors: [] })
    expect(chunkFilesIn(bob.inbox)).toEqual([])
    const done = await transferReaches(bob, id, "completed", 20_000)
    expect(done).toMatchObject({ route: "transport", path: join(filesDir(bob), "slow-sync.bin") })
    expect(sha256Of(done.path)).toBe(file.sha256)
  }, 120_000)
})

describe("send-file errors", () => {
  it("a missing file, a directory, an unknown peer: exit 1, one line, nothing recorded (with and without a daemon)",
    async () => {
      const { alice } = await newPair()
      const missing = join(alice.home, "nope.txt")
      const folder = join(alice.home, "a-folder")
      mkdirSync(folder)
      const real = randomFile(alice, "real.txt", 10)

      const check = async (args: ReadonlyArray<string>, pattern: RegExp) => {
        const r = await runCli(["send-file", ...args], alice.env)
        expect(r.code, `send-file ${args.join(" ")}: ${r.stdout}${r.stderr}`).toBe(1)
        expect(r.stdout).toBe("")
        expect(oneLine(r.stderr)).toMatch(pattern)
        expect(r.stderr).not.toMatch(/\n\s+at /)
      }
      const errorsOnce = async () => {
        await check(["bob", missing], new RegExp(`^skchat: cannot read ${missing}`))
        await check(["bob", folder, "--json"], new RegExp(`^skchat: ${folder} is not a regular file$`))
        await check(["mallory", real.path], /^skchat: unknown recipient/)
      }

      await errorsOnce()
      expect(await transfersOf(alice)).toEqual([])

      // The same through a running daemon, which stays up.
      const pid = await startDaemon(alice)
      await errorsOnce()
      expect(await transfersOf(alice)).toEqual([])
      expect((await daemonStatus(alice.env)).status).toMatchObject({ running: true, pid })
      expect(isAlive(pid)).toBe(true)
    }, 90_000)
})

describe("where received files land", () => {
  it("a second file of the same name becomes `NAME (2).ext`; names are a claim, never a path out of files/",
    async () => {
      const { alice, bob } = await newPair()
      const first = randomFile(alice, "report.txt", 3000, "one")
      const second = randomFile(alice, "report.txt", 4000, "two")
      const bare1 = randomFile(alice, "README", 100, "one")
      const bare2 = randomFile(alice, "README", 200, "two")

      for (const f of [first, bare1]) await sendFile(alice, "bob", f.path)
      await receive(bob)
      for (const f of [second, bare2]) await sendFile(alice, "bob", f.path)
      await receive(bob)
      expect(receivedNames(bob)).toEqual(["README", "README (2)", "report (2).txt", "report.txt"])
      expect(sha256Of(join(filesDir(bob), "report.txt"))).toBe(first.sha256)
      expect(sha256Of(join(filesDir(bob), "report (2).txt"))).toBe(second.sha256)
      expect(sha256Of(join(filesDir(bob), "README"))).toBe(bare1.sha256)
      expect(sha256Of(join(filesDir(bob), "README (2)"))).toBe(bare2.sha256)

      // Leading dots (hidden files, `..`) are taken off.
      const dots = randomFile(alice, "..evil", 500)
      const hidden = randomFile(alice, ".bashrc", 600)
      for (const f of [dots, hidden]) await sendFile(alice, "bob", f.path)
      await receive(bob)
      expect(sha256Of(join(filesDir(bob), "evil"))).toBe(dots.sha256)
      expect(sha256Of(join(filesDir(bob), "bashrc"))).toBe(hidden.sha256)

      // An offer whose name is a path (a sender can claim anything in its signed offer): made by hand with
      // alice's key, its chunks sealed under the offer's key, both dropped into bob's inbox folder.
      const crafted = async (name: string, bytes: Buffer) => {
        const transferId = uuidv7(Date.now())
        const key = randomBytes(32)
        const history = await openHistory({ home: alice.home, dataDir: alice.dataDir, identity: alice.uri })
        try {
          const offer = await history.sendSealed({
            recipient: bob.uri,
            content: `sent a file: ${name}`,
            attachments: [{
              type: FILE_ATTACHMENT_TYPE,
              transfer_id: transferId,
              name,
              size: bytes.length,
              sha256: sha256(bytes),
              chunk_size: CHUNK,
              key: key.toString("base64")
            }]
          })
          writeEnvelopeFile(bob.inbox, offer.envelopeId, offer.envelope)
        } finally {
          await history.close()
        }
        for (let i = 0; i * CHUNK < bytes.length; i++) {
          const plain = bytes.subarray(i * CHUNK, (i + 1) * CHUNK)
          writeEnvelopeFile(bob.inbox, uuidv7(Date.now()),
            encodeChunkFile(transferId, i, sealChunk(key, transferId, i, plain)))
        }
        return { transferId, sha256: sha256(bytes) }
      }
      const up = await crafted("../../escaped.txt", randomBytes(70_000))
      const win = await crafted("..\\..\\windows.txt", randomBytes(900))
      const abs = await crafted("/etc/passwd-ish", randomBytes(50))
      const got = await receive(bob)
      expect(got.summary).toMatchObject({ received: 3, rejected: 0, errors: [] })
      for (const [t, name] of [[up, "escaped.txt"], [win, "windows.txt"], [abs, "passwd-ish"]] as const) {
        const row = await transferReaches(bob, t.transferId, "completed")
        expect(row.path).toBe(join(filesDir(bob), name))
        expect(sha256Of(row.path)).toBe(t.sha256)
      }

      // Everything bob received is directly inside files/, and nothing named so appeared anywhere else.
      expect(receivedNames(bob)).toEqual([
        "README", "README (2)", "bashrc", "escaped.txt", "evil", "passwd-ish", "report (2).txt", "report.txt", "windows.txt"
      ])
      const elsewhere = [...filesUnder(bob.home), ...filesUnder(pairs.at(-1)!.shared)]
        .filter((f) => !f.startsWith(filesDir(bob) + "/"))
        .filter((f) => /escaped|windows|passwd-ish|evil|bashrc/.test(f))
      expect(elsewhere).toEqual([])
      const rows = (await transfersOf(bob)).filter((t) => t.direction === "in")
      expect(rows).toHaveLength(9)
      expect(rows.every((t) => t.state === "completed" && t.path.startsWith(filesDir(bob) + "/"))).toBe(true)
    }, 120_000)
})
