import { Either, Schema } from "effect"
import { type ChatMessage, decodeChatMessage } from "./chat-message.js"
import { MessageId } from "./message-id.js"
import { Timestamp } from "./timestamp.js"
import { formatParseError } from "./validation-message.js"

/** An OpenPGP v4 fingerprint: 40 hex digits, kept lower-case (as OpenPGP.js prints it). */
export const Fingerprint = Schema.String.pipe(
  Schema.filter((s) => /^[0-9a-f]{40}$/.test(s) || "must be a 40-digit lower-case hex OpenPGP fingerprint")
)

/**
 * What the sealed part adds to the chat message it carries: everything a receiver acts on that the chat
 * message itself does not say. The signature covers it, so the outer header can be checked against it.
 */
export const Seal = Schema.Struct({
  v: Schema.Literal(1),
  kind: Schema.Literal("message"),
  envelope_id: MessageId,
  sender_fingerprint: Fingerprint,
  /** Who the sender meant it for. A key that can decrypt it but is not listed is a forwarding. */
  recipient_fingerprints: Schema.Array(Fingerprint),
  created_at: Timestamp,
  expires_at: Schema.NullOr(Timestamp)
})
export type Seal = typeof Seal.Type

/**
 * The sealed part: a chat message in the wire form of INTEROP.md with a `seal` member. A Python skchat
 * that reads it sees a chat message (unknown keys are ignored there); skchat also checks the seal.
 */
export interface SealedMessage {
  readonly message: ChatMessage
  readonly seal: Seal
}

/** The sealed document as it is signed: plain JSON, to be written with `canonicalJson`. */
export const sealedDocument = (message: ChatMessage, seal: Seal): Record<string, unknown> => ({
  id: message.id,
  sender: message.sender,
  recipient: message.recipient,
  content: message.content,
  content_type: message.content_type,
  timestamp: message.timestamp,
  thread_id: message.thread_id,
  reply_to_id: message.reply_to_id,
  ttl: message.ttl,
  encrypted: message.encrypted,
  metadata: message.metadata,
  attachments: message.attachments,
  seal
})

const decodeSeal = Schema.decodeUnknownEither(Seal, { errors: "all" })

/** Does this parsed JSON claim to be one of ours (a `seal` member), signed or not? */
export const claimsSeal = (doc: unknown): boolean =>
  doc !== null && typeof doc === "object" && !Array.isArray(doc) && "seal" in doc

/** What a sealed document's seal says it is (`message`, `receipt`, `call_signal`), before its shape is checked. */
export const sealKindOf = (doc: unknown): unknown => {
  if (!claimsSeal(doc)) return undefined
  const seal = (doc as { seal: unknown }).seal
  return seal !== null && typeof seal === "object" ? (seal as { kind?: unknown }).kind : undefined
}

/** Reads a sealed document; `Left` is a one-line reason. */
export const readSealed = (doc: unknown): Either.Either<SealedMessage, string> => {
  if (!claimsSeal(doc)) return Either.left("the sealed part has no seal")
  const seal = decodeSeal((doc as { seal: unknown }).seal)
  if (Either.isLeft(seal)) return Either.left(`seal: ${formatParseError(seal.left)}`)
  const message = decodeChatMessage(doc)
  if (Either.isLeft(message)) return Either.left(formatParseError(message.left))
  return Either.right({ message: message.right, seal: seal.right })
}
