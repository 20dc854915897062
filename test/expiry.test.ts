import { useTempStore } from "./support/temp-store.js"
import { expect, it } from "@effect/vitest"
import { Effect, TestClock } from "effect"
import { join } from "node:path"
import { describe } from "vitest"
import { createActor, SimulatedClock } from "xstate"
import { ChatSystem } from "../src/actors/chat-system.js"
import { expiryMachine } from "../src/actors/expiry-machine.js"
import { ChatHistory } from "../src/entrypoints/chat-history.js"
import { ChatQueries } from "../src/projections/chat-queries.js"
import { filesContaining } from "./support/temp-home.js"

/** Message rows (projection) of the given message ids. */
const ROWS_WITH_IDS =
  "SELECT count(*) FROM messages m JOIN events e ON e.seq = m.rowid WHERE e.message_id IN (?, ?)"

const ME = "capauth:me@skworld.io"
const BOB = "capauth:bob@skworld.io"
const START = Date.parse("2026-11-24T00:00:00Z")

/** Words that occur nowhere else, so a byte scan of the data dir finds exactly these messages. */
const SECRET = "zanzibarquokka"
const SECRET_IN = "marmalodeon"
const KEPT = "platypusfjord"

const store = useTempStore(ME)

const { layer, withRaw } = store


/** Terms the full-text index still holds, read through a temporary fts5vocab table (nothing written to the file). */
const indexedTerms = () =>
  withRaw((db) => {
    db.exec("CREATE VIRTUAL TABLE temp.vocab USING fts5vocab(main, messages_fts, 'row')")
    return db.prepare("SELECT term FROM temp.vocab").pluck().all() as Array<string>
  })

/** Sends the TTL message and stores the other two, at START. */
const storeMessages = Effect.gen(function*() {
  yield* TestClock.setTime(START)
  const history = yield* ChatHistory
  const secret = yield* history.send({ recipient: BOB, content: `the ${SECRET} code is 4711`, ttl: 60 })
  const incomingId = yield* history.storeMessage({
    id: "in-ttl",
    sender: BOB,
    recipient: ME,
    content: `${SECRET_IN} burns after reading`,
    timestamp: new Date(START).toISOString(),
    ttl: 60
  })
  const kept = yield* history.send({ recipient: BOB, content: `${KEPT} stays forever` })
  return { secret, incomingId, kept }
})

describe("TTL expiry under the test clock", () => {
  it.effect("a TTL message is listed before its deadline", () =>
    Effect.gen(function*() {
      const { secret, incomingId } = yield* storeMessages
      const history = yield* ChatHistory
      yield* TestClock.adjust("59 seconds")

      expect(secret.ttl).toBe(60)
      expect((yield* history.conversation(BOB)).map((m) => m.id)).toContain(secret.id)
      expect((yield* history.inbox()).map((m) => m.id)).toContain(incomingId)
      expect((yield* history.search(SECRET)).map((m) => m.id)).toEqual([secret.id])
      expect((yield* history.search(SECRET_IN)).map((m) => m.id)).toEqual([incomingId])
      const got = yield* history.get(secret.id)
      expect(got?.content).toBe(`the ${SECRET} code is 4711`)
      expect(got?.expires_at).toBe(new Date(START + 60_000).toISOString())
      expect((yield* history.outbox()).map((m) => m.id)).toContain(secret.id)
      // Reads ran the sweep: nothing was due yet.
      expect(withRaw((db) => db.prepare("SELECT count(*) FROM events WHERE type = 'MessageExpired'").pluck().get()))
        .toBe(0)
    }).pipe(Effect.provide(layer())))

  it.effect("past the deadline the queries hide it even before any sweep has run", () =>
    Effect.gen(function*() {
      const { secret, incomingId, kept } = yield* storeMessages
      const queries = yield* ChatQueries
      const later = START + 61_000

      // No sweep yet: the row is still in the table...
      expect(withRaw((db) => db.prepare(ROWS_WITH_IDS).pluck().get(secret.id,
        incomingId))).toBe(2)
      // ...and no query shows it.
      const everywhere = [
        ...queries.inbox(later, 100),
        ...queries.conversation(later, BOB, 100),
        ...queries.outbox(later, 100),
        ...queries.search(later, SECRET, 100),
        ...queries.search(later, SECRET_IN, 100),
        ...queries.search(later, "code burns reading", 100)
      ].map((m) => m.id)
      expect(everywhere).not.toContain(secret.id)
      expect(everywhere).not.toContain(incomingId)
      expect(queries.byId(later, secret.id)).toBeUndefined()
      expect(queries.byId(later, incomingId)).toBeUndefined()
      // The deadline itself is already too late.
      expect(queries.byId(START + 60_000, secret.id)).toBeUndefined()
      expect(queries.byId(START + 59_999, secret.id)?.id).toBe(secret.id)
      // The message without TTL is unaffected.
      expect(queries.byId(later, kept.id)?.content).toBe(`${KEPT} stays forever`)
      expect(queries.conversation(later, BOB, 100).map((m) => m.id)).toEqual([kept.id])
    }).pipe(Effect.provide(layer())))

  it.effect("after the clock passes the deadline, no ChatHistory read ever shows it", () =>
    Effect.gen(function*() {
      const { secret, incomingId, kept } = yield* storeMessages
      const history = yield* ChatHistory
      yield* TestClock.adjust("61 seconds")

      expect((yield* history.inbox()).map((m) => m.id)).not.toContain(incomingId)
      expect((yield* history.conversation(BOB)).map((m) => m.id)).toEqual([kept.id])
      expect(yield* history.search(SECRET)).toEqual([])
      expect(yield* history.search(SECRET_IN)).toEqual([])
      expect(yield* history.get(secret.id)).toBeUndefined()
      expect(yield* history.get(incomingId)).toBeUndefined()
      expect((yield* history.outbox()).map((m) => m.id)).toEqual([kept.id])
      expect((yield* history.search(KEPT)).map((m) => m.id)).toEqual([kept.id])
    }).pipe(Effect.provide(layer())))

  it.effect("expireDue logs MessageExpired, shreds the key and leaves the text in no file", () =>
    Effect.gen(function*() {
      const { secret, incomingId } = yield* Effect.scoped(Effect.gen(function*() {
        const stored = yield* storeMessages
        const chat = yield* ChatSystem

        // Before expiry the text is really on disk, so the scan below can find it.
        expect(filesContaining(store.temp().dataDir, SECRET)).not.toEqual([])
        expect(filesContaining(store.temp().dataDir, KEPT)).not.toEqual([])
        // The log itself only ever held ciphertext for TTL messages.
        const logData = withRaw((db) => db.prepare("SELECT data FROM events").pluck().all() as Array<string>).join()
        expect(logData).not.toContain(SECRET)
        expect(logData).not.toContain(SECRET_IN)
        expect(logData).toContain(KEPT)

        yield* TestClock.adjust("59 seconds")
        expect(yield* chat.expireDue()).toBe(0)
        yield* TestClock.adjust("2 seconds")
        expect(yield* chat.expireDue()).toBe(2)
        expect(yield* chat.expireDue()).toBe(0)

        const expiredEvents = withRaw((db) =>
          (db.prepare("SELECT data FROM events WHERE type = 'MessageExpired' ORDER BY seq").pluck().all() as Array<
            string
          >).map((d) => JSON.parse(d) as { message_id: string; at: number })
        )
        expect(expiredEvents.map((e) => e.message_id).sort()).toEqual([stored.incomingId, stored.secret.id].sort())
        for (const e of expiredEvents) expect(e.at).toBe(START + 61_000)

        withRaw((db) => {
          expect(db.prepare("SELECT count(*) FROM message_keys").pluck().get()).toBe(0)
          expect(db.prepare(ROWS_WITH_IDS).pluck().get(stored.secret.id,
            stored.incomingId)).toBe(0)
          // Still known to the log, so a redelivery cannot bring it back.
          expect(db.prepare("SELECT count(*) FROM events WHERE message_id IN (?, ?)").pluck().get(stored.secret.id,
            stored.incomingId)).toBe(2)
        })
        expect(indexedTerms()).not.toContain(SECRET)
        expect(indexedTerms()).not.toContain(SECRET_IN)
        expect(indexedTerms()).toContain(KEPT)

        // With the store still open (the sweep checkpoints the WAL).
        expect(filesContaining(store.temp().dataDir, SECRET)).toEqual([])
        expect(filesContaining(store.temp().dataDir, SECRET_IN)).toEqual([])
        expect(filesContaining(store.temp().dataDir, KEPT)).not.toEqual([])
        expect(yield* chat.verify()).toBe(chat.head().seq)
        return stored
      }).pipe(Effect.provide(layer())))

      // And after the store has been closed.
      expect(filesContaining(store.temp().dataDir, SECRET)).toEqual([])
      expect(filesContaining(store.temp().dataDir, SECRET_IN)).toEqual([])
      expect(filesContaining(store.temp().dataDir, KEPT)).not.toEqual([])

      // Reopened later: still gone, and a redelivery of the same message does not resurrect it.
      yield* Effect.gen(function*() {
        const history = yield* ChatHistory
        const chat = yield* ChatSystem
        yield* TestClock.adjust("1 hour")
        expect(yield* history.get(secret.id)).toBeUndefined()
        expect(yield* chat.rebuild()).toBeGreaterThan(0)
        expect(yield* history.get(secret.id)).toBeUndefined()
        yield* history.storeMessage({
          id: incomingId,
          sender: BOB,
          recipient: ME,
          content: `${SECRET_IN} burns after reading`,
          timestamp: new Date(START + 3_000_000).toISOString()
        })
        expect(yield* history.get(incomingId)).toBeUndefined()
        expect(yield* history.search(SECRET_IN)).toEqual([])
      }).pipe(Effect.provide(layer()))
      expect(filesContaining(store.temp().dataDir, SECRET)).toEqual([])
      expect(filesContaining(store.temp().dataDir, SECRET_IN)).toEqual([])
    }))

  it.effect("a TTL message already past its deadline when it arrives is never shown and is purged", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(START)
      const history = yield* ChatHistory
      const old = "fossilwombat"
      const id = yield* history.storeMessage({
        id: "too-late",
        sender: BOB,
        recipient: ME,
        content: `${old} arrives too late`,
        timestamp: new Date(START - 3_600_000).toISOString(),
        ttl: 60
      })
      expect(yield* history.inbox()).toEqual([])
      expect(yield* history.get(id)).toBeUndefined()
      expect(yield* history.search(old)).toEqual([])
      expect(withRaw((db) => db.prepare("SELECT count(*) FROM events WHERE type = 'MessageExpired'").pluck().get()))
        .toBe(1)
      expect(filesContaining(store.temp().dataDir, old)).toEqual([])
    }).pipe(Effect.provide(layer())))

  it.effect("expiry keeps thread counts in step with what is shown", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(START)
      const history = yield* ChatHistory
      yield* history.send({ recipient: BOB, content: "stays in the thread", threadId: "t-exp" })
      yield* history.send({ recipient: BOB, content: "leaves the thread", threadId: "t-exp", ttl: 10 })
      expect((yield* history.threads()).find((t) => t.id === "t-exp")?.message_count).toBe(2)
      yield* TestClock.adjust("11 seconds")
      expect((yield* history.threads()).find((t) => t.id === "t-exp")?.message_count).toBe(1)
    }).pipe(Effect.provide(layer())))
})

describe("the expiry machine on a simulated clock", () => {
  const run = (input: { readonly deadline: number; readonly now: number }) => {
    const clock = new SimulatedClock()
    const purged: Array<string> = []
    const machine = expiryMachine.provide({ actions: { purge: ({ context }) => void purged.push(context.messageId) } })
    const actor = createActor(machine, { input: { messageId: "m1", ...input }, clock }).start()
    return { clock, purged, actor }
  }

  it("purges exactly at the deadline, not a millisecond before", () => {
    const { clock, purged, actor } = run({ now: 1_000, deadline: 61_000 })
    expect(actor.getSnapshot().value).toBe("live")
    clock.increment(59_999)
    expect(actor.getSnapshot().value).toBe("live")
    expect(purged).toEqual([])
    clock.increment(1)
    expect(actor.getSnapshot().value).toBe("expired")
    expect(actor.getSnapshot().status).toBe("done")
    expect(purged).toEqual(["m1"])
    clock.increment(1_000_000)
    expect(purged).toEqual(["m1"])
  })

  it("expires at once when the deadline has already passed at start", () => {
    const { purged, actor } = run({ now: 120_000, deadline: 61_000 })
    expect(actor.getSnapshot().value).toBe("expired")
    expect(actor.getSnapshot().status).toBe("done")
    expect(purged).toEqual(["m1"])
  })

  it("expires at once when it starts exactly at the deadline", () => {
    const { purged, actor } = run({ now: 61_000, deadline: 61_000 })
    expect(actor.getSnapshot().value).toBe("expired")
    expect(purged).toEqual(["m1"])
  })

  it("a CLOCK reading before the deadline changes nothing; one at the deadline expires it", () => {
    const { purged, actor } = run({ now: 1_000, deadline: 61_000 })
    actor.send({ type: "CLOCK", now: 60_999 })
    expect(actor.getSnapshot().value).toBe("live")
    expect(purged).toEqual([])
    actor.send({ type: "CLOCK", now: 61_000 })
    expect(actor.getSnapshot().value).toBe("expired")
    expect(purged).toEqual(["m1"])
  })

  it("a stopped actor never purges (its timer is cancelled)", () => {
    const { clock, purged, actor } = run({ now: 1_000, deadline: 61_000 })
    actor.stop()
    clock.increment(120_000)
    expect(purged).toEqual([])
  })

  it("a restarted actor takes its delay from the logged deadline, not from a fresh TTL", () => {
    // Started 50 s after the message was written: 10 s are left, not 60.
    const { clock, purged } = run({ now: 51_000, deadline: 61_000 })
    clock.increment(9_999)
    expect(purged).toEqual([])
    clock.increment(1)
    expect(purged).toEqual(["m1"])
  })
})
