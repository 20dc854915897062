import { afterEach, describe, expect, it, vi } from "vitest"
import { type Actor, createActor } from "xstate"
import { CALL_ATTEMPTS, type CallEvent, callMachine, offerWins } from "../src/actors/call-machine.js"

/**
 * The call negotiation machine on its own (issue #6): what it decides and which host actions it asks for, for
 * callers, callees, auto-accept, glare between two machines wired to each other, hang-ups, failures and the
 * negotiation deadline (by timer, and by a clock reading for an actor resumed without its timer).
 */

const ALICE = "capauth:alice@skworld.io"
const BOB = "capauth:bob@skworld.io"
const T0 = 1_800_000_000_000

interface Host {
  readonly actor: Actor<typeof callMachine>
  readonly calls: Array<string>
}

/** A call actor whose host actions are recorded (`sendOffer:<callId>` and so on). */
const start = (me: string, peer: string, options: { autoAccept?: boolean; negotiationMs?: number } = {},
  wire?: (action: string, callId: string | null) => void): Host => {
  const calls: Array<string> = []
  // `name:callId`, and `#attempt` after it from the second connection of a call on.
  const record = (name: string) => ({ context }: { context: { callId: string | null; attempt: number } }) => {
    calls.push(`${name}:${context.callId ?? ""}${context.attempt > 0 ? `#${context.attempt}` : ""}`)
    wire?.(name, context.callId)
  }
  const actor = createActor(callMachine.provide({
    actions: {
      sendOffer: record("sendOffer"),
      sendAnswer: record("sendAnswer"),
      sendHangup: record("sendHangup"),
      askRetry: record("askRetry"),
      release: record("release")
    }
  }), { input: { me, peer, now: T0, ...options } }).start()
  return { actor, calls }
}

const state = (h: Host) => h.actor.getSnapshot().value
const context = (h: Host) => h.actor.getSnapshot().context

afterEach(() => {
  vi.useRealTimers()
})

describe("the call machine", () => {
  it("caller: offers, ignores an answer to another call, connects, hangs up", () => {
    const alice = start(ALICE, BOB)
    alice.actor.send({ type: "CALL", callId: "call-1", now: T0 })
    expect(state(alice)).toEqual({ negotiating: "offering" })
    expect(context(alice)).toMatchObject({ callId: "call-1", role: "caller", deadline: T0 + 15_000 })
    alice.actor.send({ type: "ANSWER", callId: "call-other" })
    expect(state(alice)).toEqual({ negotiating: "offering" })
    alice.actor.send({ type: "ANSWER", callId: "call-1" })
    expect(state(alice)).toEqual({ negotiating: "connecting" })
    alice.actor.send({ type: "CONNECTED" })
    expect(state(alice)).toBe("connected")
    expect(context(alice).deadline).toBeNull()
    alice.actor.send({ type: "HANGUP" })
    expect(state(alice)).toBe("closed")
    expect(context(alice).reason).toBe("hung up")
    expect(alice.calls).toEqual(["sendOffer:call-1", "sendHangup:call-1", "release:call-1"])
  })

  it("callee: rings until accepted, answers, and closes when the caller hangs up (not on another call's hang-up)", () => {
    const bob = start(BOB, ALICE)
    bob.actor.send({ type: "OFFER", callId: "call-1", now: T0 })
    expect(state(bob)).toEqual({ negotiating: "answering" })
    expect(bob.calls).toEqual([])
    bob.actor.send({ type: "ACCEPT", now: T0 + 10 })
    expect(state(bob)).toEqual({ negotiating: "connecting" })
    bob.actor.send({ type: "CONNECTED" })
    bob.actor.send({ type: "REMOTE_HANGUP", callId: "call-2" })
    expect(state(bob)).toBe("connected")
    bob.actor.send({ type: "REMOTE_HANGUP", callId: "call-1" })
    expect(state(bob)).toBe("closed")
    expect(context(bob).reason).toBe("the peer hung up")
    expect(bob.calls).toEqual(["sendAnswer:call-1", "release:call-1"])
  })

  it("auto-accept answers an offer at once", () => {
    const bob = start(BOB, ALICE, { autoAccept: true })
    bob.actor.send({ type: "OFFER", callId: "call-1", now: T0 })
    expect(state(bob)).toEqual({ negotiating: "connecting" })
    expect(bob.calls).toEqual(["sendAnswer:call-1"])
  })

  it("glare: both call at once and both settle on the same call, with one answer, whichever URI sorts first", () => {
    for (const [first, second] of [[ALICE, BOB], [BOB, ALICE]] as const) {
      // Two machines wired to each other: what one sends, the other receives (after both have called).
      const inFlight: Array<{ to: "one" | "two"; event: CallEvent }> = []
      const one: Host = start(first, second, {}, (action, callId) => {
        if (action === "sendOffer") inFlight.push({ to: "two", event: { type: "OFFER", callId: callId!, now: T0 } })
        if (action === "sendAnswer") inFlight.push({ to: "two", event: { type: "ANSWER", callId: callId! } })
      })
      const two: Host = start(second, first, {}, (action, callId) => {
        if (action === "sendOffer") inFlight.push({ to: "one", event: { type: "OFFER", callId: callId!, now: T0 } })
        if (action === "sendAnswer") inFlight.push({ to: "one", event: { type: "ANSWER", callId: callId! } })
      })
      one.actor.send({ type: "CALL", callId: `call-of-${first}`, now: T0 })
      two.actor.send({ type: "CALL", callId: `call-of-${second}`, now: T0 })
      while (inFlight.length > 0) {
        const { to, event } = inFlight.shift()!
        ;(to === "one" ? one : two).actor.send(event)
      }
      const winner = offerWins(first, second) ? first : second
      for (const h of [one, two]) {
        expect(state(h)).toEqual({ negotiating: "connecting" })
        expect(context(h).callId).toBe(`call-of-${winner}`)
      }
      const answers = [...one.calls, ...two.calls].filter((c) => c.startsWith("sendAnswer"))
      expect(answers).toEqual([`sendAnswer:call-of-${winner}`])
      const callee = context(one).role === "callee" ? one : two
      expect(context(callee).me).not.toBe(winner)
    }
  })

  it("times out a negotiation at its deadline, and releases the connection", () => {
    vi.useFakeTimers()
    const alice = start(ALICE, BOB, { negotiationMs: 1000 })
    alice.actor.send({ type: "CALL", callId: "call-1", now: T0 })
    alice.actor.send({ type: "ANSWER", callId: "call-1" })
    // Moving from offering to connecting does not restart the clock: one deadline for the negotiation.
    vi.advanceTimersByTime(999)
    expect(state(alice)).toEqual({ negotiating: "connecting" })
    vi.advanceTimersByTime(1)
    expect(state(alice)).toBe("timedOut")
    expect(context(alice).reason).toBe("negotiation timed out")
    expect(alice.calls).toEqual(["sendOffer:call-1", "sendHangup:call-1", "release:call-1"])
  })

  it("times out by a clock reading past the deadline (a resumed actor without its timer), never once connected", () => {
    const alice = start(ALICE, BOB, { negotiationMs: 1000 })
    alice.actor.send({ type: "CALL", callId: "call-1", now: T0 })
    alice.actor.send({ type: "CLOCK", now: T0 + 999 })
    expect(state(alice)).toEqual({ negotiating: "offering" })
    alice.actor.send({ type: "CLOCK", now: T0 + 1000 })
    expect(state(alice)).toBe("timedOut")

    const bob = start(BOB, ALICE, { negotiationMs: 1000, autoAccept: true })
    bob.actor.send({ type: "OFFER", callId: "call-2", now: T0 })
    bob.actor.send({ type: "CONNECTED" })
    bob.actor.send({ type: "CLOCK", now: T0 + 60_000 })
    expect(state(bob)).toBe("connected")
  })

  it("fails with a reason; a hang-up or failure before any call changes nothing", () => {
    const idle = start(ALICE, BOB)
    idle.actor.send({ type: "HANGUP" })
    idle.actor.send({ type: "FAILED", reason: "x", attempt: 0 })
    expect(state(idle)).toBe("idle")
    expect(idle.calls).toEqual([])

    const alice = start(ALICE, BOB)
    alice.actor.send({ type: "CALL", callId: "call-1", now: T0 })
    alice.actor.send({ type: "ANSWER", callId: "call-1" })
    alice.actor.send({ type: "CONNECTED" })
    alice.actor.send({ type: "FAILED", reason: "the direct connection was lost", attempt: 0 })
    expect(state(alice)).toBe("failed")
    expect(context(alice).reason).toBe("the direct connection was lost")
    expect(alice.calls).toEqual(["sendOffer:call-1", "release:call-1"])
  })

  it("caller: a connection that fails before connecting is made again, up to CALL_ATTEMPTS; then the call fails and the peer is told", () => {
    expect(CALL_ATTEMPTS).toBe(3)
    const alice = start(ALICE, BOB)
    alice.actor.send({ type: "CALL", callId: "call-1", now: T0 })
    alice.actor.send({ type: "ANSWER", callId: "call-1" })
    alice.actor.send({ type: "FAILED", reason: "the direct connection failed", attempt: 0 })
    expect(state(alice)).toEqual({ negotiating: "offering" })
    expect(context(alice)).toMatchObject({ attempt: 1, reason: null, deadline: T0 + 15_000 })
    // What belongs to the first connection no longer counts: its answer, its failure, the peer's retry request.
    alice.actor.send({ type: "ANSWER", callId: "call-1", attempt: 0 })
    alice.actor.send({ type: "FAILED", reason: "late", attempt: 0 })
    alice.actor.send({ type: "RETRY", callId: "call-1", attempt: 0 })
    expect(state(alice)).toEqual({ negotiating: "offering" })
    expect(context(alice).attempt).toBe(1)
    // The peer's connection failed this time: it asks, and the third connection is made.
    alice.actor.send({ type: "ANSWER", callId: "call-1", attempt: 1 })
    expect(state(alice)).toEqual({ negotiating: "connecting" })
    alice.actor.send({ type: "RETRY", callId: "call-1", attempt: 1 })
    expect(state(alice)).toEqual({ negotiating: "offering" })
    alice.actor.send({ type: "FAILED", reason: "the direct connection failed", attempt: 2 })
    expect(state(alice)).toBe("failed")
    expect(context(alice).reason).toBe("the direct connection failed")
    expect(alice.calls).toEqual(["sendOffer:call-1", "sendOffer:call-1#1", "sendOffer:call-1#2", "sendHangup:call-1#2",
      "release:call-1#2"])

    // The peer asking once more than there are attempts ends it too.
    const again = start(ALICE, BOB)
    again.actor.send({ type: "CALL", callId: "call-2", now: T0 })
    for (const attempt of [0, 1, 2]) again.actor.send({ type: "RETRY", callId: "call-2", attempt })
    expect(state(again)).toBe("failed")
    expect(context(again).reason).toBe("the direct connection failed on the peer's side")
  })

  it("callee: a connection that fails before connecting asks the caller for a new offer and answers it; older offers are ignored", () => {
    const bob = start(BOB, ALICE)
    bob.actor.send({ type: "OFFER", callId: "call-1", now: T0 })
    // Still ringing when the caller starts over: the newer offer is the one answered on accept.
    bob.actor.send({ type: "OFFER", callId: "call-1", now: T0, attempt: 1 })
    expect(state(bob)).toEqual({ negotiating: "answering" })
    bob.actor.send({ type: "ACCEPT", now: T0 })
    bob.actor.send({ type: "FAILED", reason: "the direct connection failed", attempt: 1 })
    expect(state(bob)).toEqual({ negotiating: "connecting" })
    bob.actor.send({ type: "OFFER", callId: "call-1", now: T0, attempt: 1 })
    bob.actor.send({ type: "OFFER", callId: "call-other", now: T0, attempt: 2 })
    expect(context(bob).attempt).toBe(1)
    bob.actor.send({ type: "OFFER", callId: "call-1", now: T0, attempt: 2 })
    expect(context(bob)).toMatchObject({ callId: "call-1", attempt: 2, deadline: T0 + 15_000 })
    bob.actor.send({ type: "CONNECTED" })
    expect(state(bob)).toBe("connected")
    expect(bob.calls).toEqual(["sendAnswer:call-1#1", "askRetry:call-1#1", "sendAnswer:call-1#2"])

    // Out of attempts, the callee's failure ends the call.
    const last = start(BOB, ALICE, { autoAccept: true })
    last.actor.send({ type: "OFFER", callId: "call-3", now: T0, attempt: 2 })
    last.actor.send({ type: "FAILED", reason: "the direct connection failed", attempt: 2 })
    expect(state(last)).toBe("failed")
  })
})
