import { Schema, Struct } from "effect"
import { chatMessageFields } from "./chat-message.js"

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
