import { hash as digest } from "node:crypto"
import type { ChatEvent, LoggedEvent } from "../domain/chat-event.js"
import { compactRecord, expandRecord, type StoredRecord } from "../domain/message-record.js"
import { uuidv7 } from "../domain/message-id.js"
import { makeBatchInsert } from "./batch-insert.js"
import type { Db } from "./sqlite-database.js"

const READ_PAGE = 10_000

export const GENESIS_HASH = "0".repeat(64)

interface EventRow {
  readonly seq: number
  readonly id: string
  readonly type: string
  readonly v: number
  readonly recorded_at: number
  readonly data: string
  readonly hash: string
}

/** The chain link: each event's hash covers its predecessor's hash and every stored column. */
export const chainHash = (
  prevHash: string,
  seq: number,
  id: string,
  type: string,
  v: number,
  recordedAt: number,
  data: string
): string =>
  // One-shot hash: no Hash object per event (it showed in append profiles).
  digest("sha256", `${prevHash}\n${seq}\n${id}\n${type}\n${v}\n${recordedAt}\n${data}`, "hex")

/** The fact's own fields (`_tag` and `v` have their own columns), a message record compacted. */
const payloadOf = (event: ChatEvent): string => {
  const { _tag, v, ...payload } = event
  return JSON.stringify("message" in payload ? { ...payload, message: compactRecord(payload.message) } : payload)
}

const parsePayload = (type: string, data: string): ChatEvent => {
  const payload = JSON.parse(data) as Record<string, unknown>
  if (type === "MessageComposed" || type === "MessageReceived") {
    payload["message"] = expandRecord(payload["message"] as StoredRecord)
  }
  return { ...payload, _tag: type, v: 1 } as ChatEvent
}

const knownTypes = new Set<string>([
  "MessageComposed",
  "MessageReceived",
  "MessageSent",
  "MessageDelivered",
  "MessageRead",
  "MessageFailed",
  "MessageExpired",
  "ThreadCreated",
  "EnvelopeRejected",
  "PeerAdded",
  "PeerRemoved",
  "DeliveryAttemptFailed",
  "ReceiptSent",
  "CallStarted",
  "CallConnected",
  "CallEnded",
  "TransferStarted",
  "TransferCompleted",
  "TransferFailed"
])

/**
 * Our own log is written only through validated events, so reading it back is a JSON parse, not a
 * schema decode: a 1M-event replay cannot afford a decode per event. Types from a newer writer become
 * `Unknown` and are skipped by every fold.
 */
export const eventFromRow = (row: Pick<EventRow, "seq" | "id" | "type" | "v" | "recorded_at" | "data">):
  LoggedEvent => ({
    seq: row.seq,
    id: row.id,
    recordedAt: row.recorded_at,
    event: knownTypes.has(row.type) && row.v === 1
      ? parsePayload(row.type, row.data)
      : { _tag: "Unknown", type: row.type, v: row.v }
  })

export type ChainCheck =
  | { readonly ok: true; readonly events: number }
  | { readonly ok: false; readonly seq: number; readonly reason: string }

export interface EventLog {
  /** Appends in order and returns what was logged. Must run inside a write transaction. */
  readonly append: (events: ReadonlyArray<ChatEvent>, recordedAt: number) => ReadonlyArray<LoggedEvent>
  /**
   * Every event whose type is not in `types`, in order (for the bulk types, through `events_folded`),
   * read a page at a time: no cursor stays open, so the caller may write between events.
   */
  readonly readExcept: (types: ReadonlyArray<string>) => IterableIterator<LoggedEvent>
  /** Every event after `seq`, in order, a page at a time (the tail a lagging projection has not seen). */
  readonly readAfter: (seq: number) => IterableIterator<LoggedEvent>
  readonly head: () => { readonly seq: number; readonly hash: string }
  /** Walks the whole chain; the first broken link is named by its sequence number. */
  readonly verify: () => ChainCheck
}

export const makeEventLog = (db: Db): EventLog => {
  const insert = makeBatchInsert(db, "events (seq, id, type, v, recorded_at, data, hash)", 7)
  const selectHead = db.prepare("SELECT seq, hash FROM log_head WHERE one = 1")
  const updateHead = db.prepare("UPDATE log_head SET seq = ?, hash = ? WHERE one = 1")
  const selectSeqs = db.prepare(
    "SELECT seq, id, type, v, recorded_at, data FROM events WHERE seq IN (SELECT value FROM json_each(?)) ORDER BY seq"
  )
  const selectAll = db.prepare("SELECT seq, id, type, v, recorded_at, data, hash FROM events ORDER BY seq")
  const selectAfter = db.prepare(
    "SELECT seq, id, type, v, recorded_at, data FROM events WHERE seq > ? ORDER BY seq LIMIT ?"
  )

  const head = () => selectHead.get() as { seq: number; hash: string }

  return {
    head,
    append: (events, recordedAt) => {
      let { hash: prev, seq } = head()
      const logged: Array<LoggedEvent> = []
      for (const event of events) {
        seq += 1
        const id = uuidv7(recordedAt)
        const data = payloadOf(event)
        const hash = chainHash(prev, seq, id, event._tag, event.v, recordedAt, data)
        insert.add(seq, id, event._tag, event.v, recordedAt, data, hash)
        logged.push({ seq, id, recordedAt, event })
        prev = hash
      }
      insert.flush()
      if (logged.length > 0) updateHead.run(seq, prev)
      return logged
    },
    readExcept: function*(types) {
      // Literal type names (never user input): a bound parameter would keep SQLite from proving that
      // the partial index `events_folded` covers the query.
      const list = types.map((t) => {
        if (!/^[A-Za-z]+$/.test(t)) throw new Error(`not an event type: ${t}`)
        return `'${t}'`
      }).join(", ")
      const seqs = db.prepare(`SELECT seq FROM events WHERE type NOT IN (${list}) ORDER BY seq`).pluck()
        .all() as Array<number>
      for (let i = 0; i < seqs.length; i += READ_PAGE) {
        const page = selectSeqs.all(JSON.stringify(seqs.slice(i, i + READ_PAGE))) as Array<EventRow>
        for (const row of page) yield eventFromRow(row)
      }
    },
    readAfter: function*(seq) {
      let after = seq
      for (;;) {
        const page = selectAfter.all(after, READ_PAGE) as Array<EventRow>
        for (const row of page) yield eventFromRow(row)
        if (page.length < READ_PAGE) return
        after = page[page.length - 1]!.seq
      }
    },
    verify: () => {
      let expectedSeq = 1
      let prev = GENESIS_HASH
      for (const row of selectAll.iterate() as IterableIterator<EventRow>) {
        if (row.seq !== expectedSeq) {
          return { ok: false, seq: expectedSeq, reason: `event ${expectedSeq} is missing (next stored is ${row.seq})` }
        }
        const recomputed = chainHash(prev, row.seq, row.id, row.type, row.v, row.recorded_at, row.data)
        if (recomputed !== row.hash) {
          return { ok: false, seq: row.seq, reason: "its contents do not match its hash (edited)" }
        }
        prev = row.hash
        expectedSeq += 1
      }
      const h = head()
      const last = expectedSeq - 1
      if (h.seq !== last || h.hash !== prev) {
        return h.seq > last
          ? { ok: false, seq: last + 1, reason: `log truncated: the head records ${h.seq} events, ${last} remain` }
          : { ok: false, seq: h.seq + 1, reason: "events beyond the recorded head (head edited)" }
      }
      return { ok: true, events: last }
    }
  }
}
