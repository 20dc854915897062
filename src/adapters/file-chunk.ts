import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto"

/**
 * A file transfer's chunks, sealed with AES-256-GCM under the transfer's key (which only the signed,
 * encrypted offer carries: file-attachment.ts). The additional data binds each chunk to its transfer and its
 * place, so a chunk cannot be replayed into another transfer or another position, and one altered in transit
 * fails to open. Two wire shapes carry it: two messages on a call's file channel (a head, then the
 * ciphertext), and a small JSON document as a transport file (the fallback when no call is connected).
 */

const NONCE = 12
const TAG = 16

const aad = (transferId: string, index: number) => Buffer.from(`skchat-chunk:v1:${transferId}:${index}`, "utf8")

interface SealedParts {
  readonly nonce: Uint8Array
  readonly body: Uint8Array
  readonly tag: Uint8Array
}

const sealParts = (key: Buffer, transferId: string, index: number, plain: Uint8Array): SealedParts => {
  const nonce = randomBytes(NONCE)
  const cipher = createCipheriv("aes-256-gcm", key, nonce)
  cipher.setAAD(aad(transferId, index))
  const body = cipher.update(plain)
  // GCM gives everything from update: its final adds nothing.
  cipher.final()
  return { nonce, body, tag: cipher.getAuthTag() }
}

const openParts = (key: Buffer, transferId: string, index: number, parts: SealedParts): Buffer | undefined => {
  if (parts.nonce.byteLength !== NONCE || parts.tag.byteLength !== TAG) return undefined
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, parts.nonce)
    decipher.setAAD(aad(transferId, index))
    decipher.setAuthTag(parts.tag)
    const body = decipher.update(parts.body)
    decipher.final()
    return body
  } catch {
    return undefined
  }
}

/** A chunk that arrived, still sealed: `open` checks and decrypts it under its transfer's key. */
export interface SealedChunk {
  readonly transferId: string
  readonly index: number
  /** The plain bytes, or undefined when the chunk does not open under this key, transfer and place. */
  readonly open: (key: Buffer) => Buffer | undefined
}

/** nonce ‖ ciphertext ‖ tag, as a transport file carries it. */
export const sealChunk = (key: Buffer, transferId: string, index: number, plain: Uint8Array): Buffer => {
  const { body, nonce, tag } = sealParts(key, transferId, index, plain)
  return Buffer.concat([nonce, body, tag])
}

const fromSealed = (transferId: string, index: number, sealed: Buffer): SealedChunk => ({
  transferId,
  index,
  open: (key) =>
    sealed.byteLength < NONCE + TAG ? undefined : openParts(key, transferId, index, {
      nonce: sealed.subarray(0, NONCE),
      body: sealed.subarray(NONCE, sealed.byteLength - TAG),
      tag: sealed.subarray(sealed.byteLength - TAG)
    })
})

/**
 * A chunk on a file channel is two messages, in order on that channel: a small head (version, transfer id,
 * index, nonce, tag), then the ciphertext as it came out of the cipher. Nothing is copied to frame it: a
 * 240 KiB copy and allocation per chunk cost a transfer a good share of its speed.
 */
export const channelMessages = (key: Buffer, transferId: string, index: number, plain: Uint8Array):
  readonly [Buffer, Uint8Array] => {
  const { body, nonce, tag } = sealParts(key, transferId, index, plain)
  const id = Buffer.from(transferId, "ascii")
  const head = Buffer.alloc(2 + id.byteLength + 4 + NONCE + TAG)
  head.writeUInt8(1, 0)
  head.writeUInt8(id.byteLength, 1)
  id.copy(head, 2)
  head.writeUInt32BE(index, 2 + id.byteLength)
  head.set(nonce, 6 + id.byteLength)
  head.set(tag, 6 + id.byteLength + NONCE)
  return [head, body]
}

/** Reads one file channel's messages back into chunks (a head, then its body). */
export const channelReader = (onChunk: (chunk: SealedChunk) => void) => {
  let head: { readonly transferId: string; readonly index: number; readonly nonce: Buffer; readonly tag: Buffer } | undefined
  return (message: Buffer) => {
    if (head === undefined) {
      const idLength = message.byteLength >= 2 && message.readUInt8(0) === 1 ? message.readUInt8(1) : -1
      if (idLength < 0 || message.byteLength !== 6 + idLength + NONCE + TAG) return
      const at = 6 + idLength
      head = {
        transferId: message.subarray(2, 2 + idLength).toString("ascii"),
        index: message.readUInt32BE(2 + idLength),
        nonce: message.subarray(at, at + NONCE),
        tag: message.subarray(at + NONCE, at + NONCE + TAG)
      }
      return
    }
    const { index, nonce, tag, transferId } = head
    head = undefined
    onChunk({ transferId, index, open: (key) => openParts(key, transferId, index, { nonce, body: message, tag }) })
  }
}

/** The marker a transport file carrying a chunk starts with (an envelope starts otherwise). */
const CHUNK_FILE_PREFIX = '{"skchat_chunk":1,'

/** A chunk as a transport file (JSON, like every envelope file). */
export const encodeChunkFile = (transferId: string, index: number, sealed: Buffer): string =>
  `${CHUNK_FILE_PREFIX}"transfer_id":${JSON.stringify(transferId)},"index":${index},"sealed":"${sealed.toString("base64")}"}`

export const isChunkFile = (bytes: Uint8Array): boolean =>
  bytes.byteLength > CHUNK_FILE_PREFIX.length &&
  Buffer.from(bytes.buffer, bytes.byteOffset, CHUNK_FILE_PREFIX.length).toString("utf8") === CHUNK_FILE_PREFIX

export const decodeChunkFile = (bytes: Uint8Array): SealedChunk | undefined => {
  try {
    const doc = JSON.parse(Buffer.from(bytes).toString("utf8")) as Record<string, unknown>
    if (typeof doc["transfer_id"] !== "string" || !Number.isInteger(doc["index"]) || typeof doc["sealed"] !== "string") {
      return undefined
    }
    return fromSealed(doc["transfer_id"], doc["index"] as number, Buffer.from(doc["sealed"], "base64"))
  } catch {
    return undefined
  }
}
