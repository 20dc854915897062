import { randomUUID } from "node:crypto"
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import type { LiveCall } from "../src/actors/call-manager.js"
import { sealCallSignal } from "../src/adapters/envelope-codec.js"
import type { CallView as CallRow } from "../src/projections/direct-queries.js"
import { writeEnvelopeFile } from "../src/adapters/folder-mailbox.js"
import { waitFor } from "./support/cli-wait.js"
import { cleanUpPairs, daemonLogOf, oneErrorLine, startDaemonOf } from "./support/daemon-pair.js"
import { DaemonReaper, daemonStatus, isAlive, waitGone } from "./support/daemon-process.js"
import { ownKeyOf, peerKeyOf } from "./support/identities.js"
import { type ChattingPair, type Chatter, fileTransportConfig, makeChattingPair } from "./support/shared-folder.js"
import { runCli, storeFile, withDatabase } from "./support/temp-home.js"

/**
 * Direct calls (issue #6) as a user makes them: two real `skchat daemon` processes (alice's and bob's), each
 * with its own data dir, exchanging sealed call signals over a file transport in a shared folder and
 * connecting a WebRTC data channel (node-datachannel) on 127.0.0.1. Everything goes through the built CLI:
 * `skchat call`, `call accept`, `call hangup`, `call status`, `send`, `inbox`. Every daemon is stopped in
 * afterEach, which fails if any process is left. Nothing here measures time: it waits (generously) for
 * what must happen.
 */

const reaper = new DaemonReaper()
const pairs: Array<ChattingPair> = []
const carriers: Array<() => void> = []

afterEach(async ({ task }) => {
  for (const stop of carriers.splice(0)) stop()
  await cleanUpPairs(reaper, pairs, task.result?.state === "fail")
})

/** Calls always stay on the loopback address. */
const WEBRTC = "  webrtc:\n    bind_address: 127.0.0.1\n"

/** A chatting pair whose config.yml both end in the `skchat.webrtc` section (`more` is appended to it). */
const newPair = async (more = "") => {
  const pair = await makeChattingPair(WEBRTC + more)
  pairs.push(pair)
  return pair
}

/** Envelope files a transport wrote into `dir` (dot-files are still being written). */
const envelopeFiles = (dir: string): Array<string> =>
  existsSync(dir) ? readdirSync(dir).filter((n) => n.endsWith(".skc.json") && !n.startsWith(".")) : []

/**
 * A pair whose file transports write into outboxes of their own, from which the test carries the files to
 * the other side's inbox (as Syncthing would, but only once the test says so): what each side sent can be
 * held back until both have acted.
 */
const newCarriedPair = async () => {
  const pair = await newPair()
  const outboxOf = (who: Chatter) => join(pair.shared, `${who.name}-outbox`)
  for (const who of [pair.alice, pair.bob]) {
    mkdirSync(outboxOf(who), { recursive: true, mode: 0o700 })
    writeFileSync(join(who.dataDir, "config.yml"), fileTransportConfig(who.uri, who.inbox, outboxOf(who), WEBRTC))
  }
  const carry = () => {
    for (const [from, to] of [[pair.alice, pair.bob], [pair.bob, pair.alice]] as const) {
      for (const name of envelopeFiles(outboxOf(from))) {
        mkdirSync(to.inbox, { recursive: true, mode: 0o700 })
        renameSync(join(outboxOf(from), name), join(to.inbox, name))
      }
    }
  }
  let timer: NodeJS.Timeout | undefined
  const stopCarrying = () => {
    clearInterval(timer)
    timer = undefined
  }
  carriers.push(stopCarrying)
  return {
    ...pair,
    outboxOf,
    /** From now on, carry every file (at once, then as they come). */
    startCarrying: () => {
      carry()
      timer ??= setInterval(carry, 50)
    },
    stopCarrying
  }
}

/** Appends lines to one side's `skchat.webrtc` section (the last section of its config.yml). */
const addWebrtcSetting = (who: Chatter, lines: string) => appendFileSync(join(who.dataDir, "config.yml"), lines)

const startDaemon = (who: Chatter) => startDaemonOf(reaper, who)
const logOf = daemonLogOf
const oneLine = oneErrorLine

/** `call status --json`: the calls projection plus the daemon's negotiation state. */
type CallView = CallRow & { readonly negotiation: string | null }


const callStatus = async (who: Chatter): Promise<Array<CallView>> => {
  const r = await runCli(["call", "status", "--json"], who.env)
  expect(r.code, r.stderr).toBe(0)
  return JSON.parse(r.stdout) as Array<CallView>
}

/** Polls `call status --json` until `check` holds; the list it last saw is in the failure message. */
const callsWhen = (who: Chatter, what: string, check: (calls: Array<CallView>) => boolean, timeoutMs = 45_000) =>
  waitFor(() => callStatus(who), check, { what: `${who.name}: ${what}`, timeoutMs, intervalMs: 200 })

/** The call `callId` as `who`'s `call status` shows it, once it is in `state`. */
const callReaches = async (who: Chatter, callId: string, state: CallView["state"], timeoutMs = 45_000) => {
  const calls = await callsWhen(who, `call ${callId} to be ${state}`,
    (cs) => cs.some((c) => c.call_id === callId && c.state === state), timeoutMs)
  return calls.find((c) => c.call_id === callId)!
}

/** `skchat call ...` with --json: the daemon's answer. */
const callCommand = async (who: Chatter, args: ReadonlyArray<string>): Promise<LiveCall> => {
  const r = await runCli(["call", ...args, "--json"], who.env)
  expect(r.code, `skchat call ${args.join(" ")}: ${r.stderr}`).toBe(0)
  return JSON.parse(r.stdout) as LiveCall
}

/** `skchat send` with --json: the stored message. */
const send = async (from: Chatter, to: string, content: string) => {
  const r = await runCli(["send", to, content, "--json"], from.env)
  expect(r.code, r.stderr).toBe(0)
  expect(r.stderr).toBe("")
  return JSON.parse(r.stdout) as { id: string; delivery_status: string }
}

/** The transport(s) the log's MessageSent events name for a message. */
const transportsOf = (who: Chatter, messageId: string): Array<string> =>
  withDatabase(storeFile(who.dataDir), (db) =>
    db.prepare("SELECT data ->> '$.transport' FROM events WHERE type = 'MessageSent' AND data ->> '$.message_id' = ?")
      .pluck().all(messageId) as Array<string>)

interface InboxMessage {
  readonly id: string
  readonly sender: string
  readonly content: string
  readonly verified: boolean
}

const inboxOf = async (who: Chatter): Promise<Array<InboxMessage>> => {
  const r = await runCli(["inbox", "--json", "-n", "1000"], who.env)
  expect(r.code, r.stderr).toBe(0)
  return JSON.parse(r.stdout) as Array<InboxMessage>
}

/** Waits until message `id` is in `who`'s inbox, and returns it. */
const arrives = async (who: Chatter, id: string, timeoutMs = 45_000): Promise<InboxMessage> => {
  const inbox = await waitFor(() => inboxOf(who), (ms) => ms.some((m) => m.id === id),
    { what: `${who.name}: message ${id} in the inbox`, timeoutMs, intervalMs: 200 })
  return inbox.find((m) => m.id === id)!
}

/** `from` calls `to` (the command returns at once, negotiating): the new call's id. */
const placeCall = async (from: Chatter, to: Chatter): Promise<string> => {
  const placed = await callCommand(from, [to.name])
  expect(placed.peer).toBe(to.uri)
  expect(placed.call_id).toEqual(expect.any(String))
  expect(placed.state).toMatch(/^negotiating\./)
  return placed.call_id!
}

/** Both sides hold call `callId` connected. */
const bothConnected = async (a: Chatter, b: Chatter, callId: string) => {
  const mine = await callReaches(a, callId, "connected")
  const theirs = await callReaches(b, callId, "connected")
  return { mine, theirs }
}

/** A connected call from alice to bob (bob accepts). */
const connectedCall = async (alice: Chatter, bob: Chatter): Promise<string> => {
  const callId = await placeCall(alice, bob)
  await callReaches(bob, callId, "ringing")
  const accepted = await callCommand(bob, ["accept", "alice"])
  expect(accepted.call_id).toBe(callId)
  await bothConnected(alice, bob, callId)
  return callId
}

describe("a direct call between two daemons", () => {
  it("rings, is accepted, carries messages both ways over the channel, hangs up; then mail goes by file again",
    async () => {
      const { alice, bob } = await newPair()
      await startDaemon(alice)
      await startDaemon(bob)

      const placed = await callCommand(alice, ["bob"])
      expect(placed).toMatchObject({ peer: bob.uri, state: expect.stringMatching(/^negotiating\./) })
      const callId = placed.call_id!
      expect(callId).toEqual(expect.any(String))

      // Bob's daemon took the sealed offer from the shared folder: the call rings there.
      const ringing = await callReaches(bob, callId, "ringing")
      expect(ringing).toMatchObject({
        call_id: callId,
        peer: alice.uri,
        direction: "in",
        state: "ringing",
        connected_at: null,
        ended_at: null,
        outcome: null,
        negotiation: "negotiating.answering"
      })
      expect(logOf(bob)).toContain(`incoming call ${callId} from ${alice.uri}`)
      const calling = (await callStatus(alice)).find((c) => c.call_id === callId)
      expect(calling).toMatchObject({ peer: bob.uri, direction: "out" })
      expect(calling!.state).toBe("calling")

      const accepted = await callCommand(bob, ["accept", "alice"])
      expect(accepted).toMatchObject({ peer: alice.uri, call_id: callId })

      const { mine, theirs } = await bothConnected(alice, bob, callId)
      expect(mine).toMatchObject({ direction: "out", peer: bob.uri, negotiation: "connected", outcome: null })
      expect(mine.connected_at).not.toBeNull()
      expect(theirs).toMatchObject({ direction: "in", peer: alice.uri, negotiation: "connected", outcome: null })
      expect(theirs.connected_at).not.toBeNull()
      await waitFor(() => logOf(alice), (l) => l.includes(`call ${callId} with ${bob.uri} connected`),
        { what: "alice's daemon log to say connected" })
      await waitFor(() => logOf(bob), (l) => l.includes(`call ${callId} with ${alice.uri} connected`),
        { what: "bob's daemon log to say connected" })

      // Alice's message goes over the call's data channel.
      const hello = await send(alice, "bob", "hello over the channel")
      expect(transportsOf(alice, hello.id)).toEqual(["direct"])
      expect(await arrives(bob, hello.id)).toMatchObject({
        sender: alice.uri,
        content: "hello over the channel",
        verified: true
      })

      // Bob's reply too, the other way.
      const reply = await send(bob, "alice", "and back over it")
      expect(transportsOf(bob, reply.id)).toEqual(["direct"])
      expect(await arrives(alice, reply.id)).toMatchObject({
        sender: bob.uri,
        content: "and back over it",
        verified: true
      })

      const hungUp = await callCommand(alice, ["hangup", "bob"])
      expect(hungUp).toMatchObject({ peer: bob.uri, call_id: callId })
      const aliceEnd = await callReaches(alice, callId, "ended")
      expect(aliceEnd).toMatchObject({ outcome: "hung_up", direction: "out" })
      expect(aliceEnd.ended_at).not.toBeNull()
      const bobEnd = await callReaches(bob, callId, "ended")
      expect(bobEnd).toMatchObject({ outcome: "remote_hung_up", reason: "the peer hung up", direction: "in" })
      expect(bobEnd.ended_at).not.toBeNull()
      await waitFor(() => logOf(bob),
        (l) => l.includes(`call ${callId} with ${alice.uri} ended: remote hung up (the peer hung up)`),
        { what: "bob's daemon log to say the peer hung up" })

      // No call any more: the next message goes by the file transport, and still arrives.
      const after = await send(alice, "bob", "after the call")
      expect(after.delivery_status).toBe("sent")
      expect(transportsOf(alice, after.id)).toEqual(["file"])
      expect(await arrives(bob, after.id)).toMatchObject({ sender: alice.uri, content: "after the call", verified: true })
      // The daemons are still there.
      expect((await daemonStatus(alice.env)).status.running).toBe(true)
      expect((await daemonStatus(bob.env)).status.running).toBe(true)
    }, 180_000)

  it("with auto_accept on bob's side connects without `call accept`", async () => {
    const { alice, bob } = await newPair()
    addWebrtcSetting(bob, "    auto_accept: true\n")
    await startDaemon(alice)
    await startDaemon(bob)

    const callId = await placeCall(alice, bob)
    const { mine, theirs } = await bothConnected(alice, bob, callId)
    expect(mine).toMatchObject({ direction: "out", peer: bob.uri })
    expect(theirs).toMatchObject({ direction: "in", peer: alice.uri })
    // Bob's daemon never waited for an accept.
    expect(logOf(bob)).toContain(`incoming call ${callId} from ${alice.uri}`)
    expect(logOf(bob)).not.toContain("(ringing")
    // And nothing is left ringing to accept.
    const late = await runCli(["call", "accept", "alice"], bob.env)
    expect(late.code).toBe(1)

    const hello = await send(alice, "bob", "auto-accepted")
    expect(transportsOf(alice, hello.id)).toEqual(["direct"])
    expect((await arrives(bob, hello.id)).content).toBe("auto-accepted")
  }, 120_000)

  it("glare: both call at the same moment; alice's call stands, bob's is superseded, both connect on hers", async () => {
    const pair = await newCarriedPair()
    const { alice, bob } = pair
    await startDaemon(alice)
    await startDaemon(bob)

    const [fromAlice, fromBob] = await Promise.all([callCommand(alice, ["bob"]), callCommand(bob, ["alice"])])
    // Two outgoing calls were placed: their offers are held back until both are out, so that neither side
    // has heard of the other's call when it makes its own.
    expect(fromAlice).toMatchObject({ peer: bob.uri, state: "negotiating.offering" })
    expect(fromBob).toMatchObject({ peer: alice.uri, state: "negotiating.offering" })
    const aliceCall = fromAlice.call_id!
    const bobCall = fromBob.call_id!
    expect(aliceCall).not.toBe(bobCall)
    await waitFor(() => [envelopeFiles(pair.outboxOf(alice)).length, envelopeFiles(pair.outboxOf(bob)).length],
      ([a, b]) => a! >= 1 && b! >= 1, { what: "both offers to be written", timeoutMs: 30_000 })
    pair.startCarrying()

    // No `call accept` anywhere: bob answers alice's call because hers stands.
    const { mine, theirs } = await bothConnected(alice, bob, aliceCall)
    expect(mine).toMatchObject({ direction: "out", peer: bob.uri })
    expect(theirs).toMatchObject({ direction: "in", peer: alice.uri })

    const bobs = await callStatus(bob)
    expect(bobs.find((c) => c.call_id === bobCall)).toMatchObject({
      direction: "out",
      peer: alice.uri,
      state: "ended",
      outcome: "superseded"
    })
    expect(bobs.map((c) => c.call_id).sort()).toEqual([aliceCall, bobCall].sort())
    // Alice never took bob's offer up.
    expect((await callStatus(alice)).map((c) => c.call_id)).toEqual([aliceCall])

    // The call that stands carries messages.
    const hello = await send(bob, "alice", "after the glare")
    expect(transportsOf(bob, hello.id)).toEqual(["direct"])
    expect((await arrives(alice, hello.id)).content).toBe("after the glare")
  }, 120_000)
})

describe("refused call signals", () => {
  const uriOf = (name: string) => `capauth:${name}@skworld.io`
  /** A sealed offer signed by `signer`, claiming `from`, encrypted to `to`'s key, addressed to `addressee`. */
  const offer = async (o: { signer: string; from: string; to: string; addressee: string }) => {
    const envelopeId = randomUUID()
    const sealed = await sealCallSignal({
      from: uriOf(o.from),
      to: uriOf(o.addressee),
      callId: randomUUID(),
      signal: { kind: "offer", sdp: "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n" },
      at: Date.now()
    }, await ownKeyOf(o.signer), await peerKeyOf(o.to), envelopeId)
    return { envelopeId, text: sealed.text }
  }

  interface Rejection {
    readonly reason: string
    readonly detail: string
    readonly claimed_id: string | null
  }
  const quarantineOf = async (who: Chatter): Promise<Array<Rejection>> => {
    const r = await runCli(["quarantine", "--json", "-n", "1000"], who.env)
    expect(r.code, r.stderr).toBe(0)
    return JSON.parse(r.stdout) as Array<Rejection>
  }

  it("a forged or misaddressed offer is refused and quarantined, no call appears, the daemon keeps running; a real call still works",
    async () => {
      const pair = await newPair()
      const { alice, bob } = pair
      await startDaemon(alice)
      const bobPid = await startDaemon(bob)

      const hostile = [
        // Mallory's signature, claiming to be alice.
        { ...await offer({ signer: "mallory", from: "alice", to: "bob", addressee: "bob" }), reason: "forged_sender" },
        // Alice's, but sealed for carol and dropped into bob's inbox.
        { ...await offer({ signer: "alice", from: "alice", to: "carol", addressee: "carol" }), reason: "not_for_us" },
        // Alice's, encrypted to bob's key but addressed to carol.
        { ...await offer({ signer: "alice", from: "alice", to: "bob", addressee: "carol" }), reason: "forwarded" }
      ]
      for (const h of hostile) writeEnvelopeFile(bob.inbox, h.envelopeId, h.text)

      const rejections = await waitFor(() => quarantineOf(bob), (rs) => rs.length >= hostile.length,
        { what: "bob's quarantine to list the three refused offers", timeoutMs: 45_000, intervalMs: 200 })
      expect(rejections.map((r) => r.reason).sort()).toEqual(hostile.map((h) => h.reason).sort())
      for (const h of hostile) {
        expect(rejections.find((r) => r.claimed_id === h.envelopeId), `the rejection of ${h.reason}`)
          .toMatchObject({ reason: h.reason })
      }

      // No call, no ringing; the same daemon is still running.
      expect(await callStatus(bob)).toEqual([])
      expect(logOf(bob)).not.toContain("incoming call")
      const { status } = await daemonStatus(bob.env)
      expect(status).toMatchObject({ running: true, pid: bobPid })
      expect(isAlive(bobPid)).toBe(true)
      const accept = await runCli(["call", "accept", "alice"], bob.env)
      expect(accept.code).toBe(1)

      // The real alice can still call.
      const callId = await connectedCall(alice, bob)
      const hello = await send(alice, "bob", "the real alice")
      expect(transportsOf(alice, hello.id)).toEqual(["direct"])
      expect((await arrives(bob, hello.id)).content).toBe("the real alice")
      expect((await callStatus(bob)).map((c) => c.call_id)).toEqual([callId])
    }, 180_000)
})

describe("fallback to the file transport", () => {
  it("bob's daemon is not running: alice's call times out, and her message goes by file to bob's `skchat receive`",
    async () => {
      const { alice, bob } = await newPair("    negotiation_timeout: 2\n")
      await startDaemon(alice)

      const callId = await placeCall(alice, bob)
      const ended = await callReaches(alice, callId, "ended")
      expect(ended).toMatchObject({ outcome: "timed_out", reason: "negotiation timed out", direction: "out" })
      expect(ended.connected_at).toBeNull()
      await waitFor(() => logOf(alice), (l) => l.includes(`call ${callId} with ${bob.uri} ended: timed out`),
        { what: "alice's daemon log to say the call timed out" })

      const message = await send(alice, "bob", "by file after all")
      expect(message.delivery_status).toBe("sent")
      expect(transportsOf(alice, message.id)).toEqual(["file"])

      // Bob, without a daemon, takes in the message (and the offer and hang-up signals, consumed).
      const received = await runCli(["receive", "--json"], bob.env)
      expect(received.code, received.stderr).toBe(0)
      expect(JSON.parse(received.stdout)).toMatchObject({ received: 1, rejected: 0, call_signals: 2 })
      expect(await arrives(bob, message.id)).toMatchObject({ sender: alice.uri, content: "by file after all", verified: true })
      expect((await daemonStatus(alice.env)).status.running).toBe(true)
    }, 120_000)

  it("both daemons answer but no channel can open (alice on 127.0.0.1, bob on ::1): the call ends unconnected on both sides, and messages go by file",
    async () => {
      const { alice, bob } = await newPair("    auto_accept: true\n    negotiation_timeout: 6\n")
      // Bob's connection only has an IPv6 loopback candidate, alice's only an IPv4 one: the offer and the
      // answer go through, but ICE has no pair of addresses to check, so no data channel ever opens.
      writeFileSync(join(bob.dataDir, "config.yml"), fileTransportConfig(bob.uri, bob.inbox, bob.outbox,
        "  webrtc:\n    bind_address: \"::1\"\n    auto_accept: true\n    negotiation_timeout: 6\n"))
      await startDaemon(alice)
      await startDaemon(bob)

      const callId = await placeCall(alice, bob)
      // Bob's daemon answered at once (auto-accept) and alice has the answer: the signals went through, and
      // both sides are trying to connect.
      await callsWhen(alice, `call ${callId} to be connecting`,
        (cs) => cs.some((c) => c.call_id === callId && c.negotiation === "negotiating.connecting"))
      expect(logOf(bob)).toContain(`incoming call ${callId} from ${alice.uri}`)
      const aliceEnd = await callReaches(alice, callId, "ended")
      expect(aliceEnd).toMatchObject({ direction: "out", connected_at: null })
      expect(["timed_out", "failed"]).toContain(aliceEnd.outcome)
      const bobEnd = await callReaches(bob, callId, "ended")
      expect(bobEnd).toMatchObject({ direction: "in", connected_at: null })
      expect(["timed_out", "failed", "remote_hung_up"]).toContain(bobEnd.outcome)

      const message = await send(alice, "bob", "the channel never opened")
      expect(message.delivery_status).toBe("sent")
      expect(transportsOf(alice, message.id)).toEqual(["file"])
      expect(await arrives(bob, message.id)).toMatchObject({ content: "the channel never opened", verified: true })
      const reply = await send(bob, "alice", "so we write by file")
      expect(transportsOf(bob, reply.id)).toEqual(["file"])
      expect((await arrives(alice, reply.id)).content).toBe("so we write by file")
      for (const who of [alice, bob]) expect((await daemonStatus(who.env)).status.running).toBe(true)
    }, 120_000)

  it("bob never accepts: the call times out on both sides, and messages go by file", async () => {
    const { alice, bob } = await newPair("    negotiation_timeout: 2\n")
    await startDaemon(alice)
    await startDaemon(bob)

    const callId = await placeCall(alice, bob)
    const aliceEnd = await callReaches(alice, callId, "ended")
    expect(aliceEnd).toMatchObject({ outcome: "timed_out", direction: "out" })
    // Bob's side rang, then ended: by its own deadline or by alice's hang-up, whichever came first.
    const bobEnd = await callReaches(bob, callId, "ended")
    expect(bobEnd).toMatchObject({ direction: "in", connected_at: null })
    expect(["timed_out", "remote_hung_up"]).toContain(bobEnd.outcome)
    const late = await runCli(["call", "accept", "alice"], bob.env)
    expect(late.code).toBe(1)

    const message = await send(alice, "bob", "no call, still delivered")
    expect(transportsOf(alice, message.id)).toEqual(["file"])
    expect((await arrives(bob, message.id)).content).toBe("no call, still delivered")
  }, 120_000)
})

describe("call command errors", () => {
  it("say what is wrong in one line, exit 1, no stack trace", async () => {
    const { alice, bob } = await newPair()

    // Without a daemon: nobody to make the call.
    const noDaemon = await runCli(["call", "bob"], alice.env)
    expect(noDaemon.code).toBe(1)
    expect(noDaemon.stdout).toBe("")
    expect(oneLine(noDaemon.stderr)).toMatch(/^skchat: no daemon is running for /)
    const noDaemonAccept = await runCli(["call", "accept", "bob"], alice.env)
    expect(noDaemonAccept.code).toBe(1)
    expect(oneLine(noDaemonAccept.stderr)).toMatch(/^skchat: no daemon is running/)
    // The calls projection is read without a daemon.
    expect(await callStatus(alice)).toEqual([])

    await startDaemon(bob)
    const nothingRinging = await runCli(["call", "accept", "alice"], bob.env)
    expect(nothingRinging.code).toBe(1)
    expect(nothingRinging.stdout).toBe("")
    const line = oneLine(nothingRinging.stderr)
    expect(line).toMatch(/^skchat: /)
    expect(line).toContain(alice.uri)
    expect(nothingRinging.stderr).not.toMatch(/\n\s+at /)

    const noCall = await runCli(["call", "hangup", "alice"], bob.env)
    expect(noCall.code).toBe(1)
    expect(oneLine(noCall.stderr)).toMatch(/^skchat: /)
    expect(noCall.stderr).not.toMatch(/\n\s+at /)

    // The daemon answered the refusals and is still there.
    expect((await daemonStatus(bob.env)).status.running).toBe(true)
    expect(await callStatus(bob)).toEqual([])
  }, 90_000)
})

describe("daemons and their calls", () => {
  it("`daemon stop` on both sides of a connected call: the call is ended on both, no process is left", async () => {
    const { alice, bob } = await newPair()
    const alicePid = await startDaemon(alice)
    const bobPid = await startDaemon(bob)
    const callId = await connectedCall(alice, bob)

    const [stopA, stopB] = await Promise.all([
      runCli(["daemon", "stop"], alice.env),
      runCli(["daemon", "stop"], bob.env)
    ])
    expect(stopA.code, stopA.stderr).toBe(0)
    expect(stopB.code, stopB.stderr).toBe(0)
    await waitGone(alicePid)
    await waitGone(bobPid)
    expect(isAlive(alicePid)).toBe(false)
    expect(isAlive(bobPid)).toBe(false)

    const ended = (peer: string) =>
      new RegExp(`^\\S+ call ${callId} with ${peer.replaceAll(".", "\\.")} ended: `, "m")
    expect(logOf(alice)).toMatch(ended(bob.uri))
    expect(logOf(bob)).toMatch(ended(alice.uri))
    for (const who of [alice, bob]) {
      expect(logOf(who)).toMatch(/ stopping \(signal received\)$/m)
      const call = (await callStatus(who)).find((c) => c.call_id === callId)
      expect(call?.state, `${who.name}'s call after the daemons stopped`).toBe("ended")
      expect(call?.outcome).not.toBe("interrupted")
    }
  }, 120_000)

  it("SIGKILL of alice's daemon mid-call: bob's call fails; alice's restarted daemon records hers interrupted",
    async () => {
      const { alice, bob } = await newPair()
      const alicePid = await startDaemon(alice)
      await startDaemon(bob)
      const callId = await connectedCall(alice, bob)

      process.kill(alicePid, "SIGKILL")
      await waitGone(alicePid)

      // Nothing told bob: his side finds the channel gone.
      const bobEnd = await callReaches(bob, callId, "ended", 120_000)
      expect(bobEnd.outcome).toBe("failed")
      expect(bobEnd.reason).toMatch(/channel closed|connection (failed|was lost)/)

      // Alice's log still holds the call open; her next daemon ends it as interrupted.
      expect((await callStatus(alice)).find((c) => c.call_id === callId)?.state).toBe("connected")
      await startDaemon(alice)
      const aliceEnd = await callReaches(alice, callId, "ended")
      expect(aliceEnd).toMatchObject({ outcome: "interrupted", direction: "out" })
      expect((await daemonStatus(alice.env)).status.running).toBe(true)

      // Mail still flows between them, by file.
      const message = await send(alice, "bob", "back after the crash")
      expect(transportsOf(alice, message.id)).toEqual(["file"])
      expect((await arrives(bob, message.id)).content).toBe("back after the crash")
    }, 240_000)
})
