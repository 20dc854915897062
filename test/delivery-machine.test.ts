import { expect, it as effectIt } from "@effect/vitest"
import { Effect, TestClock } from "effect"
import { afterEach, beforeEach, describe, it } from "vitest"
import { createActor, fromPromise, SimulatedClock, waitFor } from "xstate"
import { ChatSystem } from "../src/actors/chat-system.js"
import { type AttemptFailure, deliveryMachine } from "../src/actors/delivery-machine.js"
import { SKCOMM_RETRY_BACKOFF } from "../src/domain/envelope.js"
import { ChatHistory, historyLayer } from "../src/entrypoints/chat-history.js"
import { provisionStore } from "./support/identities.js"
import { makeTempHome, type TempHome } from "./support/temp-home.js"

const ME = "capauth:me@skworld.io"
const BOB = "capauth:bob@skworld.io"

interface Attempt {
  readonly messageId: string
  readonly attempt: number
}

/** A delivery machine whose transport call is `deliver`, recording every attempt it is asked to make. */
const withDeliver = (deliver: (input: Attempt) => Promise<void>) => {
  const attempts: Array<Attempt> = []
  const machine = deliveryMachine.provide({
    actors: {
      deliver: fromPromise<void, Attempt>(({ input }) => {
        attempts.push(input)
        return deliver(input)
      })
    }
  })
  return { machine, attempts }
}

/** Lets the promise actors settle (they resolve on the microtask queue, no real time involved). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve))

describe("delivery machine", () => {
  it("with no transport, ATTEMPT leaves the message pending (in the outbox)", () => {
    const { machine, attempts } = withDeliver(() => Promise.resolve())
    const actor = createActor(machine, { input: { messageId: "m1", transports: 0 } }).start()
    expect(actor.getSnapshot().value).toBe("pending")
    actor.send({ type: "ATTEMPT" })
    actor.send({ type: "ATTEMPT" })
    expect(actor.getSnapshot().value).toBe("pending")
    expect(actor.getSnapshot().context.attempt).toBe(0)
    expect(attempts).toEqual([])
  })

  it("resumes a retry from the deadline in the log: waits deadline - now, not a fresh backoff", async () => {
    const { machine, attempts } = withDeliver(() => Promise.resolve())
    const clock = new SimulatedClock()
    const actor = createActor(machine, {
      clock,
      input: { messageId: "m1", transports: 1, attempt: 2, nextAttemptAt: 50_000, now: 47_000 }
    }).start()
    expect(actor.getSnapshot().value).toBe("backingOff")
    clock.increment(2_999)
    expect(actor.getSnapshot().value).toBe("backingOff")
    expect(attempts).toEqual([])
    clock.increment(1)
    await waitFor(actor, (s) => s.matches("sent"))
    expect(attempts).toEqual([{ messageId: "m1", attempt: 3 }])
  })

  it("a deadline already past on resume retries at once", async () => {
    const { machine, attempts } = withDeliver(() => Promise.resolve())
    const clock = new SimulatedClock()
    const actor = createActor(machine, {
      clock,
      input: { messageId: "m1", transports: 1, nextAttemptAt: 10_000, now: 99_000 }
    }).start()
    clock.increment(0)
    await waitFor(actor, (s) => s.matches("sent"))
    expect(attempts).toHaveLength(1)
  })

  it("receipts before anything was sent are ignored", () => {
    const actor = createActor(deliveryMachine, { input: { messageId: "m1", transports: 0 } }).start()
    actor.send({ type: "DELIVERED" })
    actor.send({ type: "READ" })
    expect(actor.getSnapshot().value).toBe("pending")
  })

  it("a transport that takes the message: sent, then delivered, then read (final)", async () => {
    const { machine, attempts } = withDeliver(() => Promise.resolve())
    const actor = createActor(machine, { input: { messageId: "m1", transports: 1 } }).start()
    actor.send({ type: "ATTEMPT" })
    expect(actor.getSnapshot().value).toBe("sending")
    await waitFor(actor, (s) => s.matches("sent"))
    expect(attempts).toEqual([{ messageId: "m1", attempt: 1 }])
    actor.send({ type: "DELIVERED" })
    expect(actor.getSnapshot().value).toBe("delivered")
    actor.send({ type: "READ" })
    expect(actor.getSnapshot().value).toBe("read")
    expect(actor.getSnapshot().status).toBe("done")
  })

  it("a read receipt that overtakes the delivery receipt goes straight to read", async () => {
    const { machine } = withDeliver(() => Promise.resolve())
    const actor = createActor(machine, { input: { messageId: "m1", transports: 1 } }).start()
    actor.send({ type: "ATTEMPT" })
    await waitFor(actor, (s) => s.matches("sent"))
    actor.send({ type: "READ" })
    expect(actor.getSnapshot().value).toBe("read")
    // Final: a late delivery receipt has nowhere to take it.
    expect(actor.getSnapshot().status).toBe("done")
  })

  it("a failed attempt backs off until at + 5 s, records why, and retries exactly then", async () => {
    const clock = new SimulatedClock()
    let fail = true
    const { machine, attempts } = withDeliver(() =>
      fail ? Promise.reject({ at: 1_000_000, reason: "relay unreachable" } satisfies AttemptFailure) : Promise.resolve()
    )
    const actor = createActor(machine, { input: { messageId: "m1", transports: 1 }, clock }).start()
    actor.send({ type: "ATTEMPT" })
    await waitFor(actor, (s) => s.matches("backingOff"))
    const context = actor.getSnapshot().context
    expect(context.nextAttemptAt).toBe(1_000_000 + 5_000)
    expect(context.clockAt).toBe(1_000_000)
    expect(context.lastError).toBe("relay unreachable")
    expect(context.attempt).toBe(1)

    fail = false
    clock.increment(4_999)
    await settle()
    expect(actor.getSnapshot().value).toBe("backingOff")
    expect(attempts).toHaveLength(1)

    clock.increment(1)
    await waitFor(actor, (s) => s.matches("sent"))
    expect(attempts.map((a) => a.attempt)).toEqual([1, 2])
  })

  it("backs off along SKComm's schedule and fails for good after maxAttempts", async () => {
    const clock = new SimulatedClock()
    let at = 0
    const { machine, attempts } = withDeliver(({ attempt }) =>
      Promise.reject({ at, reason: `attempt ${attempt} refused` } satisfies AttemptFailure)
    )
    const actor = createActor(machine, { input: { messageId: "m1", transports: 1, maxAttempts: 4 }, clock }).start()
    actor.send({ type: "ATTEMPT" })

    const waits: Array<number> = []
    for (let n = 1; n < 4; n++) {
      await waitFor(actor, (s) => s.matches("backingOff") && s.context.attempt === n)
      const { nextAttemptAt, clockAt } = actor.getSnapshot().context
      waits.push(nextAttemptAt! - clockAt!)
      // Not a millisecond early.
      clock.increment(nextAttemptAt! - clockAt! - 1)
      await settle()
      expect(attempts).toHaveLength(n)
      at = nextAttemptAt!
      clock.increment(1)
    }
    await waitFor(actor, (s) => s.matches("failed"))
    expect(waits).toEqual(SKCOMM_RETRY_BACKOFF.slice(0, 3).map((s) => s * 1000))
    expect(attempts.map((a) => a.attempt)).toEqual([1, 2, 3, 4])
    expect(actor.getSnapshot().status).toBe("done")
    expect(actor.getSnapshot().context.lastError).toBe("attempt 4 refused")
    // Final: nothing more is tried.
    clock.increment(10_000_000)
    await settle()
    expect(attempts).toHaveLength(4)
  })

  it("an explicit ATTEMPT while backing off retries at once", async () => {
    const clock = new SimulatedClock()
    let fail = true
    const { machine, attempts } = withDeliver(() =>
      fail ? Promise.reject({ at: 0, reason: "offline" } satisfies AttemptFailure) : Promise.resolve()
    )
    const actor = createActor(machine, { input: { messageId: "m1", transports: 1 }, clock }).start()
    actor.send({ type: "ATTEMPT" })
    await waitFor(actor, (s) => s.matches("backingOff"))
    fail = false
    actor.send({ type: "ATTEMPT" })
    await waitFor(actor, (s) => s.matches("sent"))
    expect(attempts).toHaveLength(2)
  })

  it("the default deliver (no transport provided) fails rather than pretending to send", async () => {
    const actor = createActor(deliveryMachine, { input: { messageId: "m1", transports: 1, maxAttempts: 1 } }).start()
    actor.send({ type: "ATTEMPT" })
    await waitFor(actor, (s) => s.matches("failed"))
    expect(actor.getSnapshot().context.lastError).toBe("no transport provided")
  })
})

describe("ChatSystem.send with no transport configured", () => {
  let temp: TempHome
  beforeEach(async () => {
    temp = makeTempHome()
    await provisionStore(temp, ME)
  })
  afterEach(() => temp.remove())

  effectIt.effect("stores the message as pending and leaves it in the outbox", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.parse("2026-11-24T00:00:00Z"))
      const chat = yield* ChatSystem
      const history = yield* ChatHistory
      const first = yield* chat.send({ recipient: BOB, content: "waiting for a transport" })
      yield* TestClock.adjust("1 second")
      const second = yield* chat.send({ recipient: BOB, content: "me too" })
      expect(first.message.delivery_status).toBe("pending")
      expect(first.message.sender).toBe(ME)

      const outbox = yield* history.outbox()
      // Oldest first: the order they will go out.
      expect(outbox.map((m) => m.id)).toEqual([first.message.id, second.message.id])
      expect(outbox.every((m) => m.delivery_status === "pending" && m.direction === "out")).toBe(true)
      expect((yield* history.get(first.message.id))?.delivery_status).toBe("pending")
      // Outgoing messages are not in the inbox.
      expect(yield* history.inbox()).toEqual([])
    }).pipe(Effect.provide(historyLayer({ home: temp.home, dataDir: temp.dataDir, identity: ME }))))
})
