import { Schema } from "effect"
import { RejectionReason } from "./envelope-rejection.js"
import { MessageRecord } from "./message-record.js"
import { ReceiptStatus } from "./receipt.js"

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

/**
 * `envelope_id` (absent in stores written before sealing existed) names the envelope the message went
 * out or came in; the log keeps it unique, which is how a replayed envelope is recognised.
 */
export const MessageComposed = Schema.TaggedStruct("MessageComposed", {
  v: V1,
  message: MessageRecord,
  ts: Ts,
  envelope_id: Schema.optional(Schema.String),
  /**
   * The caller's idempotency key (an agent retrying a send after a timeout): unique in the log, so a
   * retried send with the same key is recognised in any process, even after a restart. `request_digest`
   * tells a true retry (same recipient, text and options) from a key reused for another message.
   */
  idempotency_key: Schema.optional(Schema.String),
  request_digest: Schema.optional(Schema.String)
})
/**
 * A message opened once, at the edge: the log keeps what it said, so no replay ever decrypts. `verified`
 * is true only for a sealed envelope whose signature checked out against the sender's pinned key;
 * `signer` is that key's fingerprint.
 */
export const MessageReceived = Schema.TaggedStruct("MessageReceived", {
  v: V1,
  message: MessageRecord,
  ts: Ts,
  verified: Schema.Boolean,
  envelope_id: Schema.optional(Schema.String),
  signer: Schema.optional(Schema.String),
  /**
   * A digest of the sealed payload it came in (envelope-codec.ts `digestOf`). The same envelope arriving
   * again (at-least-once transports redeliver after a crash) is a quiet duplicate; another payload under a
   * known envelope id is a replay.
   */
  payload_digest: Schema.optional(Schema.String)
})
/** A transport took the envelope (written to an outbox folder, handed to a peer). */
export const MessageSent = Schema.TaggedStruct("MessageSent", {
  v: V1,
  message_id: Schema.String,
  at: At,
  transport: Schema.String
})
/** The recipient's signed delivery receipt arrived. */
export const MessageDelivered = Schema.TaggedStruct("MessageDelivered", { v: V1, message_id: Schema.String, at: At })
/**
 * The message was read by its recipient: for an outbound message, their signed read receipt arrived;
 * for an inbound one, we showed it (and owe the sender a read receipt, unless `receipt` is false: the reader
 * turned read receipts off with `skchat.privacy.read_receipts`). The choice is in the event, not read from
 * the config on replay, so a rebuild owes exactly what was owed.
 */
export const MessageRead = Schema.TaggedStruct("MessageRead", {
  v: V1,
  message_id: Schema.String,
  at: At,
  receipt: Schema.optional(Schema.Literal(false))
})
/**
 * No transport could take the envelope. The next attempt's absolute time is logged, so whichever
 * process looks next (a later CLI, a restarted daemon) retries on schedule (DESIGN.md: deadlines live
 * in events).
 */
export const DeliveryAttemptFailed = Schema.TaggedStruct("DeliveryAttemptFailed", {
  v: V1,
  message_id: Schema.String,
  at: At,
  attempt: Schema.Number,
  reason: Schema.String,
  next_attempt_at: At
})
/** A delivery or read receipt for these inbound messages went out to their sender. */
export const ReceiptSent = Schema.TaggedStruct("ReceiptSent", {
  v: V1,
  at: At,
  peer: Schema.String,
  status: ReceiptStatus,
  message_ids: Schema.Array(Schema.String),
  envelope_id: Schema.String,
  transport: Schema.String
})
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

/**
 * An envelope refused on arrival (envelope-rejection.ts). The raw bytes are kept in the quarantine folder
 * under `file` (null when they were dropped, as for an expired TTL message whose text must not outlive it).
 */
export const EnvelopeRejected = Schema.TaggedStruct("EnvelopeRejected", {
  v: V1,
  at: At,
  reason: RejectionReason,
  detail: Schema.String,
  /** The envelope id and sender the header claimed: untrusted, for the person reading the list. */
  claimed_id: Schema.NullOr(Schema.String),
  claimed_sender: Schema.NullOr(Schema.String),
  sha256: Schema.String,
  size: Schema.Number,
  file: Schema.NullOr(Schema.String)
})
/**
 * A peer's key pinned (trust on first use, or `peers add`): from then on a different key for that URI is
 * refused until the peer is removed and added again.
 */
export const PeerAdded = Schema.TaggedStruct("PeerAdded", {
  v: V1,
  at: At,
  uri: Schema.String,
  name: Schema.String,
  fingerprint: Schema.String,
  how: Schema.Literal("peers add", "first use")
})
export const PeerRemoved = Schema.TaggedStruct("PeerRemoved", {
  v: V1,
  at: At,
  uri: Schema.String,
  name: Schema.String,
  fingerprint: Schema.String
})

/**
 * A direct call began: we called (`out`), or a peer's signed offer reached us (`in`). Its negotiation
 * then runs in the daemon (actors/call-manager.ts); what the log keeps is the lifecycle, never an SDP.
 */
export const CallStarted = Schema.TaggedStruct("CallStarted", {
  v: V1,
  at: At,
  call_id: Schema.String,
  peer: Schema.String,
  direction: Schema.Literal("out", "in")
})
/** The data channel is open: envelopes to the peer now go over it first. */
export const CallConnected = Schema.TaggedStruct("CallConnected", { v: V1, at: At, call_id: Schema.String })
/** How a call ended; `reason` says more for a failure. */
export const CallEnded = Schema.TaggedStruct("CallEnded", {
  v: V1,
  at: At,
  call_id: Schema.String,
  outcome: Schema.Literal("hung_up", "remote_hung_up", "failed", "timed_out", "superseded", "interrupted"),
  reason: Schema.NullOr(Schema.String)
})
/**
 * A file transfer began: the signed chat message that announces it (`message_id`, with the file's name,
 * size, sha256 and chunk key in its attachment) went out, or came in.
 */
export const TransferStarted = Schema.TaggedStruct("TransferStarted", {
  v: V1,
  at: At,
  transfer_id: Schema.String,
  message_id: Schema.String,
  direction: Schema.Literal("out", "in"),
  peer: Schema.String,
  name: Schema.String,
  size: Schema.Number,
  sha256: Schema.String,
  /** Where the file is: the source on the sending side, the final place on the receiving side. */
  path: Schema.String
})
/**
 * Every chunk arrived and the whole file's sha256 matched (receiving side), or the receiver said so
 * (sending side, over a direct channel) or every chunk was handed to a transport (`route` "transport").
 */
export const TransferCompleted = Schema.TaggedStruct("TransferCompleted", {
  v: V1,
  at: At,
  transfer_id: Schema.String,
  route: Schema.Literal("direct", "transport"),
  /** Receiving side: where the file was put (its name, made unique in the files folder). */
  path: Schema.NullOr(Schema.String)
})
export const TransferFailed = Schema.TaggedStruct("TransferFailed", {
  v: V1,
  at: At,
  transfer_id: Schema.String,
  reason: Schema.String
})

export const ChatEvent = Schema.Union(
  MessageComposed,
  MessageReceived,
  MessageSent,
  MessageDelivered,
  MessageRead,
  MessageFailed,
  MessageExpired,
  ThreadCreated,
  EnvelopeRejected,
  PeerAdded,
  PeerRemoved,
  DeliveryAttemptFailed,
  ReceiptSent,
  CallStarted,
  CallConnected,
  CallEnded,
  TransferStarted,
  TransferCompleted,
  TransferFailed
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
