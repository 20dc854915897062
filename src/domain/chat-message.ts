import { Schema } from "effect"
import { ContentType } from "./content-type.js"
import { DeliveryStatus } from "./delivery-status.js"
import { Participant } from "./identity-uri.js"
import { MessageId, ThreadId } from "./message-id.js"
import { Timestamp } from "./timestamp.js"

/** Seconds a message lives after its timestamp. Whole and positive: a negative TTL is meaningless. */
export const Ttl = Schema.Number.pipe(
  Schema.filter((n) => (Number.isInteger(n) && n > 0) || "must be a positive whole number of seconds")
).annotations({ identifier: "Ttl" })

/** The wire fields of INTEROP.md's chat message. Unknown keys are ignored on decode. */
export const chatMessageFields = {
  id: MessageId,
  sender: Participant,
  recipient: Participant,
  content: Schema.String,
  content_type: Schema.optionalWith(ContentType, { default: () => "text/plain" }),
  timestamp: Timestamp,
  thread_id: Schema.optionalWith(Schema.NullOr(ThreadId), { default: () => null }),
  reply_to_id: Schema.optionalWith(Schema.NullOr(MessageId), { default: () => null }),
  ttl: Schema.optionalWith(Schema.NullOr(Ttl), { default: () => null }),
  delivery_status: Schema.optionalWith(DeliveryStatus, { default: () => "pending" as const }),
  encrypted: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  metadata: Schema.optionalWith(Schema.Record({ key: Schema.String, value: Schema.Unknown }), { default: () => ({}) }),
  attachments: Schema.optionalWith(Schema.Array(Schema.Unknown), { default: () => [] })
}

export class ChatMessage extends Schema.Class<ChatMessage>("ChatMessage")(
  Schema.Struct(chatMessageFields).pipe(
    Schema.filter((m) =>
      m.content.trim().length > 0 || m.attachments.length > 0 ||
      { path: ["content"], message: "must not be empty" }
    )
  )
) {}

const WireObject = Schema.Record({ key: Schema.String, value: Schema.Unknown }).annotations({
  message: () => "a chat message must be a JSON object"
})

/**
 * Decodes a chat message as the Python skchat writes it: `reply_to` is an alias of `reply_to_id`,
 * short content types are expanded, unknown keys (e.g. `EDIT_WINDOW_SECONDS`) are dropped.
 */
export const ChatMessageFromWire = Schema.transform(WireObject, ChatMessage, {
  strict: false,
  decode: (raw) => {
    const { reply_to, ...rest } = raw
    return rest["reply_to_id"] === undefined || rest["reply_to_id"] === null
      ? { ...rest, reply_to_id: reply_to ?? null }
      : rest
  },
  encode: (m) => m
})

export const decodeChatMessage = Schema.decodeUnknownEither(ChatMessageFromWire, { errors: "all" })
export const encodeChatMessage = Schema.encodeSync(ChatMessage)
