import { Either, Schema } from "effect"
import { MessageId } from "./message-id.js"
import { Fingerprint, sealKindOf } from "./sealed-message.js"
import { Timestamp } from "./timestamp.js"
import { formatParseError } from "./validation-message.js"

/**
 * What two peers exchange to set up a direct (WebRTC) call: the SDP offer and answer, ICE candidates, and
 * the hang-up. Each travels as a signed envelope encrypted to the peer only, over the ordinary transports;
 * the call it belongs to is `call_id`.
 */
/** Which of the caller's connections for the call a signal belongs to (0, the first, when absent). */
const Attempt = Schema.Int.pipe(Schema.between(0, 15))

export const CallSignal = Schema.Union(
  Schema.Struct({
    kind: Schema.Literal("offer"),
    sdp: Schema.String.pipe(Schema.maxLength(65_536)),
    attempt: Schema.optional(Attempt)
  }),
  Schema.Struct({
    kind: Schema.Literal("answer"),
    sdp: Schema.String.pipe(Schema.maxLength(65_536)),
    attempt: Schema.optional(Attempt)
  }),
  Schema.Struct({
    kind: Schema.Literal("candidate"),
    candidate: Schema.String.pipe(Schema.maxLength(1024)),
    mid: Schema.String.pipe(Schema.maxLength(64)),
    attempt: Schema.optional(Attempt)
  }),
  /** The sender's connection for `attempt` failed before it connected: the caller is asked to offer anew. */
  Schema.Struct({ kind: Schema.Literal("retry"), attempt: Attempt }),
  Schema.Struct({ kind: Schema.Literal("hangup"), reason: Schema.NullOr(Schema.String.pipe(Schema.maxLength(256))) })
)
export type CallSignal = typeof CallSignal.Type

/**
 * A signal is worth acting on for this long: a call negotiates in seconds, and an old offer replayed later
 * must not ring anyone. The seal's `expires_at` carries it, signed.
 */
export const CALL_SIGNAL_LIFETIME_MS = 60_000

/** The payload type its envelopes carry (SKComm routes unknown types as opaque). */
export const CALL_SIGNAL_CONTENT_TYPE = "skchat.call_signal"

export const CallSignalSeal = Schema.Struct({
  v: Schema.Literal(1),
  kind: Schema.Literal("call_signal"),
  envelope_id: MessageId,
  sender_fingerprint: Fingerprint,
  recipient_fingerprints: Schema.Array(Fingerprint),
  created_at: Timestamp,
  expires_at: Timestamp
})
export type CallSignalSeal = typeof CallSignalSeal.Type

/** The signed part of a call signal: who tells whom what about which call. */
export const CallSignalDocument = Schema.Struct({
  sender: Schema.String,
  recipient: Schema.String,
  timestamp: Timestamp,
  call_id: MessageId,
  signal: CallSignal,
  seal: CallSignalSeal
})
export type CallSignalDocument = typeof CallSignalDocument.Type

const decodeSignal = Schema.decodeUnknownEither(CallSignalDocument, { errors: "all" })

/** Does a sealed document say it is a call signal? (Its shape is checked by `readCallSignal`.) */
export const claimsCallSignal = (doc: unknown): boolean => sealKindOf(doc) === "call_signal"

export const readCallSignal = (doc: unknown): Either.Either<CallSignalDocument, string> =>
  Either.mapLeft(decodeSignal(doc), formatParseError)
