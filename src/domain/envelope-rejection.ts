import { Schema } from "effect"

/**
 * Why an envelope was refused. Each is a distinct attack or failure (DESIGN.md §2, §5), recorded with
 * the quarantined envelope so a person can see what happened.
 */
export const RejectionReason = Schema.Literal(
  /** Bigger than the configured limit, checked before anything is parsed. */
  "oversized",
  /** Not JSON, not an envelope, truncated, or a sealed part that does not validate. */
  "malformed",
  /** A compressed payload that inflates past the size limit (a decompression bomb). */
  "decompression_limit",
  /** Claims to be sealed by skchat but carries no signature. */
  "unsigned",
  /** A signed plaintext envelope whose detached signature was removed. */
  "signature_stripped",
  /** No registered key for the claimed sender. */
  "unknown_sender",
  /** Signed, but not by the registered key of the sender it claims. */
  "forged_sender",
  /** The registered key of the sender differs from the one pinned when the peer was added. */
  "key_changed",
  /** A signature by the right key that does not match the content. */
  "bad_signature",
  /** Ciphertext that fails its integrity check. */
  "tampered",
  /** Encrypted, but not to our key. */
  "not_for_us",
  /** Decrypts with our key and is validly signed, but we are not among the intended recipients. */
  "forwarded",
  /** The outer header says something the signed part does not. */
  "header_mismatch",
  /** An envelope id we have already accepted. */
  "replay",
  /** A legacy (unsigned SKComm) envelope while `skchat.security.accept_unsigned` is off. */
  "unsigned_legacy",
  /** A TTL message whose lifetime ended before it arrived. Dropped, never quarantined. */
  "expired",
  /** A legacy payload type this build does not handle. */
  "unsupported"
)
export type RejectionReason = typeof RejectionReason.Type

/** A refusal: the reason code and one line of detail. */
export interface Rejection {
  readonly _tag: "Rejection"
  readonly reason: RejectionReason
  readonly detail: string
}

export const rejection = (reason: RejectionReason, detail: string): Rejection => ({
  _tag: "Rejection",
  reason,
  detail
})
