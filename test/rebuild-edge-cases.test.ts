/**
 * Rebuild loads the bulk event types set-wise and folds the rest (projection.ts); these are the orders
 * of events where the two could disagree if the set-wise SQL drifted from the fold. Each case builds a
 * store live, rebuilds it, and expects every projection row and every search result unchanged.
 */
import { useTempStore } from "./support/temp-store.js"
import { expect, it } from "@effect/vitest"
import { Effect, Either, TestClock } from "effect"
import { writeFileSync } from "node:fs"
import { describe } from "vitest"
import { ChatSystem } from "../src/actors/chat-system.js"
import { makeContentVault } from "../src/adapters/content-vault.js"
import { makeEventLog } from "../src/adapters/event-log.js"
import type { ChatEvent } from "../src/domain/chat-event.js"
import { type ChatMessage, decodeChatMessage } from "../src/domain/chat-message.js"
import { recordOf } from "../src/domain/message-record.js"
import { ChatQueries } from "../src/projections/chat-queries.js"
import { BULK_LOADED_TYPES } from "../src/projections/projection.js"
import { makeProjector } from "../src/projections/projector.js"
import { filesContaining, filesUnder, storeFile } from "./support/temp-home.js"

const ME = "capauth:me@skworld.io"
const BOB = "capauth:bob@skworld.io"
const CAROL = "capauth:carol@skworld.io"
const START = Date.parse("2026-11-24T00:00:00Z")

const store = useTempStore(ME)

const { layer, withRaw } = store

const dump = () =>
  withRaw((db) => ({
    messages: db.prepare("SELECT m.*, e.message_id FROM messages m JOIN events e ON e.seq = m.rowid ORDER BY 1").all(),
    threads: db.prepare("SELECT * FROM threads ORDER BY id").all(),
    participants: db.prepare("SELECT * FROM thread_participants ORDER BY thread_id, position").all(),
    checkpoints: db.prepare("SELECT * FROM projection_checkpoints ORDER BY name").all()
  }))

/** Appends events the way ChatSystem does (log + projector, one transaction), for shapes it never emits. */
const appendRaw = (events: ReadonlyArray<ChatEvent>, now: number) =>
  withRaw((db) => {
    const projector = makeProjector(db, { openBody: makeContentVault(db).open })
    db.transaction(() => projector.apply(makeEventLog(db).append(events, now))).immediate()
  })

const wire = (fields: Record<string, unknown>): ChatMessage => {
  const decoded = decodeChatMessage({ sender: BOB, recipient: ME, timestamp: new Date(START).toISOString(), ...fields })
  if (Either.isLeft(decoded)) throw new Error(`does not decode: ${JSON.stringify(fields)}`)
  return decoded.right
}

const searchAll = (now: number) =>
  Effect.map(ChatQueries, (q) =>
    Object.fromEntries(["early", "late", "gone", "self", "carol", "note*"].map((w) => [w, q.search(now, w, 50)]))
  )

describe("rebuild agrees with the live fold on awkward orders", () => {
  it.effect("threads created after their first message, receipts and expiries before their message, self-talk", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(START)
      const chat = yield* ChatSystem

      // A thread first seen through an incoming message, then a ThreadCreated naming it with another title
      // and a new participant: the first appearance keeps the title, carol joins at the next position.
      yield* chat.recordAll([wire({ id: "early-1", content: "early word", thread_id: "t-late-title" })])
      appendRaw([{
        _tag: "ThreadCreated",
        v: 1,
        thread_id: "t-late-title",
        title: "a title that came late",
        participants: [CAROL, BOB],
        at: START + 500
      }], START + 500)

      // A thread announced before its first message keeps the announced title and participants' order.
      appendRaw([{
        _tag: "ThreadCreated",
        v: 1,
        thread_id: "t-titled",
        title: "Planning",
        participants: [CAROL, ME],
        at: START + 550
      }], START + 550)
      yield* chat.recordAll([wire({ id: "early-2", content: "early plan", thread_id: "t-titled" })])

      // Receipts and an expiry naming messages that only arrive afterwards: the live fold ignored them,
      // so the rebuild must too.
      appendRaw([
        { _tag: "MessageRead", v: 1, message_id: "late-1", at: START + 600 },
        { _tag: "MessageExpired", v: 1, message_id: "late-2", at: START + 600 }
      ], START + 600)
      yield* chat.recordAll([
        wire({ id: "late-1", sender: ME, recipient: BOB, content: "late word one", delivery_status: "sent" }),
        wire({ id: "late-2", content: "late word two", thread_id: "t-late-title" })
      ])

      // Talking to myself in a thread: one participant, not two.
      yield* chat.recordAll([wire({ id: "self-1", sender: ME, recipient: ME, content: "self note", thread_id: "t-self" })])

      // A thread whose only message expires: kept with no messages, its last activity unchanged.
      yield* chat.send({ recipient: CAROL, content: "gone soon note for carol", ttl: 5, threadId: "t-gone" })
      yield* TestClock.adjust("10 seconds")
      expect(yield* chat.expireDue()).toBe(1)

      // A receipt after expiry, for the expired message: nothing to update.
      const goneId = withRaw((db) =>
        db.prepare("SELECT data ->> '$.message_id' FROM events WHERE type = 'MessageExpired' AND seq > 5").pluck().get()
      ) as string
      appendRaw([{ _tag: "MessageDelivered", v: 1, message_id: goneId, at: START + 11_000 }], START + 11_000)

      const now = START + 12_000
      const live = dump()
      const liveSearch = yield* searchAll(now)

      // The awkward cases are really in the live tables.
      const threads = live.threads as Array<{ id: string; title: string; message_count: number }>
      expect(threads.find((t) => t.id === "t-late-title")).toMatchObject({ title: "t-late-title", message_count: 2 })
      expect(threads.find((t) => t.id === "t-gone")).toMatchObject({ message_count: 0 })
      const participants = live.participants as Array<{ thread_id: string; participant: string; position: number }>
      expect(participants.filter((p) => p.thread_id === "t-late-title").map((p) => p.participant))
        .toEqual([BOB, ME, CAROL])
      expect(threads.find((t) => t.id === "t-titled")).toMatchObject({ title: "Planning", message_count: 1 })
      expect(participants.filter((p) => p.thread_id === "t-titled").map((p) => p.participant))
        .toEqual([CAROL, ME, BOB])
      expect(participants.filter((p) => p.thread_id === "t-self").map((p) => p.participant)).toEqual([ME])
      const rows = live.messages as Array<{ message_id: string; delivery_status: string }>
      expect(rows.find((r) => r.message_id === "late-1")?.delivery_status).toBe("sent")
      expect(rows.map((r) => r.message_id)).toContain("late-2")
      expect(liveSearch["gone"]).toHaveLength(0)
      expect(liveSearch["late"]).toHaveLength(2)

      yield* chat.rebuild()
      expect(dump()).toEqual(live)
      expect(yield* searchAll(now)).toEqual(liveSearch)

      // And a message appended after the rebuild folds into the rebuilt tables as it would have live.
      yield* chat.recordAll([wire({ id: "after-1", sender: CAROL, content: "carol after rebuild", thread_id: "t-late-title" })])
      const afterLive = dump()
      yield* chat.rebuild()
      expect(dump()).toEqual(afterLive)
    }).pipe(Effect.provide(layer())))
})

describe("delivery state", () => {
  /** A received message as ChatSystem logs it: sealed ones carry their envelope id and owe receipts. */
  const received = (id: string, verified: boolean, at: number): ChatEvent => ({
    _tag: "MessageReceived",
    v: 1,
    message: recordOf(wire({ id, content: `received ${id}` }), () => {
      throw new Error("no TTL here")
    }),
    ts: at,
    verified,
    ...(verified ? { envelope_id: `env-${id}`, signer: "f".repeat(40), payload_digest: "0".repeat(64) } : {})
  })

  it.effect("retries, receipts owed, read and settled: the rebuilt rows equal the live ones", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(START)
      const chat = yield* ChatSystem
      appendRaw([received("r1", true, START), received("r2", true, START), received("r3", true, START),
        received("r4", false, START)], START)
      const out = yield* chat.recordAll([
        wire({ id: "o1", sender: ME, recipient: BOB, content: "retried", delivery_status: "pending" }),
        wire({ id: "o2", sender: ME, recipient: BOB, content: "retried then sent", delivery_status: "pending" })
      ])
      expect(out).toBe(2)
      appendRaw([
        { _tag: "MessageRead", v: 1, message_id: "r2", at: START + 1 },
        { _tag: "ReceiptSent", v: 1, at: START + 2, peer: BOB, status: "delivered", message_ids: ["r1", "r2"],
          envelope_id: "rcpt-1", transport: "file" },
        { _tag: "DeliveryAttemptFailed", v: 1, message_id: "o1", at: START + 3, attempt: 1, reason: "down",
          next_attempt_at: START + 5003 },
        { _tag: "DeliveryAttemptFailed", v: 1, message_id: "o2", at: START + 3, attempt: 1, reason: "down",
          next_attempt_at: START + 5003 },
        { _tag: "MessageSent", v: 1, message_id: "o2", at: START + 5004, transport: "file" }
      ], START + 5004)
      const live = dump()
      const rows = new Map((live.messages as Array<{
        message_id: string
        receipt_due: string | null
        delivery_status: string
        attempts: number
        next_attempt_at: number | null
      }>).map((r) => [r.message_id, r]))
      // r1's delivery receipt went; r2 was read meanwhile, so its read receipt is still owed; r3 still owes
      // the delivery receipt; r4 (unverified, legacy) owes none.
      expect(["r1", "r2", "r3", "r4"].map((id) => rows.get(id)?.receipt_due)).toEqual([null, "read", "delivered", null])
      expect(rows.get("r2")?.delivery_status).toBe("read")
      expect(rows.get("o1")).toMatchObject({ delivery_status: "pending", attempts: 1, next_attempt_at: START + 5003 })
      expect(rows.get("o2")).toMatchObject({ delivery_status: "sent", attempts: 1, next_attempt_at: null })

      yield* chat.rebuild()
      expect(dump()).toEqual(live)

      // A read receipt settles the read one owed; it is then owed nothing more.
      appendRaw([{ _tag: "ReceiptSent", v: 1, at: START + 6000, peer: BOB, status: "read", message_ids: ["r2"],
        envelope_id: "rcpt-2", transport: "file" }], START + 6000)
      const settled = dump()
      expect((settled.messages as Array<{ message_id: string; receipt_due: string | null }>)
        .find((r) => r.message_id === "r2")?.receipt_due).toBeNull()
      yield* chat.rebuild()
      expect(dump()).toEqual(settled)
    }).pipe(Effect.provide(layer())))
})

describe("catching up on start", () => {
  it.effect("a projection left behind its checkpoint folds only the tail it missed, and ends where live would", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(START)
      const chat = yield* ChatSystem
      const rejected = (n: number): ChatEvent => ({
        _tag: "EnvelopeRejected",
        v: 1,
        at: START + n,
        reason: "malformed",
        detail: `bad ${n}`,
        claimed_id: null,
        claimed_sender: null,
        sha256: String(n).padStart(64, "0"),
        size: n,
        file: null
      })
      appendRaw([rejected(1), rejected(2)], START)
      yield* chat.recordAll([wire({ id: "between", content: "a message between" })])
      appendRaw([rejected(3), rejected(4)], START + 10)
      const live = withRaw((db) => db.prepare("SELECT * FROM rejections ORDER BY seq").all())
      expect(live).toHaveLength(4)
      expect(yield* chat.catchUp()).toBe(0)
      // As an older build would have left it: the last two rejections not yet folded.
      const at = withRaw((db) => {
        const third = db.prepare("SELECT min(seq) FROM events WHERE type = 'EnvelopeRejected' AND data ->> '$.size' = 3")
          .pluck().get() as number
        db.prepare("DELETE FROM rejections WHERE seq >= ?").run(third)
        db.prepare("UPDATE projection_checkpoints SET seq = ? WHERE name = 'rejections'").run(third - 1)
        return third
      })
      const head = withRaw((db) => db.prepare("SELECT seq FROM log_head").pluck().get() as number)
      expect(yield* chat.catchUp()).toBe(head - at + 1)
      expect(withRaw((db) => db.prepare("SELECT * FROM rejections ORDER BY seq").all())).toEqual(live)
      expect(dump().checkpoints).toEqual(dump().checkpoints.map((c) => ({ ...(c as object), seq: head })))
      yield* chat.verify()
    }).pipe(Effect.provide(layer())))
})

describe("threads", () => {
  it.effect("one batch with two of our messages in a new thread announces the thread once", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(START)
      const chat = yield* ChatSystem
      yield* chat.recordAll([
        wire({ id: "mine-1", sender: ME, recipient: BOB, content: "first", thread_id: "t-batch" }),
        wire({ id: "mine-2", sender: ME, recipient: CAROL, content: "second", thread_id: "t-batch" })
      ])
      const created = withRaw((db) => db.prepare("SELECT count(*) FROM events WHERE type = 'ThreadCreated'").pluck().get())
      expect(created).toBe(1)
      const threads = yield* Effect.map(ChatQueries, (q) => q.threads(10))
      expect(threads).toMatchObject([{ id: "t-batch", message_count: 2, participants: [ME, BOB, CAROL] }])
    }).pipe(Effect.provide(layer())))
})

describe("the log itself refuses a second copy of a message", () => {
  it.effect("a raw insert reusing a message id fails on the unique index", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(START)
      const chat = yield* ChatSystem
      yield* chat.recordAll([wire({ id: "only-once", content: "once" })])
      const copy = withRaw((db) => db.prepare("SELECT type, v, data FROM events WHERE seq = 1").get()) as {
        type: string
        v: number
        data: string
      }
      expect(() =>
        withRaw((db) =>
          db.prepare("INSERT INTO events (seq, id, type, v, recorded_at, data, hash) VALUES (2, 'x', ?, ?, 0, ?, 'h')")
            .run(copy.type, copy.v, copy.data)
        )
      ).toThrow(/UNIQUE/)
    }).pipe(Effect.provide(layer())))
})

describe("the search index after a rebuild", () => {
  it.effect("is FTS5's own, keeps secure-delete on, and still forgets an expired message's text", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(START)
      const chat = yield* ChatSystem
      yield* chat.send({ recipient: BOB, content: "quokkaphrase that must vanish", ttl: 60 })
      yield* chat.send({ recipient: BOB, content: "wombatphrase that stays" })
      yield* chat.recordAll([wire({ id: "in-keep", content: "numbatphrase from bob" })])
      // What a rebuild that died midway would have left behind.
      writeFileSync(`${storeFile(store.temp().dataDir)}.search-build-99999`, "stale scratch index")
      yield* chat.rebuild()

      withRaw((db) => {
        db.prepare("INSERT INTO messages_fts (messages_fts) VALUES ('integrity-check')").run()
        expect(db.prepare("SELECT typeof(v) AS t, v FROM messages_fts_config WHERE k = 'secure-delete'").get())
          .toEqual({ t: "integer", v: 1 })
      })
      const queries = yield* ChatQueries
      for (const word of ["quokkaphrase", "wombatphrase", "numbatphrase"]) {
        expect(queries.search(START + 1000, word, 10)).toHaveLength(1)
      }
      // No scratch file is left behind.
      expect(filesUnder(store.temp().dataDir).filter((f) => f.includes("search-build"))).toEqual([])

      yield* TestClock.adjust("61 seconds")
      expect(yield* chat.expireDue()).toBe(1)
      expect(queries.search(START + 62_000, "quokkaphrase", 10)).toHaveLength(0)
      expect(filesContaining(store.temp().dataDir, "quokkaphrase")).toEqual([])
      expect(filesContaining(store.temp().dataDir, "wombatphrase")).not.toEqual([])
    }).pipe(Effect.provide(layer())))
})

describe("bulk appends", () => {
  it.effect("a batch spanning several multi-row inserts chains every event and verifies", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(START)
      const chat = yield* ChatSystem
      const batch = Array.from({ length: 64 * 2 + 7 }, (_, i) => wire({ id: `bulk-${i}`, content: `bulk message ${i}` }))
      expect(yield* chat.recordAll(batch)).toBe(batch.length)
      expect(yield* chat.verify()).toBe(batch.length)
      const seqs = withRaw((db) => db.prepare("SELECT seq, message_id FROM events ORDER BY seq").raw().all())
      expect(seqs).toEqual(batch.map((m, i) => [i + 1, m.id]))
      const queries = yield* ChatQueries
      expect(queries.search(START + 1, "bulk", 1000)).toHaveLength(batch.length)
    }).pipe(Effect.provide(layer())))
})

describe("the search index is the same whether a rebuild builds it in line or on another core", () => {
  it.effect("both ways give the live results and a sound index", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(START)
      const chat = yield* ChatSystem
      yield* chat.send({ recipient: BOB, content: "alpha sealed note", ttl: 3600 })
      yield* chat.send({ recipient: BOB, content: "alpha beta plain note", threadId: "t1" })
      yield* chat.send({ recipient: CAROL, content: "gone gamma note", ttl: 5 })
      yield* chat.recordAll([wire({ id: "in-a", content: "beta from bob" }), wire({ id: "in-b", content: "gamma delta" })])
      yield* TestClock.adjust("10 seconds")
      expect(yield* chat.expireDue()).toBe(1)

      const words = ["alpha", "beta", "gamma", "delta", "note", "sealed", "gone"]
      const queries = yield* ChatQueries
      const now = START + 11_000
      const search = () => Object.fromEntries(words.map((w) => [w, queries.search(now, w, 50).map((m) => m.id)]))
      const live = search()
      expect(live["gone"]).toEqual([])
      expect(live["sealed"]).toHaveLength(1)

      for (const searchInBackground of [false, true]) {
        withRaw((db) => {
          const vault = makeContentVault(db)
          const log = makeEventLog(db)
          const projector = makeProjector(db, { openBody: vault.open })
          db.transaction(() =>
            projector.rebuild(log.readExcept(BULK_LOADED_TYPES), log.head().seq, { openBody: vault.snapshotOpen() }, {
              searchInBackground
            })
          ).immediate()
          db.prepare("INSERT INTO messages_fts (messages_fts) VALUES ('integrity-check')").run()
        })
        expect(search()).toEqual(live)
      }
    }).pipe(Effect.provide(layer())))
})
