import { Schema, Struct } from "effect"
import { type ChatMessage, chatMessageFields } from "./chat-message.js"

/**
 * A message body as the log keeps it. `Plain` is kept as is. `Shreddable` (every TTL message) is sealed
 * with a per-message key held outside the log: deleting the key at expiry makes the logged ciphertext
 * unreadable for good, which is how an append-only log forgets (DESIGN.md "Ephemeral means gone").
 */
export const PlainBody = Schema.TaggedStruct("Plain", { text: Schema.String })
export const ShreddableBody = Schema.TaggedStruct("Shreddable", {
  key_id: Schema.String,
  iv: Schema.String,
  ciphertext: Schema.String
})
export const MessageBody = Schema.Union(PlainBody, ShreddableBody)
export type MessageBody = typeof MessageBody.Type

/** A chat message's wire fields with the content replaced by its stored body. */
export const MessageRecord = Schema.Struct({
  ...Struct.omit(chatMessageFields, "content"),
  body: MessageBody
})
export type MessageRecord = typeof MessageRecord.Type

/** A record as the log stores it: the wire defaults are left out (most messages are mostly defaults). */
export type StoredRecord = Omit<MessageRecord, "thread_id" | "reply_to_id" | "ttl" | "encrypted" | "metadata" |
  "attachments"> & Partial<MessageRecord>

/** Leaves out every field that equals its wire default: about a quarter of a typical log's bytes. */
export const compactRecord = (r: MessageRecord): StoredRecord => {
  const { thread_id, reply_to_id, ttl, encrypted, metadata, attachments, ...always } = r
  return {
    ...always,
    ...(thread_id === null ? {} : { thread_id }),
    ...(reply_to_id === null ? {} : { reply_to_id }),
    ...(ttl === null ? {} : { ttl }),
    ...(encrypted ? { encrypted } : {}),
    ...(Object.keys(metadata).length === 0 ? {} : { metadata }),
    ...(attachments.length === 0 ? {} : { attachments })
  }
}

/** The full record from a stored one (what readers of the log see). */
export const expandRecord = (s: StoredRecord): MessageRecord => ({
  ...s,
  thread_id: s.thread_id ?? null,
  reply_to_id: s.reply_to_id ?? null,
  ttl: s.ttl ?? null,
  encrypted: s.encrypted ?? false,
  metadata: s.metadata ?? {},
  attachments: s.attachments ?? []
})

/**
 * What the log keeps of a message: its wire fields, with the content as a plain body, or — for a TTL
 * message — sealed by `sealBody` under a shreddable key. Built field by field (a validated ChatMessage is
 * already plain JSON): a schema encode here cost more than the append.
 */
export const recordOf = (m: ChatMessage, sealBody: (messageId: string, text: string) => MessageBody): MessageRecord => ({
  id: m.id,
  sender: m.sender,
  recipient: m.recipient,
  content_type: m.content_type,
  timestamp: m.timestamp,
  thread_id: m.thread_id,
  reply_to_id: m.reply_to_id,
  ttl: m.ttl,
  delivery_status: m.delivery_status,
  encrypted: m.encrypted,
  metadata: m.metadata,
  attachments: m.attachments,
  body: m.ttl === null ? { _tag: "Plain", text: m.content } : sealBody(m.id, m.content)
})
