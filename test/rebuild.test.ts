import { useTempStore } from "./support/temp-store.js"
import { expect, it } from "@effect/vitest"
import { Effect, Either, TestClock } from "effect"
import { describe } from "vitest"
import { ChatSystem } from "../src/actors/chat-system.js"
import { makeContentVault } from "../src/adapters/content-vault.js"
import { chainHash, makeEventLog } from "../src/adapters/event-log.js"
import type { ChatEvent } from "../src/domain/chat-event.js"
import { type ChatMessage, decodeChatMessage } from "../src/domain/chat-message.js"
import { ChatQueries } from "../src/projections/chat-queries.js"
import { makeProjector } from "../src/projections/projector.js"

const ME = "capauth:me@skworld.io"
const BOB = "capauth:bob@skworld.io"
const ALICE = "capauth:alice@skworld.io"
const START = Date.parse("2026-11-24T00:00:00Z")

/** Every table a projection owns (projection.ts `tables`) plus the checkpoints. */
const PROJECTION_TABLES = ["messages", "threads", "thread_participants", "peer_keys", "rejections", "projection_checkpoints"]
const SEARCH_WORDS = ["hello", "ephemeral", "lasting", "vanishing", "kick*", "deploy", "report", "status", "nothinghere"]

const store = useTempStore(ME)

const { layer, withRaw } = store


/** Every row of each table; message rows also carry their message id (from their event) to name them. */
const dumpTables = (tables: ReadonlyArray<string>) =>
  withRaw((db) =>
    Object.fromEntries(tables.map((t) => [
      t,
      db.prepare(
        t === "messages"
          ? "SELECT m.*, e.message_id AS id FROM messages m JOIN events e ON e.seq = m.rowid ORDER BY 1, 2"
          : `SELECT * FROM ${t} ORDER BY 1, 2`
      ).all()
    ]))
  )

/** Appends a raw row that extends the chain properly, as a newer skchat would write it. Returns its seq. */
const appendChainedRow = (type: string, v: number, id: string, data: string, recordedAt: number): number =>
  withRaw((db) => {
    const head = db.prepare("SELECT seq, hash FROM log_head WHERE one = 1").get() as { seq: number; hash: string }
    const seq = head.seq + 1
    const hash = chainHash(head.hash, seq, id, type, v, recordedAt, data)
    db.transaction(() => {
      db.prepare("INSERT INTO events (seq, id, type, v, recorded_at, data, hash) VALUES (?, ?, ?, ?, ?, ?, ?)")
        .run(seq, id, type, v, recordedAt, data, hash)
      db.prepare("UPDATE log_head SET seq = ?, hash = ? WHERE one = 1").run(seq, hash)
    }).immediate()
    return seq
  })

const ftsIntegrity = () =>
  withRaw((db) => db.prepare("INSERT INTO messages_fts (messages_fts) VALUES ('integrity-check')").run())

const searchAll = (now: number) =>
  Effect.map(ChatQueries, (q) => Object.fromEntries(SEARCH_WORDS.map((w) => [w, q.search(now, w, 100)])))

const wire = (fields: Record<string, unknown>): ChatMessage => {
  const decoded = decodeChatMessage({
    sender: BOB,
    recipient: ME,
    timestamp: new Date(START).toISOString(),
    ...fields
  })
  if (Either.isLeft(decoded)) throw new Error(`test message does not decode: ${JSON.stringify(fields)}`)
  return decoded.right
}

/**
 * Receipts arrive through the delivery side, which ChatSystem does not expose yet: append them the way
 * ChatSystem does (log + projector in one immediate transaction) over a second connection.
 */
const appendReceipts = (events: ReadonlyArray<ChatEvent>, now: number) =>
  withRaw((db) => {
    const log = makeEventLog(db)
    const projector = makeProjector(db, { openBody: makeContentVault(db).open })
    db.transaction(() => projector.apply(log.append(events, now))).immediate()
  })

/** A realistic store: both directions, threads, receipts, an expired and a live TTL message. */
const storeMix = Effect.gen(function*() {
  yield* TestClock.setTime(START)
  const chat = yield* ChatSystem
  const tick = TestClock.adjust("1 second")

  const plain = yield* chat.send({ recipient: BOB, content: "hello bob, plain and simple" })
  yield* tick
  const kickoff = yield* chat.send({ recipient: BOB, content: "kickoff for the deploy", threadId: "proj-x" })
  yield* tick
  yield* chat.recordAll([
    // In the thread we started, replying with the legacy alias.
    wire({ id: "in-1", content: "deploy looks good", thread_id: "proj-x", reply_to: kickoff.message.id,
      timestamp: new Date(START + 2500).toISOString() }),
    // A thread we never saw created; no delivery_status at all; markdown short form.
    wire({ id: "in-2", sender: ALICE, content: "**status** report", content_type: "markdown", thread_id: "alice-t",
      timestamp: "2026-11-24T00:00:03.123456Z" }),
    // A peer claiming a status for its own message; metadata and attachments kept.
    wire({ id: "in-3", sender: ALICE, content: "", attachments: [{ name: "report.pdf" }], delivery_status: "read",
      metadata: { urgency: "high" } }),
    // An incoming TTL message that will still be live.
    wire({ id: "in-4", content: "ephemeral but lasting from bob", ttl: 7200, timestamp: new Date(START).toISOString() })
  ])
  yield* tick
  const vanishing = yield* chat.send({ recipient: BOB, content: "ephemeral vanishing note", ttl: 30, threadId: "proj-x" })
  const lasting = yield* chat.send({ recipient: ALICE, content: "ephemeral lasting note", ttl: 3600 })
  // Our own message recorded from elsewhere (another device): outgoing, already sent.
  yield* chat.recordAll([
    wire({ id: "out-ext", sender: ME, recipient: ALICE, content: "hello from my other device", delivery_status: "sent",
      thread_id: "alice-t" })
  ])
  yield* tick
  const now1 = START + 4000
  appendReceipts([
    { _tag: "MessageSent", v: 1, message_id: plain.message.id, at: now1, transport: "file" },
    { _tag: "MessageDelivered", v: 1, message_id: plain.message.id, at: now1 },
    { _tag: "MessageRead", v: 1, message_id: kickoff.message.id, at: now1 },
    // Late and out-of-order receipts must fold the same way twice.
    { _tag: "MessageDelivered", v: 1, message_id: kickoff.message.id, at: now1 },
    { _tag: "MessageFailed", v: 1, message_id: lasting.message.id, at: now1, reason: "no route" },
    // A receipt for a message we never had.
    { _tag: "MessageRead", v: 1, message_id: "ghost", at: now1 }
  ], now1)

  yield* TestClock.adjust("40 seconds")
  const expired = yield* chat.expireDue()
  expect(expired).toBe(1)
  yield* tick
  yield* chat.send({ recipient: ALICE, content: "hello again after the purge", threadId: "alice-t" })
  return { vanishing, lasting, plain, kickoff }
})

describe("rebuild", () => {
  it.effect("produces tables identical to the live ones", () =>
    Effect.gen(function*() {
      const chat = yield* ChatSystem
      const { vanishing, plain, kickoff } = yield* storeMix
      const now = START + 60_000

      const live = dumpTables(PROJECTION_TABLES)
      const liveSearch = yield* searchAll(now)

      // The mix is what it claims to be, so the comparison below compares something.
      const messages = live["messages"] as Array<{ id: string; direction: string; delivery_status: string }>
      expect(messages.map((m) => m.id)).not.toContain(vanishing.message.id)
      expect(messages.filter((m) => m.direction === "in")).toHaveLength(4)
      expect(messages.filter((m) => m.direction === "out")).toHaveLength(5)
      expect(messages.find((m) => m.id === plain.message.id)?.delivery_status).toBe("delivered")
      expect(messages.find((m) => m.id === kickoff.message.id)?.delivery_status).toBe("read")
      expect(withRaw((db) => db.prepare("SELECT count(*) FROM events WHERE message_id IS NOT NULL").pluck().get()))
        .toBe(10)
      expect((live["threads"] as Array<{ id: string }>).map((t) => t.id).sort()).toEqual(["alice-t", "proj-x"])
      expect(liveSearch["hello"]).toHaveLength(3)
      expect(liveSearch["ephemeral"]).toHaveLength(2)
      expect(liveSearch["vanishing"]).toHaveLength(0)
      expect(liveSearch["kick*"]).toHaveLength(1)
      ftsIntegrity()

      const events = yield* chat.rebuild()
      expect(events).toBe(chat.head().seq)

      expect(dumpTables(PROJECTION_TABLES)).toEqual(live)
      expect(yield* searchAll(now)).toEqual(liveSearch)
      ftsIntegrity()
      // And the store is still whole.
      expect(yield* chat.verify()).toBe(chat.head().seq)
    }).pipe(Effect.provide(layer())))

  it.effect("is repeatable and restores projections that were damaged or emptied", () =>
    Effect.gen(function*() {
      const chat = yield* ChatSystem
      yield* storeMix
      const now = START + 60_000
      const live = dumpTables(PROJECTION_TABLES)
      const liveSearch = yield* searchAll(now)

      withRaw((db) => {
        db.prepare("DELETE FROM messages WHERE direction = 'in'").run()
        db.prepare("UPDATE threads SET message_count = 99").run()
        db.prepare("DELETE FROM thread_participants").run()
        db.prepare("DELETE FROM projection_checkpoints").run()
      })
      expect(dumpTables(PROJECTION_TABLES)).not.toEqual(live)

      yield* chat.rebuild()
      yield* chat.rebuild()
      expect(dumpTables(PROJECTION_TABLES)).toEqual(live)
      expect(yield* searchAll(now)).toEqual(liveSearch)
      ftsIntegrity()
    }).pipe(Effect.provide(layer())))

  it.effect("live appends after a rebuild fold exactly as before", () =>
    Effect.gen(function*() {
      const chat = yield* ChatSystem
      yield* storeMix
      yield* chat.rebuild()
      yield* TestClock.adjust("1 second")
      yield* chat.send({ recipient: BOB, content: "hello after rebuild", threadId: "proj-x" })
      yield* chat.recordAll([wire({ id: "in-after", content: "reply after rebuild", thread_id: "proj-x" })])
      const live = dumpTables(PROJECTION_TABLES)
      const liveSearch = yield* searchAll(START + 120_000)
      yield* chat.rebuild()
      expect(dumpTables(PROJECTION_TABLES)).toEqual(live)
      expect(yield* searchAll(START + 120_000)).toEqual(liveSearch)
    }).pipe(Effect.provide(layer())))

  it.effect("skips an event type it does not know, without error", () =>
    Effect.gen(function*() {
      const chat = yield* ChatSystem
      yield* storeMix
      const now = START + 60_000
      const before = dumpTables(PROJECTION_TABLES.filter((t) => t !== "projection_checkpoints"))
      const beforeSearch = yield* searchAll(now)

      // A newer skchat wrote an event this build has never heard of, properly chained.
      const unknownSeq = appendChainedRow("ReactionAdded", 1, "01900000-0000-7000-8000-00000000beef",
        JSON.stringify({ message_id: "in-1", emoji: "🎉", by: BOB }), now)
      expect(yield* chat.verify()).toBe(unknownSeq)

      // A known type at a version this build does not read is skipped just the same.
      const futureSeq = appendChainedRow("MessageExpired", 2, "01900000-0000-7000-8000-00000000cafe",
        JSON.stringify({ message_id: "in-1", shape: "from the future" }), now)

      const count = yield* chat.rebuild()
      expect(count).toBe(futureSeq)
      expect(dumpTables(PROJECTION_TABLES.filter((t) => t !== "projection_checkpoints"))).toEqual(before)
      expect(yield* searchAll(now)).toEqual(beforeSearch)
      const checkpoints = dumpTables(["projection_checkpoints"])["projection_checkpoints"] as Array<{ seq: number }>
      expect(checkpoints.length).toBeGreaterThan(0)
      for (const c of checkpoints) expect(c.seq).toBe(futureSeq)
      expect(yield* chat.verify()).toBe(futureSeq)

      // The log goes on after the stranger.
      yield* chat.send({ recipient: BOB, content: "hello past the unknown event" })
      expect(chat.head().seq).toBe(futureSeq + 1)
      expect(yield* chat.verify()).toBe(futureSeq + 1)
    }).pipe(Effect.provide(layer())))
})
