import type { ChatEvent } from "../domain/chat-event.js"
import { advanceStatus } from "../domain/delivery-progress.js"
import type { DeliveryStatus } from "../domain/delivery-status.js"
import { expiresAtMillis } from "../domain/compose-message.js"
import type { MessageRecord } from "../domain/message-record.js"
import { timestampMillis } from "../domain/timestamp.js"
import type { Projection } from "./projection.js"

type Direction = "in" | "out"

const statusOf: Partial<Record<ChatEvent["_tag"], DeliveryStatus>> = {
  MessageSent: "sent",
  MessageDelivered: "delivered",
  MessageRead: "read",
  MessageFailed: "failed"
}

/**
 * One row per live message, both directions. Inbox, conversation history and the outbox are queries
 * over it (message-queries.ts). An expired message's row is deleted, not flagged.
 */
export const messageProjection: Projection = {
  name: "messages",
  tables: ["messages", "known_messages"],
  make: (db, ctx) => {
    const insert = db.prepare(`INSERT OR IGNORE INTO messages (rowid, id, direction, peer, sender, recipient, content,
      content_type, timestamp, ts, thread_id, reply_to_id, ttl, expires_at, delivery_status, encrypted, verified,
      metadata, attachments) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
    const remember = db.prepare("INSERT OR IGNORE INTO known_messages (id, seq) VALUES (?, ?)")
    const selectStatus = db.prepare("SELECT delivery_status FROM messages WHERE id = ?").pluck()
    const updateStatus = db.prepare("UPDATE messages SET delivery_status = ? WHERE id = ?")
    const remove = db.prepare("DELETE FROM messages WHERE id = ?")

    const insertMessage = (seq: number, m: MessageRecord, direction: Direction, status: DeliveryStatus,
      verified: boolean) => {
      const ts = timestampMillis(m.timestamp)
      remember.run(m.id, seq)
      insert.run(seq, m.id, direction, direction === "out" ? m.recipient : m.sender, m.sender, m.recipient,
        ctx.openBody(m.id, m.body) ?? "", m.content_type, m.timestamp, ts, m.thread_id, m.reply_to_id, m.ttl,
        expiresAtMillis(ts, m.ttl), status, m.encrypted ? 1 : 0, verified ? 1 : 0, JSON.stringify(m.metadata),
        JSON.stringify(m.attachments))
    }

    return {
      apply: ({ event, seq }) => {
        switch (event._tag) {
          case "MessageComposed":
            return insertMessage(seq, event.message, "out", event.message.delivery_status, true)
          case "MessageReceived":
            return insertMessage(seq, event.message, "in", "delivered", event.verified)
          case "MessageSent":
          case "MessageDelivered":
          case "MessageRead":
          case "MessageFailed": {
            const current = selectStatus.get(event.message_id) as DeliveryStatus | undefined
            if (current === undefined) return
            const next = advanceStatus(current, statusOf[event._tag]!)
            if (next !== current) updateStatus.run(next, event.message_id)
            return
          }
          case "MessageExpired":
            remove.run(event.message_id)
            return
        }
      }
    }
  }
}
