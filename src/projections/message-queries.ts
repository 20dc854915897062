import type { Db } from "../adapters/sqlite-database.js"
import type { DeliveryStatus } from "../domain/delivery-status.js"
import { toFtsQuery } from "../domain/search-query.js"
import type { Thread } from "../domain/thread.js"
import { expandRecord, type StoredRecord } from "../domain/message-record.js"
import { isoFromMillis } from "../domain/timestamp.js"

/**
 * A message as every listing shows it: the wire fields of INTEROP.md plus where it went (`direction`,
 * `peer`), when it disappears (`expires_at`) and whether its sender was verified.
 */
export interface MessageView {
  readonly id: string
  readonly sender: string
  readonly recipient: string
  readonly content: string
  readonly content_type: string
  readonly timestamp: string
  readonly thread_id: string | null
  readonly reply_to_id: string | null
  readonly ttl: number | null
  readonly delivery_status: DeliveryStatus
  readonly encrypted: boolean
  readonly metadata: Record<string, unknown>
  readonly attachments: ReadonlyArray<unknown>
  readonly direction: "in" | "out"
  readonly peer: string
  readonly expires_at: string | null
  readonly verified: boolean
  /** Fingerprint of the key whose signature checked out (received and verified messages only). */
  readonly signer: string | null
}

/** Which received messages a listing wants. */
export interface InboxFilter {
  readonly threadId?: string | undefined
  /** Only messages not yet shown (an inbound message is `read` once a listing showed it). */
  readonly unreadOnly?: boolean | undefined
  /** Only messages from this sender URI. */
  readonly from?: string | undefined
}

interface MessageRow {
  seq: number
  data: string
  expires_at: number | null
  delivery_status: DeliveryStatus
  verified: number
  direction: "in" | "out"
  peer: string
  sealed_text: string | null
}

/** The row's own columns plus its creating event, which holds every other wire field. */
const COLUMNS = `m.rowid AS seq, e.data, m.expires_at, m.delivery_status, m.verified, m.direction, m.peer, m.sealed_text`
const FROM = "messages m JOIN events e ON e.seq = m.rowid"

/** Rows past their deadline are never shown, even before the sweep that purges them has run. */
const LIVE = "(m.expires_at IS NULL OR m.expires_at > @now)"

const toView = (r: MessageRow): MessageView => {
  const event = JSON.parse(r.data) as { message: StoredRecord; signer?: string }
  const m = expandRecord(event.message)
  return {
    id: m.id,
    sender: m.sender,
    recipient: m.recipient,
    content: r.sealed_text ?? (m.body._tag === "Plain" ? m.body.text : ""),
    content_type: m.content_type,
    timestamp: m.timestamp,
    thread_id: m.thread_id,
    reply_to_id: m.reply_to_id,
    ttl: m.ttl,
    delivery_status: r.delivery_status,
    encrypted: m.encrypted,
    metadata: m.metadata as Record<string, unknown>,
    attachments: m.attachments,
    direction: r.direction,
    peer: r.peer,
    expires_at: r.expires_at === null ? null : isoFromMillis(r.expires_at),
    verified: r.verified === 1,
    signer: r.direction === "in" && r.verified === 1 ? event.signer ?? null : null
  }
}

/** A thread as listings show it: the Thread model's plain fields. */
export type ThreadView = typeof Thread.Encoded

export interface MessageQueries {
  /** Received messages, newest first; optionally only one thread's, one sender's or the unread ones. */
  readonly inbox: (now: number, limit: number, filter?: InboxFilter) => ReadonlyArray<MessageView>
  /** Received messages not yet shown, oldest first (what an agent waiting for messages is handed). */
  readonly unreadArrivals: (now: number, limit: number, filter?: Omit<InboxFilter, "unreadOnly">) =>
    ReadonlyArray<MessageView>
  readonly hasThread: (threadId: string) => boolean
  /** One thread's messages, both directions, newest first. */
  readonly thread: (now: number, threadId: string, limit: number) => ReadonlyArray<MessageView>
  /** Both directions of the conversation with one participant, newest first. */
  readonly conversation: (now: number, peer: string, limit: number) => ReadonlyArray<MessageView>
  /** Outbound messages still waiting for a transport, oldest first (the order they will go out). */
  readonly outbox: (now: number, limit: number) => ReadonlyArray<MessageView>
  /** Full-text search over any user string, most recently stored first. */
  readonly search: (now: number, query: string, limit: number) => ReadonlyArray<MessageView>
  readonly threads: (limit: number) => ReadonlyArray<ThreadView>
  readonly byId: (now: number, id: string) => MessageView | undefined
  /** Envelopes refused on arrival, newest first. */
  readonly rejections: (limit: number) => ReadonlyArray<RejectionView>
  /**
   * Received messages stored after position `afterSeq`, oldest first, each with its position (what
   * `watch` follows). `afterSeq` -1 with `latest`: the last `limit` received, still oldest first.
   */
  readonly arrivedAfter: (now: number, afterSeq: number, limit: number) =>
    ReadonlyArray<{ readonly seq: number; readonly message: MessageView }>
  readonly latestArrived: (now: number, limit: number) =>
    ReadonlyArray<{ readonly seq: number; readonly message: MessageView }>
}

/** A refused envelope as `skchat quarantine` and the library show it. */
export interface RejectionView {
  readonly at: string
  readonly reason: string
  readonly detail: string
  readonly claimed_id: string | null
  readonly claimed_sender: string | null
  readonly sha256: string
  readonly size: number
  readonly file: string | null
}

export const makeMessageQueries = (db: Db): MessageQueries => {
  // One statement per combination of filters, prepared when first used: each can use its own index.
  const received = new Map<string, ReturnType<Db["prepare"]>>()
  const receivedWhere = (filter: InboxFilter, order: "DESC" | "ASC") => {
    const key = `${filter.threadId !== undefined}${filter.unreadOnly === true}${filter.from !== undefined}${order}`
    let statement = received.get(key)
    if (statement === undefined) {
      const where = [
        "m.direction = 'in'",
        LIVE,
        ...(filter.threadId === undefined ? [] : ["m.thread_id = @thread"]),
        ...(filter.unreadOnly === true ? ["m.delivery_status <> 'read'"] : []),
        ...(filter.from === undefined ? [] : ["m.peer = @from"])
      ]
      statement = db.prepare(`SELECT ${COLUMNS} FROM ${FROM} WHERE ${where.join(" AND ")}
        ORDER BY m.ts ${order}, m.rowid ${order} LIMIT @limit`)
      received.set(key, statement)
    }
    return statement
  }
  const receivedRows = (now: number, limit: number, filter: InboxFilter, order: "DESC" | "ASC") =>
    views(receivedWhere(filter, order).all({
      now,
      limit,
      ...(filter.threadId === undefined ? {} : { thread: filter.threadId }),
      ...(filter.from === undefined ? {} : { from: filter.from })
    }))
  const threadExists = db.prepare("SELECT 1 FROM threads WHERE id = ?")
  const thread = db.prepare(`SELECT ${COLUMNS} FROM ${FROM}
    WHERE m.thread_id = @thread AND ${LIVE} ORDER BY m.ts DESC, m.rowid DESC LIMIT @limit`)
  const conversation = db.prepare(
    `SELECT ${COLUMNS} FROM ${FROM} WHERE m.peer = @peer AND ${LIVE} ORDER BY m.ts DESC, m.rowid DESC LIMIT @limit`
  )
  const outbox = db.prepare(`SELECT ${COLUMNS} FROM ${FROM}
    WHERE m.direction = 'out' AND m.delivery_status = 'pending' AND ${LIVE} ORDER BY m.ts, m.rowid LIMIT @limit`)
  // FTS5 walks its doclists backwards by rowid and stops at the limit, so a term in every message
  // costs as little as a rare one; ranking would have to score every match first.
  const search = db.prepare(`SELECT ${COLUMNS} FROM messages_fts f JOIN messages m ON m.rowid = f.rowid JOIN events e ON e.seq = m.rowid
    WHERE messages_fts MATCH @query AND ${LIVE} ORDER BY f.rowid DESC LIMIT @limit`)
  const threads = db.prepare(`SELECT t.id, t.title, t.message_count, t.last_activity,
      (SELECT json_group_array(participant) FROM
        (SELECT participant FROM thread_participants p WHERE p.thread_id = t.id ORDER BY p.position)) AS participants
    FROM threads t ORDER BY t.last_activity DESC, t.created_seq DESC LIMIT @limit`)
  const byId = db.prepare(
    `SELECT ${COLUMNS} FROM ${FROM} WHERE m.rowid = (SELECT seq FROM events WHERE message_id = @id) AND ${LIVE}`
  )

  const arrivedAfter = db.prepare(`SELECT ${COLUMNS} FROM ${FROM}
    WHERE m.rowid > @after AND m.direction = 'in' AND ${LIVE} ORDER BY m.rowid LIMIT @limit`)
  const latestArrived = db.prepare(`SELECT * FROM (SELECT ${COLUMNS} FROM ${FROM}
    WHERE m.direction = 'in' AND ${LIVE} ORDER BY m.rowid DESC LIMIT @limit) ORDER BY seq`)
  const positioned = (rows: Array<unknown>) =>
    (rows as Array<MessageRow>).map((r) => ({ seq: r.seq, message: toView(r) }))

  const rejections = db.prepare(`SELECT at, reason, detail, claimed_id, claimed_sender, sha256, size, file
    FROM rejections ORDER BY seq DESC LIMIT ?`)

  const views = (rows: Array<unknown>) => (rows as Array<MessageRow>).map(toView)

  return {
    inbox: (now, limit, filter = {}) => receivedRows(now, limit, filter, "DESC"),
    unreadArrivals: (now, limit, filter = {}) => receivedRows(now, limit, { ...filter, unreadOnly: true }, "ASC"),
    thread: (now, threadId, limit) => views(thread.all({ now, thread: threadId, limit })),
    hasThread: (threadId) => threadExists.get(threadId) !== undefined,
    conversation: (now, peer, limit) => views(conversation.all({ now, peer, limit })),
    outbox: (now, limit) => views(outbox.all({ now, limit })),
    search: (now, query, limit) => {
      const fts = toFtsQuery(query)
      return fts === undefined ? [] : views(search.all({ now, query: fts, limit }))
    },
    threads: (limit) =>
      (threads.all({ limit }) as Array<{
        id: string
        title: string
        message_count: number
        last_activity: number
        participants: string
      }>).map((t) => ({
        id: t.id,
        title: t.title,
        participants: JSON.parse(t.participants) as Array<string>,
        message_count: t.message_count,
        last_activity: isoFromMillis(t.last_activity)
      })),
    rejections: (limit) =>
      (rejections.all(limit) as Array<Omit<RejectionView, "at"> & { at: number }>).map((r) => ({
        ...r,
        at: isoFromMillis(r.at)
      })),
    arrivedAfter: (now, after, limit) => positioned(arrivedAfter.all({ now, after, limit })),
    latestArrived: (now, limit) => positioned(latestArrived.all({ now, limit })),
    byId: (now, id) => {
      const row = byId.get({ now, id }) as MessageRow | undefined
      return row === undefined ? undefined : toView(row)
    }
  }
}
