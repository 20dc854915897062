import { Either, Schema } from "effect"
import { MessageId } from "./message-id.js"
import { Fingerprint, sealKindOf } from "./sealed-message.js"
import { Timestamp } from "./timestamp.js"
import { formatParseError } from "./validation-message.js"

/** What a receipt says happened to the messages it names. */
export const ReceiptStatus = Schema.Literal("delivered", "read")
export type ReceiptStatus = typeof ReceiptStatus.Type

/** At most this many message ids in one receipt: a burst of 10,000 messages is answered by 20 envelopes. */
export const MAX_RECEIPT_IDS = 500

/** A receipt's seal: like a message's, with nothing to expire. */
export const ReceiptSeal = Schema.Struct({
  v: Schema.Literal(1),
  kind: Schema.Literal("receipt"),
  envelope_id: MessageId,
  sender_fingerprint: Fingerprint,
  recipient_fingerprints: Schema.Array(Fingerprint),
  created_at: Timestamp,
  expires_at: Schema.Null
})
export type ReceiptSeal = typeof ReceiptSeal.Type

/**
 * The signed part of a delivery or read receipt: who acknowledges which messages to whom. Signed by
 * the recipient of those messages, so a receipt only ever moves the status of messages sent to its
 * signer (checked by the receiving ChatSystem, not here).
 */
export const ReceiptDocument = Schema.Struct({
  sender: Schema.String,
  recipient: Schema.String,
  timestamp: Timestamp,
  receipt: Schema.Struct({
    status: ReceiptStatus,
    message_ids: Schema.Array(MessageId).pipe(Schema.minItems(1), Schema.maxItems(MAX_RECEIPT_IDS))
  }),
  seal: ReceiptSeal
})
export type ReceiptDocument = typeof ReceiptDocument.Type

const decodeReceipt = Schema.decodeUnknownEither(ReceiptDocument, { errors: "all" })

/** Does a sealed document say it is a receipt? (Its shape is checked by `readReceipt`.) */
export const claimsReceipt = (doc: unknown): boolean => sealKindOf(doc) === "receipt"

export const readReceipt = (doc: unknown): Either.Either<ReceiptDocument, string> =>
  Either.mapLeft(decodeReceipt(doc), formatParseError)

/** SKComm's payload types for the two receipts (INTEROP.md), so SKComm nodes route them as such. */
export const receiptContentType = (status: ReceiptStatus): string => (status === "delivered" ? "ack" : "read_receipt")
