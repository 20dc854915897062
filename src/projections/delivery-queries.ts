import type { Db } from "../adapters/sqlite-database.js"
import type { ReceiptStatus } from "../domain/receipt.js"

/** An outbound envelope whose next attempt is due. */
export interface DueEnvelope {
  readonly messageId: string
  readonly envelopeId: string
  readonly recipient: string
  readonly envelope: string
  /** Attempts that already failed. */
  readonly attempts: number
}

/** A sender we owe receipts of one kind (for one or more of their messages). */
export interface OwedReceipts {
  readonly peer: string
  readonly status: ReceiptStatus
}

/** What the outbox and the receipt sender work from: queries over the message rows and the outbox. */
export interface DeliveryQueries {
  /** Pending outbound messages whose next attempt is due at `now`, oldest first. */
  readonly dueEnvelopes: (now: number, limit: number, only?: ReadonlyArray<string>) => ReadonlyArray<DueEnvelope>
  /** The earliest retry deadline of a pending message, if any (a daemon sleeps until then). */
  readonly nextRetryAt: () => number | undefined
  /** The earliest TTL deadline of a live message, if any. */
  readonly nextExpiryAt: () => number | undefined
  /** Who we owe which kind of receipt: one row per peer and kind. */
  readonly owedGroups: () => ReadonlyArray<OwedReceipts>
  /** The inbound messages from `peer` owing a receipt of `status`, oldest first. */
  readonly owedTo: (peer: string, status: ReceiptStatus, limit: number) => ReadonlyArray<string>
  /** The status of an outbound message to `peer`, or undefined when there is none such. */
  readonly outboundStatus: (messageId: string, peer: string) => string | undefined
  /** Inbound messages among `ids` not yet marked read. */
  readonly unread: (ids: ReadonlyArray<string>) => ReadonlyArray<string>
  /** Has this outbound message already left (sent, delivered, read or failed)? */
  readonly settled: (messageId: string) => boolean
}

export const makeDeliveryQueries = (db: Db): DeliveryQueries => {
  // The same envelopes two ways: every pending one due (walking the outbox index), or due among `ids`.
  const DUE_COLUMNS = `o.message_id AS messageId, o.envelope_id AS envelopeId, o.recipient, o.envelope, m.attempts`
  const IS_DUE = `m.delivery_status = 'pending' AND (m.next_attempt_at IS NULL OR m.next_attempt_at <= @now)`
  const due = db.prepare(`SELECT ${DUE_COLUMNS}
    FROM messages m JOIN outbound_envelopes o ON o.message_id = (SELECT message_id FROM events WHERE seq = m.rowid)
    WHERE m.direction = 'out' AND ${IS_DUE} ORDER BY m.ts, m.rowid LIMIT @limit`)
  const dueAmong = db.prepare(`SELECT ${DUE_COLUMNS}
    FROM outbound_envelopes o JOIN messages m ON m.rowid = (SELECT seq FROM events WHERE message_id = o.message_id)
    WHERE o.message_id IN (SELECT value FROM json_each(@ids)) AND ${IS_DUE} ORDER BY m.ts, m.rowid LIMIT @limit`)
  const nextRetry = db.prepare(
    "SELECT min(next_attempt_at) FROM messages WHERE direction = 'out' AND delivery_status = 'pending'"
  ).pluck()
  const nextExpiry = db.prepare("SELECT min(expires_at) FROM messages WHERE expires_at IS NOT NULL").pluck()
  const groups = db.prepare(
    "SELECT DISTINCT peer, receipt_due AS status FROM messages WHERE receipt_due IS NOT NULL ORDER BY peer, status"
  )
  const owedTo = db.prepare(`SELECT (SELECT message_id FROM events WHERE seq = m.rowid) FROM messages m
    WHERE m.receipt_due IS NOT NULL AND m.peer = ? AND m.receipt_due = ? ORDER BY m.rowid LIMIT ?`).pluck()
  const outbound = db.prepare(`SELECT delivery_status FROM messages
    WHERE rowid = (SELECT seq FROM events WHERE message_id = ?) AND direction = 'out' AND peer = ?`).pluck()
  const unread = db.prepare(`SELECT e.message_id FROM events e JOIN messages m ON m.rowid = e.seq
    WHERE e.message_id IN (SELECT value FROM json_each(?)) AND m.direction = 'in' AND m.delivery_status <> 'read'`)
    .pluck()
  const status = db.prepare(
    "SELECT delivery_status FROM messages WHERE rowid = (SELECT seq FROM events WHERE message_id = ?)"
  ).pluck()

  return {
    dueEnvelopes: (now, limit, only) =>
      (only === undefined ? due.all({ now, limit }) : dueAmong.all({ now, limit, ids: JSON.stringify(only) })) as
        Array<DueEnvelope>,
    nextRetryAt: () => (nextRetry.get() as number | null) ?? undefined,
    nextExpiryAt: () => (nextExpiry.get() as number | null) ?? undefined,
    owedGroups: () => groups.all() as Array<OwedReceipts>,
    owedTo: (peer, status, limit) => owedTo.all(peer, status, limit) as Array<string>,
    outboundStatus: (messageId, peer) => outbound.get(messageId, peer) as string | undefined,
    unread: (ids) => unread.all(JSON.stringify(ids)) as Array<string>,
    settled: (messageId) => {
      const s = status.get(messageId) as string | undefined
      return s !== undefined && s !== "pending"
    }
  }
}
