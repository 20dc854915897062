import { useTempStore } from "./support/temp-store.js"
import { Effect, Either } from "effect"
import { describe, expect, it } from "vitest"
import { ChatSystem } from "../src/actors/chat-system.js"
import { chainHash, GENESIS_HASH, makeEventLog } from "../src/adapters/event-log.js"
import { SqliteDatabase } from "../src/adapters/sqlite-database.js"
import { type ChatMessage, decodeChatMessage } from "../src/domain/chat-message.js"
import { LogDamaged } from "../src/domain/errors.js"

const ME = "capauth:me@skworld.io"
const BOB = "capauth:bob@skworld.io"
const NO_KEY = "capauth:nokey@skworld.io"

const store = useTempStore(ME)
const { withRaw } = store

/** Runs `effect` against a ChatSystem over the temp store; the store is closed again afterwards. */
const withChat = <A, E>(effect: Effect.Effect<A, E, ChatSystem>): Promise<A> =>
  Effect.runPromise(effect.pipe(Effect.provide(store.layer())))


/** Verification fails with LogDamaged naming `seq`; returns the error for further checks. */
const expectDamageAt = async (seq: number): Promise<LogDamaged> => {
  const error = await verifyError()
  expect(error).toBeInstanceOf(LogDamaged)
  expect((error as LogDamaged).seq).toBe(seq)
  return error as LogDamaged
}

/** Damages the log the way only someone with the file could: triggers dropped, then a raw statement. */
const tamper = (...statements: ReadonlyArray<string>) =>
  withRaw((db) => {
    db.exec("DROP TRIGGER IF EXISTS events_no_update; DROP TRIGGER IF EXISTS events_no_delete")
    for (const sql of statements) db.prepare(sql).run()
  })

const wire = (id: string, content: string): ChatMessage => {
  const decoded = decodeChatMessage({
    id,
    sender: BOB,
    recipient: ME,
    content,
    timestamp: "2026-11-24T22:54:46.838490Z"
  })
  if (Either.isLeft(decoded)) throw new Error("test message does not decode")
  return decoded.right
}

/**
 * Five events: three sends and two received messages. The sends go, signed but deliberately in plaintext,
 * to someone with no registered key: a sealed send would also pin that key (a sixth event), and these
 * tests are about the chain, not the crypto.
 */
const storeSome = () =>
  withChat(Effect.gen(function*() {
    const chat = yield* ChatSystem
    yield* chat.send({ recipient: NO_KEY, content: "first hello", plaintext: true })
    yield* chat.send({ recipient: NO_KEY, content: "second hello", plaintext: true })
    yield* chat.recordAll([wire("in-1", "incoming one"), wire("in-2", "incoming two")])
    yield* chat.send({ recipient: NO_KEY, content: "third hello", plaintext: true })
    return chat.head()
  }))

const verifyError = () => withChat(Effect.flatMap(ChatSystem, (chat) => Effect.flip(chat.verify())))

const eventCount = () => withRaw((db) => (db.prepare("SELECT count(*) AS n FROM events").get() as { n: number }).n)

describe("the database itself keeps the log append-only", () => {
  it("stores one event per message, numbered from 1 and chained from the genesis hash", async () => {
    const head = await storeSome()
    expect(head.seq).toBe(5)
    const rows = withRaw((db) =>
      db.prepare("SELECT seq, id, type, v, recorded_at, data, hash FROM events ORDER BY seq").all() as Array<{
        seq: number
        id: string
        type: string
        v: number
        recorded_at: number
        data: string
        hash: string
      }>
    )
    expect(rows.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5])
    expect(rows.map((r) => r.type)).toEqual([
      "MessageComposed",
      "MessageComposed",
      "MessageReceived",
      "MessageReceived",
      "MessageComposed"
    ])
    // Each hash covers its predecessor's (the genesis hash for the first) and every stored column.
    rows.forEach((r, i) =>
      expect(r.hash).toBe(chainHash(i === 0 ? GENESIS_HASH : rows[i - 1]!.hash, r.seq, r.id, r.type, r.v, r.recorded_at,
        r.data))
    )
    expect(head.hash).toBe(rows[4]!.hash)
    expect(new Set(rows.map((r) => r.id)).size).toBe(5)
  })

  it("refuses a raw UPDATE", async () => {
    await storeSome()
    withRaw((db) => {
      expect(() => db.prepare("UPDATE events SET data = '{}' WHERE seq = 2").run()).toThrow(/append-only/)
      expect(() => db.prepare("UPDATE events SET type = 'MessageRead'").run()).toThrow(/append-only/)
    })
    await expect(withChat(Effect.flatMap(ChatSystem, (chat) => chat.verify()))).resolves.toBe(5)
  })

  it("refuses a raw DELETE", async () => {
    await storeSome()
    withRaw((db) => {
      expect(() => db.prepare("DELETE FROM events WHERE seq = 5").run()).toThrow(/append-only/)
      expect(() => db.prepare("DELETE FROM events").run()).toThrow(/append-only/)
    })
    expect(eventCount()).toBe(5)
  })

  // A gap, a rewrite of an existing number, and the right number on the wrong predecessor. The database
  // refuses these outright or, at the least, verification names the first place the chain breaks.
  it.each([
    { name: "a gap after the head", seq: (h: number) => h + 2, prev: (hash: string) => hash, damagedAt: 6 },
    { name: "an existing number", seq: () => 3, prev: (hash: string) => hash, damagedAt: 3 },
    { name: "the right number on the wrong predecessor", seq: (h: number) => h + 1, prev: () => GENESIS_HASH,
      damagedAt: 6 }
  ])("an INSERT that does not extend the chain head is refused or caught: $name", async ({ seq, prev, damagedAt }) => {
    const head = await storeSome()
    let refused = false
    try {
      withRaw((db) =>
        db.prepare(
          "INSERT INTO events (seq, id, type, v, recorded_at, data, hash) VALUES (?, 'forged', 'MessageRead', 1, 0, '{}', ?)"
        ).run(seq(head.seq), chainHash(prev(head.hash), seq(head.seq), "forged", "MessageRead", 1, 0, "{}"))
      )
    } catch {
      refused = true
    }
    if (refused) {
      expect(eventCount()).toBe(5)
      await expect(withChat(Effect.flatMap(ChatSystem, (chat) => chat.verify()))).resolves.toBe(5)
    } else {
      const error = await verifyError()
      expect(error).toBeInstanceOf(LogDamaged)
      expect((error as LogDamaged).seq).toBe(damagedAt)
    }
  })

  it("an insert that links correctly but carries a made-up hash is caught by verification", async () => {
    const head = await storeSome()
    withRaw((db) =>
      db.prepare(
        "INSERT INTO events (seq, id, type, v, recorded_at, data, hash) VALUES (?, 'forged', 'MessageRead', 1, 0, ?, ?)"
      ).run(head.seq + 1, JSON.stringify({ message_id: "x", at: 0 }), "f".repeat(64))
    )
    const error = await expectDamageAt(6)
  })
})

describe("hash-chain verification", () => {
  it("passes on an intact log, through ChatSystem and the event log alike", async () => {
    await storeSome()
    await expect(withChat(Effect.flatMap(ChatSystem, (chat) => chat.verify()))).resolves.toBe(5)
    const direct = await Effect.runPromise(Effect.scoped(Effect.map(SqliteDatabase.open(store.dbFile()), ({ db }) =>
      makeEventLog(db).verify()
    )))
    expect(direct).toEqual({ ok: true, events: 5 })
  })

  it("passes on an empty log", async () => {
    await expect(withChat(Effect.flatMap(ChatSystem, (chat) => chat.verify()))).resolves.toBe(0)
  })

  it("catches an edited event and names its sequence number", async () => {
    await storeSome()
    withRaw((db) => {
      db.exec("DROP TRIGGER events_no_update")
      const changed = db.prepare("UPDATE events SET data = replace(data, 'second hello', 'second HELLO') WHERE seq = 2")
        .run()
      expect(changed.changes).toBe(1)
    })
    const error = await expectDamageAt(2)
    expect(error.message).toContain("sequence 2")
    const direct = withRaw((db) => makeEventLog(db).verify())
    expect(direct).toMatchObject({ ok: false, seq: 2 })
  })

  it("catches an edit that also recomputes the edited event's own hash (the next link breaks)", async () => {
    await storeSome()
    withRaw((db) => {
      db.exec("DROP TRIGGER events_no_update")
      const row = db.prepare("SELECT * FROM events WHERE seq = 2").get() as {
        seq: number
        id: string
        type: string
        v: number
        recorded_at: number
        data: string
      }
      const prevHash = db.prepare("SELECT hash FROM events WHERE seq = 1").pluck().get() as string
      const data = row.data.replace("second hello", "second HELLO")
      const hash = chainHash(prevHash, row.seq, row.id, row.type, row.v, row.recorded_at, data)
      db.prepare("UPDATE events SET data = ?, hash = ? WHERE seq = 2").run(data, hash)
    })
    const error = await expectDamageAt(3)
  })

  it("catches an edited recorded_at or type, not only the data", async () => {
    await storeSome()
    tamper("UPDATE events SET recorded_at = recorded_at + 1 WHERE seq = 4")
    expect(((await verifyError()) as LogDamaged).seq).toBe(4)
  })

  it("catches a truncated log, naming the first missing event", async () => {
    await storeSome()
    tamper("DELETE FROM events WHERE seq = 5")
    const error = await expectDamageAt(5)
    expect(error.reason).toMatch(/truncated/)
  })

  it("catches a log cut by several events", async () => {
    await storeSome()
    tamper("DELETE FROM events WHERE seq >= 4")
    expect(((await verifyError()) as LogDamaged).seq).toBe(4)
  })

  it("catches a truncation that also rewinds the head (the projections' checkpoints remember)", async () => {
    await storeSome()
    withRaw((db) => {
      db.exec("DROP TRIGGER events_no_delete")
      db.prepare("DELETE FROM events WHERE seq = 5").run()
      db.prepare("UPDATE log_head SET seq = 4, hash = (SELECT hash FROM events WHERE seq = 4)").run()
      // The chain alone now looks whole...
      expect(makeEventLog(db).verify()).toEqual({ ok: true, events: 4 })
    })
    // ...but the store as a whole does not.
    const error = await expectDamageAt(5)
  })

  it("catches a gap in the middle of the log", async () => {
    await storeSome()
    tamper("DELETE FROM events WHERE seq = 2")
    const error = await expectDamageAt(2)
    expect(error.reason).toMatch(/missing/)
  })

  it("catches a head that was moved back without deleting anything", async () => {
    await storeSome()
    withRaw((db) => db.prepare("UPDATE log_head SET seq = 3, hash = (SELECT hash FROM events WHERE seq = 3)").run())
    const error = await verifyError()
    expect(error).toBeInstanceOf(LogDamaged)
  })
})

describe("exactly once in the log", () => {
  it("recording the same message twice stores it once", async () => {
    const message = wire("dup-1", "only once please")
    const counts = await withChat(Effect.gen(function*() {
      const chat = yield* ChatSystem
      const first = yield* chat.recordAll([message, message])
      const second = yield* chat.recordAll([message])
      return { first, second }
    }))
    expect(counts).toEqual({ first: 1, second: 0 })
    // Again from a fresh process-like start: the store, not memory, remembers.
    await expect(withChat(Effect.flatMap(ChatSystem, (chat) => chat.recordAll([message])))).resolves.toBe(0)
    withRaw((db) => {
      expect(db.prepare("SELECT count(*) AS n FROM events WHERE type = 'MessageReceived'").get()).toEqual({ n: 1 })
      expect(db.prepare("SELECT count(*) AS n FROM events WHERE message_id = 'dup-1'").get()).toEqual({ n: 1 })
      expect(db.prepare("SELECT count(*) AS n FROM messages m JOIN events e ON e.seq = m.rowid WHERE e.message_id = 'dup-1'")
        .get()).toEqual({ n: 1 })
    })
  })

  it("a batch mixing new and known ids stores only the new ones", async () => {
    await withChat(Effect.flatMap(ChatSystem, (chat) => chat.recordAll([wire("a", "alpha")])))
    const stored = await withChat(Effect.flatMap(ChatSystem, (chat) =>
      chat.recordAll([wire("a", "alpha"), wire("b", "beta"), wire("b", "beta"), wire("c", "gamma")])
    ))
    expect(stored).toBe(2)
    withRaw((db) => {
      expect(db.prepare("SELECT e.message_id FROM messages m JOIN events e ON e.seq = m.rowid ORDER BY 1").pluck().all())
        .toEqual(["a", "b", "c"])
      expect(db.prepare("SELECT count(*) FROM events").pluck().get()).toBe(3)
    })
  })

  it("the unique index on event ids holds even for a hand-made append", async () => {
    await storeSome()
    withRaw((db) => {
      const last = db.prepare("SELECT * FROM log_head").get() as { seq: number; hash: string }
      const existingId = db.prepare("SELECT id FROM events WHERE seq = 1").pluck().get() as string
      const hash = chainHash(last.hash, last.seq + 1, existingId, "MessageRead", 1, 0, "{}")
      expect(() =>
        db.prepare(
          "INSERT INTO events (seq, id, type, v, recorded_at, data, hash) VALUES (?, ?, 'MessageRead', 1, 0, '{}', ?)"
        ).run(last.seq + 1, existingId, hash)
      ).toThrow(/UNIQUE/)
    })
  })
})
