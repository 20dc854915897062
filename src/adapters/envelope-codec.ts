import { Either } from "effect"
import { createHash } from "node:crypto"
import { gunzipSync } from "node:zlib"
import { canonicalJson } from "../domain/canonical-json.js"
import { type ChatMessage, decodeChatMessage } from "../domain/chat-message.js"
import { expiresAtMillis } from "../domain/compose-message.js"
import {
  type Envelope,
  firstDisagreement,
  headerMismatch,
  makeEnvelope,
  readEnvelope,
  skcommEnvelope
} from "../domain/envelope.js"
import { type Rejection, rejection } from "../domain/envelope-rejection.js"
import { errorLine } from "../domain/error-line.js"
import { isSafeId } from "../domain/message-id.js"
import {
  CALL_SIGNAL_CONTENT_TYPE,
  CALL_SIGNAL_LIFETIME_MS,
  type CallSignal,
  claimsCallSignal,
  readCallSignal
} from "../domain/call-signal.js"
import { claimsReceipt, readReceipt, receiptContentType, type ReceiptStatus } from "../domain/receipt.js"
import { claimsSeal, readSealed, type Seal, sealedDocument } from "../domain/sealed-message.js"
import { isoFromMillis, timestampMillis } from "../domain/timestamp.js"
import { formatParseError } from "../domain/validation-message.js"
import {
  decrypt,
  type OwnKey,
  type PeerKey,
  signAndEncrypt,
  signDetached,
  verifyDetached
} from "./openpgp-crypto.js"

const utf8 = new TextEncoder()

export interface SealedEnvelope {
  readonly envelopeId: string
  /** The envelope file's text (SKComm's pretty-printed JSON). */
  readonly text: string
}

/**
 * Seals a composed message into our envelope: the signed part is the canonical JSON of the message plus
 * its seal; encrypted to the recipient and to ourselves (so our sent copy stays readable to us), or — for
 * a deliberate plaintext send (`message.encrypted` false) — carried in the clear with a detached
 * signature over exactly those bytes. `recipient` is undefined only for a plaintext send to someone
 * with no registered key.
 */
export const sealEnvelope = async (
  message: ChatMessage,
  me: OwnKey,
  recipient: PeerKey | undefined,
  envelopeId: string
): Promise<SealedEnvelope> => {
  const expiresMs = expiresAtMillis(timestampMillis(message.timestamp), message.ttl)
  const seal: Seal = {
    v: 1,
    kind: "message",
    envelope_id: envelopeId,
    sender_fingerprint: me.fingerprint,
    recipient_fingerprints: recipient === undefined ? [] : [recipient.fingerprint],
    created_at: message.timestamp,
    expires_at: expiresMs === null ? null : isoFromMillis(expiresMs)
  }
  const signed = canonicalJson(sealedDocument(message, seal))
  const bytes = utf8.encode(signed)
  const payload = message.encrypted && recipient !== undefined
    ? { content: await signAndEncrypt(bytes, me, [recipient.key, me.publicKey]), signature: null }
    : { content: signed, signature: await signDetached(bytes, me) }
  return { envelopeId, text: JSON.stringify(makeEnvelope(message, seal, payload), null, 2) }
}

/**
 * Seals a document for one peer only (a receipt, a call signal): signed by us, encrypted to them alone (it
 * tells nobody else anything), in SKComm's outer shape with `contentType` as its payload type. The signed
 * document is who to whom and when, the kind's own fields (`body`), and the seal.
 */
const sealForPeer = async (
  header: { readonly from: string; readonly to: string; readonly at: number; readonly contentType: string },
  kind: "receipt" | "call_signal",
  expiresAt: string | null,
  body: Record<string, unknown>,
  me: OwnKey,
  peer: PeerKey,
  envelopeId: string
): Promise<SealedEnvelope> => {
  const createdAt = isoFromMillis(header.at)
  const seal = {
    v: 1,
    kind,
    envelope_id: envelopeId,
    sender_fingerprint: me.fingerprint,
    recipient_fingerprints: [peer.fingerprint],
    created_at: createdAt,
    expires_at: expiresAt
  }
  const doc = { sender: header.from, recipient: header.to, timestamp: createdAt, ...body, seal }
  const content = await signAndEncrypt(utf8.encode(canonicalJson(doc)), me, [peer.key])
  const envelope = skcommEnvelope({
    envelopeId,
    sender: header.from,
    recipient: header.to,
    contentType: header.contentType,
    encrypted: true,
    content,
    signature: null,
    ttl: null,
    ackRequested: false,
    threadId: null,
    inReplyTo: null,
    createdAt,
    expiresAt
  })
  return { envelopeId, text: JSON.stringify(envelope, null, 2) }
}

/** A delivery or read receipt for messages `peer` sent us (SKComm's `ack` / `read_receipt` payload types). */
export const sealReceipt = (
  receipt: {
    readonly from: string
    readonly to: string
    readonly status: ReceiptStatus
    readonly messageIds: ReadonlyArray<string>
    readonly at: number
  },
  me: OwnKey,
  peer: PeerKey,
  envelopeId: string
): Promise<SealedEnvelope> =>
  sealForPeer(
    { from: receipt.from, to: receipt.to, at: receipt.at, contentType: receiptContentType(receipt.status) },
    "receipt",
    null,
    { receipt: { status: receipt.status, message_ids: receipt.messageIds } },
    me,
    peer,
    envelopeId
  )

/** A call signal (offer, answer, ICE candidate, hang-up) for `peer`, good for CALL_SIGNAL_LIFETIME_MS. */
export const sealCallSignal = (
  signal: {
    readonly from: string
    readonly to: string
    readonly callId: string
    readonly signal: CallSignal
    readonly at: number
  },
  me: OwnKey,
  peer: PeerKey,
  envelopeId: string
): Promise<SealedEnvelope> =>
  sealForPeer(
    { from: signal.from, to: signal.to, at: signal.at, contentType: CALL_SIGNAL_CONTENT_TYPE },
    "call_signal",
    isoFromMillis(signal.at + CALL_SIGNAL_LIFETIME_MS),
    { call_id: signal.callId, signal: signal.signal },
    me,
    peer,
    envelopeId
  )

/** What the receiving side knows, handed in by ChatSystem (which owns the pins and the log). */
export interface OpenContext {
  readonly me: OwnKey
  /** Our identity URI: a signed plaintext message that names no recipient key must name us. */
  readonly myUri: string
  readonly maxBytes: number
  readonly acceptUnsigned: boolean
  readonly now: number
  /** The registered, pinned key of a claimed sender, or why there is none we may use. */
  readonly senderKey: (uri: string) => Promise<Either.Either<PeerKey, Rejection>>
  /**
   * Has the log already accepted this envelope id? Then with the digest of the payload it came in (null
   * when unknown: our own outbound envelope, or one logged before hashes were kept).
   */
  readonly seen: (envelopeId: string) => { readonly payloadDigest: string | null } | undefined
}

export interface Opened {
  readonly _tag: "Opened"
  readonly message: ChatMessage
  readonly envelopeId: string
  /** Signed by the claimed sender's pinned key over everything shown (false: a legacy envelope). */
  readonly verified: boolean
  readonly signer: string | null
  /** A digest of `payload.content` as it arrived: the same envelope again is a duplicate, not a replay. */
  readonly payloadDigest: string
}

/** A signed receipt from the recipient of messages we sent. */
export interface OpenedReceipt {
  readonly _tag: "Receipt"
  readonly envelopeId: string
  /** Who signed it (their pinned key checked): the only peer whose messages' status it may move. */
  readonly sender: string
  readonly status: ReceiptStatus
  readonly messageIds: ReadonlyArray<string>
}

/** A signed call signal from a registered peer, for us, within its lifetime. */
export interface OpenedSignal {
  readonly _tag: "Signal"
  readonly envelopeId: string
  readonly sender: string
  readonly callId: string
  readonly signal: CallSignal
}

/** An envelope already in the log, arriving again with the same payload (at-least-once redelivery). */
export interface Duplicate {
  readonly _tag: "Duplicate"
  readonly envelopeId: string
}

/** A refusal with what the (untrusted) header claimed, for the record. */
export interface Refused extends Rejection {
  readonly claimedId: string | null
  readonly claimedSender: string | null
}

const decoder = new TextDecoder("utf-8", { fatal: true })

/**
 * What tells a redelivered envelope from another payload under a known id: SHA-256 over the payload's
 * length and its first and last 4 KiB (all of it for a chat message; for a big one, the armored OpenPGP
 * tail carries its integrity check). Not a security boundary — a duplicate and a replay are both refused;
 * it decides only whether the refusal is news (quarantined) — so hashing 64 KiB whole would buy nothing.
 */
const DIGEST_EDGE = 4096
const digestOf = (payload: string): string =>
  createHash("sha256").update(`${payload.length}:`).update(
    payload.length <= 2 * DIGEST_EDGE ? payload : payload.slice(0, DIGEST_EDGE) + payload.slice(-DIGEST_EDGE)
  ).digest("hex")

/**
 * An envelope id the log already holds, arriving again: the same payload is a redelivery (at-least-once
 * transports), another payload a replay. A payload of unknown digest (our own envelope, or logged before
 * digests were kept) counts as the same.
 */
export const isRedelivery = (seen: { readonly payloadDigest: string | null }, payloadDigest: string): boolean =>
  seen.payloadDigest === null || seen.payloadDigest === payloadDigest

/** SKComm payload types that are protocol chatter, not a chat message (INTEROP.md). */
const SKCOMM_CONTROL_TYPES = new Set(["ack", "read_receipt", "heartbeat"])

const parseJson = (bytes: Uint8Array, what: string): Either.Either<unknown, Rejection> => {
  try {
    return Either.right(JSON.parse(decoder.decode(bytes)) as unknown)
  } catch (e) {
    const why = e instanceof SyntaxError ? "not valid JSON (truncated?)" : "not UTF-8 text"
    return Either.left(rejection("malformed", `${what} is ${why}`))
  }
}

/** SKComm's `gz:`-compressed content, inflated to at most `maxBytes` (a gzip bomb stops there). */
const inflate = (content: string, maxBytes: number): Either.Either<string, Rejection> => {
  if (!content.startsWith("gz:")) {
    const scheme = content.split(":", 1)[0]
    return Either.left(rejection("unsupported", `compressed content "${scheme}:" is not supported (only gz:)`))
  }
  let packed: Buffer
  try {
    packed = Buffer.from(content.slice(3), "base64")
  } catch {
    return Either.left(rejection("malformed", "compressed content is not base64"))
  }
  try {
    return Either.right(decoder.decode(gunzipSync(packed, { maxOutputLength: maxBytes })))
  } catch (e) {
    return (e as { code?: string }).code === "ERR_BUFFER_TOO_LARGE" || e instanceof RangeError
      ? Either.left(rejection("decompression_limit", `compressed content inflates past ${maxBytes} bytes`))
      : Either.left(rejection("malformed", "compressed content is not valid gzip"))
  }
}

/**
 * Checks what the signature covered against the header and against us. The sender was already bound to
 * the signing key by `decrypt`/`verifyDetached` (the sealed sender must equal the claimed one).
 */
const checkSealed = (envelope: Envelope, doc: unknown, signer: PeerKey, ctx: OpenContext, encrypted: boolean,
  payloadDigest: string): Either.Either<Opened | OpenedReceipt | OpenedSignal, Rejection> => {
  if (claimsReceipt(doc)) return checkReceipt(envelope, doc, signer, ctx)
  if (claimsCallSignal(doc)) return checkCallSignal(envelope, doc, signer, ctx)
  const sealed = readSealed(doc)
  if (Either.isLeft(sealed)) return Either.left(rejection("malformed", `the sealed part: ${sealed.left}`))
  const { message, seal } = sealed.right
  const mismatch = headerMismatch(envelope, message, seal)
  if (mismatch !== undefined) return Either.left(rejection("header_mismatch", mismatch))
  if (seal.sender_fingerprint !== signer.fingerprint) {
    return Either.left(rejection("header_mismatch", "the seal names a sender key other than the one that signed it"))
  }
  if (message.encrypted !== encrypted) {
    return Either.left(rejection("header_mismatch", "the seal says encrypted, the payload says otherwise"))
  }
  // Encrypted or signed-plaintext alike: the sender names whom it is for. A validly signed message that
  // reaches a key it does not name was forwarded (OpenPGP.js has no intended-recipient subpacket).
  const forUs = seal.recipient_fingerprints.length > 0
    ? seal.recipient_fingerprints.includes(ctx.me.fingerprint)
    : !encrypted && message.recipient === ctx.myUri
  if (!forUs) {
    return Either.left(rejection("forwarded", "signed for other recipients: we are not among them"))
  }
  if (seal.expires_at !== null && timestampMillis(seal.expires_at) <= ctx.now) {
    return Either.left(rejection("expired", `its TTL ended at ${seal.expires_at}`))
  }
  return Either.right({
    _tag: "Opened",
    message,
    envelopeId: seal.envelope_id,
    verified: true,
    signer: signer.fingerprint,
    payloadDigest
  })
}

/**
 * What a document for one peer (a receipt, a call signal) must hold beyond its signature: its header agrees
 * with the signed part, the seal names the key that signed it, and it was sealed for us.
 */
const addressedToUs = (
  envelope: Envelope,
  doc: { readonly sender: string; readonly recipient: string; readonly seal: SealAddress },
  signer: PeerKey,
  ctx: OpenContext,
  what: string
): Rejection | undefined => {
  const mismatch = firstDisagreement([
    ["envelope_id", envelope.envelope_id, doc.seal.envelope_id],
    ["sender", envelope.sender, doc.sender],
    ["recipient", envelope.recipient, doc.recipient]
  ])
  if (mismatch !== undefined) return rejection("header_mismatch", mismatch)
  if (doc.seal.sender_fingerprint !== signer.fingerprint) {
    return rejection("header_mismatch", "the seal names a sender key other than the one that signed it")
  }
  if (!doc.seal.recipient_fingerprints.includes(ctx.me.fingerprint)) {
    return rejection("forwarded", `${what} signed for other recipients: we are not among them`)
  }
  if (doc.recipient !== ctx.myUri) {
    return rejection("forwarded", `${what} addressed to ${doc.recipient}, not to us (${ctx.myUri})`)
  }
  return undefined
}

interface SealAddress {
  readonly envelope_id: string
  readonly sender_fingerprint: string
  readonly recipient_fingerprints: ReadonlyArray<string>
}

/** A receipt: signed by the claimed sender's pinned key, for us, and its header agreeing with it. */
const checkReceipt = (envelope: Envelope, doc: unknown, signer: PeerKey, ctx: OpenContext):
  Either.Either<OpenedReceipt, Rejection> => {
  const read = readReceipt(doc)
  if (Either.isLeft(read)) return Either.left(rejection("malformed", `the receipt: ${read.left}`))
  const r = read.right
  const refused = addressedToUs(envelope, r, signer, ctx, "a receipt")
  if (refused !== undefined) return Either.left(refused)
  return Either.right({
    _tag: "Receipt",
    envelopeId: r.seal.envelope_id,
    sender: r.sender,
    status: r.receipt.status,
    messageIds: r.receipt.message_ids
  })
}

/** A call signal: like a receipt, and within its signed lifetime (an old offer must not ring anyone). */
const checkCallSignal = (envelope: Envelope, doc: unknown, signer: PeerKey, ctx: OpenContext):
  Either.Either<OpenedSignal, Rejection> => {
  const read = readCallSignal(doc)
  if (Either.isLeft(read)) return Either.left(rejection("malformed", `the call signal: ${read.left}`))
  const r = read.right
  const refused = addressedToUs(envelope, r, signer, ctx, "a call signal")
  if (refused !== undefined) return Either.left(refused)
  if (timestampMillis(r.seal.expires_at) <= ctx.now) {
    return Either.left(rejection("expired", `a call signal past its lifetime (${r.seal.expires_at})`))
  }
  return Either.right({
    _tag: "Signal",
    envelopeId: r.seal.envelope_id,
    sender: r.sender,
    callId: r.call_id,
    signal: r.signal
  })
}

/**
 * SKComm's own expiry of an envelope (INTEROP.md): past `metadata.expires_at`, or older than `routing.ttl`
 * seconds since `metadata.created_at`. Only for legacy envelopes: ours go by the signed seal, never by
 * these unsigned fields.
 */
const legacyExpiry = (envelope: Envelope, now: number): string | undefined => {
  const meta = envelope.metadata
  const expiresAt = meta?.expires_at
  if (typeof expiresAt === "string" && timestampMillis(expiresAt) < now) return `expired at ${expiresAt}`
  const ttl = (envelope.routing as { ttl?: unknown } | undefined)?.ttl
  const createdAt = meta?.created_at
  if (typeof ttl === "number" && typeof createdAt === "string" && now - timestampMillis(createdAt) > ttl * 1000) {
    return `older than its routing TTL of ${ttl} s (created ${createdAt})`
  }
  return undefined
}

/** A legacy SKComm chat message: accepted only where config allows, and never as verified. */
const openLegacy = (envelope: Envelope, doc: unknown, ctx: OpenContext, payloadDigest: string):
  Either.Either<Opened, Rejection> => {
  if (!ctx.acceptUnsigned) {
    return Either.left(rejection("unsigned_legacy",
      "an unsigned legacy SKComm envelope (accepted only with skchat.security.accept_unsigned: true)"))
  }
  const type = envelope.payload.content_type
  if (!["text", "markdown", "chat", "message"].includes(type)) {
    return Either.left(rejection("unsupported", `legacy payload type "${type}" is not handled yet`))
  }
  const message = decodeChatMessage(doc)
  if (Either.isLeft(message)) return Either.left(rejection("malformed", formatParseError(message.left)))
  const m = message.right
  if (m.sender !== envelope.sender) {
    return Either.left(rejection("header_mismatch", "the message's sender is not the envelope's"))
  }
  const expiresMs = expiresAtMillis(timestampMillis(m.timestamp), m.ttl)
  if (expiresMs !== null && expiresMs <= ctx.now) {
    return Either.left(rejection("expired", "its TTL ended before it arrived"))
  }
  const stale = legacyExpiry(envelope, ctx.now)
  if (stale !== undefined) return Either.left(rejection("expired", stale))
  return Either.right({
    _tag: "Opened",
    message: m,
    envelopeId: envelope.envelope_id,
    verified: false,
    signer: null,
    payloadDigest
  })
}

const openOrRefuse = async (raw: Uint8Array, size: number, ctx: OpenContext,
  claimed: { id: string | null; sender: string | null }):
  Promise<Either.Either<Opened | OpenedReceipt | OpenedSignal | Duplicate, Rejection>> => {
  if (size > ctx.maxBytes) {
    return Either.left(rejection("oversized", `${size} bytes, over the ${ctx.maxBytes}-byte limit`))
  }
  const json = parseJson(raw, "the envelope")
  if (Either.isLeft(json)) return Either.left(json.left)
  const read = readEnvelope(json.right)
  if (Either.isLeft(read)) return Either.left(rejection("malformed", `not an envelope: ${read.left}`))
  const envelope = read.right
  claimed.id = envelope.envelope_id
  claimed.sender = envelope.sender
  if (!isSafeId(envelope.envelope_id)) {
    return Either.left(rejection("malformed", "the envelope id has characters an id may not have"))
  }
  const payloadDigest = digestOf(envelope.payload.content)
  const seen = ctx.seen(envelope.envelope_id)
  if (seen !== undefined) {
    return isRedelivery(seen, payloadDigest)
      ? Either.right({ _tag: "Duplicate", envelopeId: envelope.envelope_id })
      : Either.left(rejection("replay", `envelope ${envelope.envelope_id} was already received with another payload`))
  }
  let content = envelope.payload.content
  if (envelope.payload.compressed) {
    const inflated = inflate(content, ctx.maxBytes)
    if (Either.isLeft(inflated)) return Either.left(inflated.left)
    content = inflated.right
  }

  if (envelope.payload.encrypted) {
    /**
     * Where legacy envelopes are allowed, an unregistered sender or an unsigned payload may still be an
     * SKComm one: decrypted without a signature check and shown unverified — unless it claims to be ours,
     * which is always signed by a registered key, and then `refusal` stands.
     */
    const orLegacy = async (refusal: Rejection, legacyReason: Rejection["reason"]) => {
      if (refusal.reason !== legacyReason || !ctx.acceptUnsigned) return Either.left(refusal)
      const plain = await decrypt(content, ctx.me, undefined, ctx.maxBytes)
      if (Either.isLeft(plain)) return Either.left(plain.left)
      const doc = parseJson(plain.right, "the decrypted content")
      if (Either.isLeft(doc)) return Either.left(doc.left)
      return claimsSeal(doc.right) ? Either.left(refusal) : openLegacy(envelope, doc.right, ctx, payloadDigest)
    }
    const sender = await ctx.senderKey(envelope.sender)
    if (Either.isLeft(sender)) return orLegacy(sender.left, "unknown_sender")
    const opened = await decrypt(content, ctx.me, { uri: envelope.sender, key: sender.right.key }, ctx.maxBytes)
    if (Either.isLeft(opened)) return orLegacy(opened.left, "unsigned")
    const doc = parseJson(opened.right, "the decrypted content")
    if (Either.isLeft(doc)) return Either.left(doc.left)
    return checkSealed(envelope, doc.right, sender.right, ctx, true, payloadDigest)
  }

  // SKComm's own control envelopes carry no chat message (an ack's content is a bare envelope id). Unsigned,
  // they cannot vouch for a delivery, so they are not acted on: refused for what they are, not as garbage.
  const control = envelope.payload.content_type
  if (SKCOMM_CONTROL_TYPES.has(control)) {
    return Either.left(rejection("unsupported",
      `an unsigned SKComm "${control}" envelope (skchat acts only on signed receipts)`))
  }
  const bytes = utf8.encode(content)
  const doc = parseJson(bytes, "the payload")
  if (Either.isLeft(doc)) return Either.left(doc.left)
  if (!claimsSeal(doc.right)) return openLegacy(envelope, doc.right, ctx, payloadDigest)
  const signature = envelope.payload.signature
  if (signature === undefined || signature === null || signature.trim() === "") {
    return Either.left(rejection("signature_stripped", "a sealed plaintext message without its signature"))
  }
  const sender = await ctx.senderKey(envelope.sender)
  if (Either.isLeft(sender)) return Either.left(sender.left)
  const verified = await verifyDetached(bytes, signature, { uri: envelope.sender, key: sender.right.key })
  if (Either.isLeft(verified)) return Either.left(verified.left)
  return checkSealed(envelope, doc.right, sender.right, ctx, false, payloadDigest)
}

/**
 * Opens one envelope file's bytes: the message (or receipt, or call signal), verified, a duplicate, or why not. `size` is
 * the file's real size when only a prefix was read (an oversized file is never read whole). Never throws.
 */
export const openEnvelope = async (raw: Uint8Array, ctx: OpenContext, size = raw.byteLength):
  Promise<Opened | OpenedReceipt | OpenedSignal | Duplicate | Refused> => {
  const claimed: { id: string | null; sender: string | null } = { id: null, sender: null }
  let outcome: Either.Either<Opened | OpenedReceipt | OpenedSignal | Duplicate, Rejection>
  try {
    outcome = await openOrRefuse(raw, size, ctx, claimed)
  } catch (e) {
    outcome = Either.left(rejection("malformed", `unreadable: ${errorLine(e)}`))
  }
  return Either.isRight(outcome)
    ? outcome.right
    : { ...outcome.left, claimedId: claimed.id, claimedSender: claimed.sender }
}
