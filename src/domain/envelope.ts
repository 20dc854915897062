import { Either, Schema } from "effect"
import type { ChatMessage } from "./chat-message.js"
import type { Seal } from "./sealed-message.js"
import { formatParseError } from "./validation-message.js"

const OptionalText = Schema.optional(Schema.NullOr(Schema.String))

/**
 * The outer shape of an SKComm `MessageEnvelope` (INTEROP.md), as read: lenient about what SKComm
 * nodes add or leave out, strict about what skchat acts on. Unknown fields are ignored.
 */
export const Envelope = Schema.Struct({
  skcomm_version: Schema.optional(Schema.String),
  skcomms_version: Schema.optional(Schema.String),
  envelope_id: Schema.String.pipe(Schema.minLength(1, { message: () => "must not be empty" })),
  sender: Schema.String,
  recipient: Schema.String,
  payload: Schema.Struct({
    content: Schema.String,
    content_type: Schema.optionalWith(Schema.String, { default: () => "text" }),
    encrypted: Schema.optionalWith(Schema.Boolean, { default: () => false }),
    compressed: Schema.optionalWith(Schema.Boolean, { default: () => false }),
    signature: OptionalText
  }),
  routing: Schema.optional(Schema.Unknown),
  metadata: Schema.optional(Schema.Struct({
    thread_id: OptionalText,
    in_reply_to: OptionalText,
    created_at: OptionalText,
    expires_at: OptionalText
  }))
}).pipe(
  Schema.filter((e) =>
    e.skcomm_version !== undefined || e.skcomms_version !== undefined ||
    "an envelope needs skcomm_version (or skcomms_version)"
  )
)
export type Envelope = typeof Envelope.Type

const decodeEnvelope = Schema.decodeUnknownEither(Envelope, { errors: "all" })

export const readEnvelope = (json: unknown): Either.Either<Envelope, string> =>
  Either.mapLeft(decodeEnvelope(json), formatParseError)

/**
 * SKComm's default retry schedule in seconds: what our envelopes tell SKComm relays, and what skchat's
 * own delivery machine waits between attempts unless `skchat.delivery.retry_backoff` says otherwise.
 */
export const SKCOMM_RETRY_BACKOFF: ReadonlyArray<number> = [5, 15, 60, 300, 900]
/**
 * How long an SKComm relay should keep trying: the message's TTL when it has one, else 30 days, so a
 * peer that is offline for a while still gets it (the relay's hint only; skchat itself goes by the seal).
 */
const ROUTING_TTL_SECONDS = 30 * 24 * 3600

/** What an envelope's outer header says (a routing hint; the sealed part in `content` is what counts). */
export interface EnvelopeHeader {
  readonly envelopeId: string
  readonly sender: string
  readonly recipient: string
  readonly contentType: string
  readonly encrypted: boolean
  readonly content: string
  readonly signature: string | null
  readonly ttl: number | null
  readonly ackRequested: boolean
  readonly threadId: string | null
  readonly inReplyTo: string | null
  readonly createdAt: string
  readonly expiresAt: string | null
}

/** SKComm's `MessageEnvelope` around a sealed part, so SKComm nodes can carry and route it. */
export const skcommEnvelope = (h: EnvelopeHeader) => ({
  skcomm_version: "1.0.0",
  envelope_id: h.envelopeId,
  sender: h.sender,
  recipient: h.recipient,
  payload: {
    content: h.content,
    content_type: h.contentType,
    encrypted: h.encrypted,
    compressed: false,
    signature: h.signature
  },
  routing: {
    mode: "failover",
    preferred_transports: [],
    retry_max: SKCOMM_RETRY_BACKOFF.length,
    retry_backoff: SKCOMM_RETRY_BACKOFF,
    ttl: h.ttl ?? ROUTING_TTL_SECONDS,
    ack_requested: h.ackRequested
  },
  metadata: {
    thread_id: h.threadId,
    in_reply_to: h.inReplyTo,
    urgency: "normal",
    created_at: h.createdAt,
    expires_at: h.expiresAt,
    attempt: 0,
    delivered_via: null
  }
})

/**
 * Our message envelope: the header repeats what the sealed part says, and `payload.content` is the sealed
 * part — an armored OpenPGP message, or for a deliberate plaintext send the signed document itself with a
 * detached signature.
 */
export const makeEnvelope = (
  message: ChatMessage,
  seal: Seal,
  payload: { readonly content: string; readonly signature: string | null }
) =>
  skcommEnvelope({
    envelopeId: seal.envelope_id,
    sender: message.sender,
    recipient: message.recipient,
    contentType: "text",
    encrypted: message.encrypted,
    content: payload.content,
    signature: payload.signature,
    ttl: message.ttl,
    ackRequested: true,
    threadId: message.thread_id,
    inReplyTo: message.reply_to_id,
    createdAt: seal.created_at,
    expiresAt: seal.expires_at
  })

/** The first of `checks` (field, outer value, signed value) whose outer value, when present, disagrees. */
export const firstDisagreement = (checks: ReadonlyArray<readonly [string, unknown, unknown]>): string | undefined => {
  for (const [field, outer, sealed] of checks) {
    if (outer !== undefined && outer !== sealed) {
      return `outer ${field} ${JSON.stringify(outer)} disagrees with the signed ${JSON.stringify(sealed)}`
    }
  }
  return undefined
}

/**
 * The first place where the untrusted outer header disagrees with the signed part, or undefined. A header
 * field that is absent makes no claim; one that is present must match exactly.
 */
export const headerMismatch = (envelope: Envelope, message: ChatMessage, seal: Seal): string | undefined => {
  const meta = envelope.metadata ?? {}
  const checks: ReadonlyArray<readonly [string, unknown, unknown]> = [
    ["envelope_id", envelope.envelope_id, seal.envelope_id],
    ["sender", envelope.sender, message.sender],
    ["recipient", envelope.recipient, message.recipient],
    ["payload.encrypted", envelope.payload.encrypted, message.encrypted],
    ["metadata.thread_id", meta.thread_id, message.thread_id],
    ["metadata.in_reply_to", meta.in_reply_to, message.reply_to_id],
    ["metadata.created_at", meta.created_at, seal.created_at],
    ["metadata.expires_at", meta.expires_at, seal.expires_at]
  ]
  return firstDisagreement(checks)
}
