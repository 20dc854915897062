import type { ChatEvent } from "../domain/chat-event.js"
import { advanceStatus } from "../domain/delivery-progress.js"
import type { DeliveryStatus } from "../domain/delivery-status.js"
import { expiresAtMillis } from "../domain/compose-message.js"
import type { MessageBody, MessageRecord } from "../domain/message-record.js"
import type { Projection } from "./projection.js"

type Direction = "in" | "out"

const statusOf: Partial<Record<ChatEvent["_tag"], DeliveryStatus>> = {
  MessageSent: "sent",
  MessageDelivered: "delivered",
  MessageRead: "read",
  MessageFailed: "failed"
}

/** The row (= seq) of a message stored before event `seq`: receipts and expiry only touch those. */
const ROW_OF = "(SELECT seq FROM events WHERE message_id = @id AND seq < @seq)"

/**
 * The set-wise twin of `insertMessage` below, for rebuilds: the same columns computed in SQL from the
 * logged JSON, with the same JS helper for opening a sealed body as an SQL function.
 */
const BULK_INSERT = `INSERT INTO messages (rowid, direction, peer, ts, thread_id, expires_at, delivery_status, verified,
    sealed_text, receipt_due)
  SELECT seq, direction, peer, ts, thread_id, CASE WHEN ttl IS NULL THEN NULL ELSE ts + ttl * 1000 END, status,
    verified, sealed_text, CASE WHEN direction = 'in' AND verified AND has_envelope THEN 'delivered' END
  FROM (
    SELECT seq, envelope_id IS NOT NULL AS has_envelope,
      CASE type WHEN 'MessageComposed' THEN 'out' ELSE 'in' END AS direction,
      CASE type WHEN 'MessageComposed' THEN data ->> '$.message.recipient' ELSE data ->> '$.message.sender' END
        AS peer,
      data ->> '$.ts' AS ts,
      data ->> '$.message.thread_id' AS thread_id,
      data ->> '$.message.ttl' AS ttl,
      CASE type WHEN 'MessageComposed' THEN data ->> '$.message.delivery_status' ELSE 'delivered' END AS status,
      CASE WHEN type = 'MessageComposed' OR data ->> '$.verified' THEN 1 ELSE 0 END AS verified,
      CASE data ->> '$.message.body._tag' WHEN 'Plain' THEN NULL
        ELSE coalesce(skchat_open_body(message_id, data -> '$.message.body'), '') END AS sealed_text
    FROM events WHERE message_id IS NOT NULL AND v = 1 ORDER BY seq
  )`

/**
 * A verified sealed message is owed receipts: a delivery receipt when it arrives, a read receipt when it is
 * first shown. Legacy (unsigned) messages are not: their sender cannot check a receipt from us.
 */
const owesReceipts = (direction: Direction, verified: boolean, envelopeId: string | undefined) =>
  direction === "in" && verified && envelopeId !== undefined

/**
 * One row per live message, both directions. Inbox, conversation history and the outbox are queries
 * over it (message-queries.ts). An expired message's row is deleted, not flagged. A receipt or expiry
 * only touches a message stored before it, whichever order a rebuild applies them in.
 */
export const messageProjection: Projection = {
  name: "messages",
  tables: ["messages"],
  make: (db, ctx) => {
    const insert = db.prepare(`INSERT INTO messages (rowid, direction, peer, ts, thread_id, expires_at,
      delivery_status, verified, sealed_text, receipt_due) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
    const selectRow = db.prepare(`SELECT rowid, direction, delivery_status, verified, receipt_due,
        (SELECT envelope_id FROM events WHERE seq = messages.rowid) IS NOT NULL AS has_envelope
      FROM messages WHERE rowid = ${ROW_OF}`)
    const updateStatus = db.prepare(
      "UPDATE messages SET delivery_status = @status, receipt_due = @due, next_attempt_at = @next WHERE rowid = @row"
    )
    const updateAttempt = db.prepare(
      `UPDATE messages SET attempts = @attempt, next_attempt_at = @next WHERE rowid = ${ROW_OF}`
    )
    // A delivery receipt sent does not settle a read receipt owed meanwhile; a read receipt settles both.
    const settleReceipt = db.prepare(`UPDATE messages SET receipt_due = NULL
      WHERE rowid = ${ROW_OF} AND (receipt_due = @status OR @status = 'read')`)
    const remove = db.prepare(`DELETE FROM messages WHERE rowid = ${ROW_OF}`)

    const insertMessage = (seq: number, m: MessageRecord, ts: number, direction: Direction, status: DeliveryStatus,
      verified: boolean, envelopeId: string | undefined) => {
      insert.run(seq, direction, direction === "out" ? m.recipient : m.sender, ts, m.thread_id,
        expiresAtMillis(ts, m.ttl), status, verified ? 1 : 0,
        m.body._tag === "Plain" ? null : ctx.openBody(m.id, m.body) ?? "",
        owesReceipts(direction, verified, envelopeId) ? "delivered" : null)
    }

    return {
      apply: ({ event, seq }) => {
        switch (event._tag) {
          case "MessageComposed":
            return insertMessage(seq, event.message, event.ts, "out", event.message.delivery_status, true, undefined)
          case "MessageReceived":
            return insertMessage(seq, event.message, event.ts, "in", "delivered", event.verified, event.envelope_id)
          case "MessageSent":
          case "MessageDelivered":
          case "MessageRead":
          case "MessageFailed": {
            const row = selectRow.get({ id: event.message_id, seq }) as {
              rowid: number
              direction: Direction
              delivery_status: DeliveryStatus
              verified: number
              receipt_due: string | null
              has_envelope: number
            } | undefined
            if (row === undefined) return
            const next = advanceStatus(row.delivery_status, statusOf[event._tag]!)
            if (next === row.delivery_status) return
            // Reading an inbound message we owe receipts for: the read receipt replaces the delivery one
            // (unless the reader sends none: a delivery receipt still owed stays owed).
            const due = event._tag === "MessageRead" && event.receipt !== false && row.direction === "in" &&
                row.verified === 1 && row.has_envelope === 1
              ? "read"
              : row.receipt_due
            updateStatus.run({ row: row.rowid, status: next, due, next: null })
            return
          }
          case "DeliveryAttemptFailed":
            updateAttempt.run({ id: event.message_id, seq, attempt: event.attempt, next: event.next_attempt_at })
            return
          case "ReceiptSent":
            for (const id of event.message_ids) settleReceipt.run({ id, seq, status: event.status })
            return
          case "MessageExpired":
            remove.run({ id: event.message_id, seq })
            return
        }
      },
      bulkLoad: () => {
        db.function("skchat_open_body", (id: unknown, body: unknown) =>
          ctx.openBody(String(id), JSON.parse(String(body)) as MessageBody) ?? null
        )
        db.prepare(BULK_INSERT).run()
      }
    }
  }
}
