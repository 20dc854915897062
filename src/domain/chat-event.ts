import { Schema } from "effect"
import { MessageRecord } from "./message-record.js"

/**
 * Facts in the log, past tense. Each carries a schema version `v` so a later reader can upgrade old
 * shapes; readers skip types they do not know instead of failing (DESIGN.md §1).
 * Every field is plain JSON, so what is decoded equals what is stored and replay needs no schema work.
 */
const V1 = Schema.Literal(1)
const At = Schema.Number // unix milliseconds

/**
 * The message's own timestamp as unix ms, parsed once when the message is recorded: a replay never
 * parses a date, and a later change to the parser cannot reorder old messages.
 */
const Ts = Schema.Number

export const MessageComposed = Schema.TaggedStruct("MessageComposed", { v: V1, message: MessageRecord, ts: Ts })
export const MessageReceived = Schema.TaggedStruct("MessageReceived", {
  v: V1,
  message: MessageRecord,
  ts: Ts,
  verified: Schema.Boolean
})
export const MessageSent = Schema.TaggedStruct("MessageSent", {
  v: V1,
  message_id: Schema.String,
  at: At,
  transport: Schema.String
})
export const MessageDelivered = Schema.TaggedStruct("MessageDelivered", { v: V1, message_id: Schema.String, at: At })
export const MessageRead = Schema.TaggedStruct("MessageRead", { v: V1, message_id: Schema.String, at: At })
export const MessageFailed = Schema.TaggedStruct("MessageFailed", {
  v: V1,
  message_id: Schema.String,
  at: At,
  reason: Schema.String
})
export const MessageExpired = Schema.TaggedStruct("MessageExpired", { v: V1, message_id: Schema.String, at: At })
export const ThreadCreated = Schema.TaggedStruct("ThreadCreated", {
  v: V1,
  thread_id: Schema.String,
  title: Schema.String,
  participants: Schema.Array(Schema.String),
  at: At
})

export const ChatEvent = Schema.Union(
  MessageComposed,
  MessageReceived,
  MessageSent,
  MessageDelivered,
  MessageRead,
  MessageFailed,
  MessageExpired,
  ThreadCreated
)
export type ChatEvent = typeof ChatEvent.Type
export type ChatEventTag = ChatEvent["_tag"]

/** A stored event as read back from the log: its place in the chain plus the fact itself. */
export interface LoggedEvent {
  readonly seq: number
  readonly id: string
  readonly recordedAt: number
  readonly event: ChatEvent | UnknownEvent
}

/** An event type this build does not know (written by a newer skchat). Projections skip it. */
export interface UnknownEvent {
  readonly _tag: "Unknown"
  readonly type: string
  readonly v: number
}
