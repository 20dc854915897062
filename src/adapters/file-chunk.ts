import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto"

/**
 * A file transfer's chunks, sealed with AES-256-GCM under the transfer's key (which only the signed,
 * encrypted offer carries: file-attachment.ts). The additional data binds each chunk to its transfer and its
 * place, so a chunk cannot be replayed into another transfer or another position, and one altered in transit
 * fails to open. Two wire shapes carry the same sealed bytes: a binary frame on a call's file channels, and a
 * small JSON document as a transport file (the fallback when no call is connected).
 */

const NONCE = 12
const TAG = 16

const aad = (transferId: string, index: number) => Buffer.from(`skchat-chunk:v1:${transferId}:${index}`, "utf8")

/** nonce ‖ ciphertext ‖ tag */
export const sealChunk = (key: Buffer, transferId: string, index: number, plain: Uint8Array): Buffer => {
  const nonce = randomBytes(NONCE)
  const cipher = createCipheriv("aes-256-gcm", key, nonce)
  cipher.setAAD(aad(transferId, index))
  const head = cipher.update(plain)
  const tail = cipher.final()
  return Buffer.concat([nonce, head, tail, cipher.getAuthTag()])
}

/** The plain bytes, or undefined when the chunk does not open under this key, transfer and place. */
export const openChunk = (key: Buffer, transferId: string, index: number, sealed: Uint8Array): Buffer | undefined => {
  if (sealed.byteLength < NONCE + TAG) return undefined
  const bytes = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength)
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, bytes.subarray(0, NONCE))
    decipher.setAAD(aad(transferId, index))
    decipher.setAuthTag(bytes.subarray(bytes.byteLength - TAG))
    const head = decipher.update(bytes.subarray(NONCE, bytes.byteLength - TAG))
    return Buffer.concat([head, decipher.final()])
  } catch {
    return undefined
  }
}

export interface ChunkFrame {
  readonly transferId: string
  readonly index: number
  readonly sealed: Buffer
}

/** Binary frame on a file channel: [id length][id][index u32 BE][sealed]. */
export const encodeChunkFrame = (f: ChunkFrame): Buffer => {
  const id = Buffer.from(f.transferId, "ascii")
  const head = Buffer.alloc(1 + id.byteLength + 4)
  head.writeUInt8(id.byteLength, 0)
  id.copy(head, 1)
  head.writeUInt32BE(f.index, 1 + id.byteLength)
  return Buffer.concat([head, f.sealed])
}

export const decodeChunkFrame = (bytes: Buffer): ChunkFrame | undefined => {
  if (bytes.byteLength < 1) return undefined
  const idLength = bytes.readUInt8(0)
  if (bytes.byteLength < 1 + idLength + 4 + NONCE + TAG) return undefined
  return {
    transferId: bytes.subarray(1, 1 + idLength).toString("ascii"),
    index: bytes.readUInt32BE(1 + idLength),
    sealed: bytes.subarray(1 + idLength + 4)
  }
}

/** The marker a transport file carrying a chunk starts with (an envelope starts otherwise). */
const CHUNK_FILE_PREFIX = '{"skchat_chunk":1,'

/** A chunk as a transport file (JSON, like every envelope file). */
export const encodeChunkFile = (f: ChunkFrame): string =>
  `${CHUNK_FILE_PREFIX}"transfer_id":${JSON.stringify(f.transferId)},"index":${f.index},"sealed":"${
    f.sealed.toString("base64")
  }"}`

export const isChunkFile = (bytes: Uint8Array): boolean =>
  bytes.byteLength > CHUNK_FILE_PREFIX.length &&
  Buffer.from(bytes.buffer, bytes.byteOffset, CHUNK_FILE_PREFIX.length).toString("utf8") === CHUNK_FILE_PREFIX

export const decodeChunkFile = (bytes: Uint8Array): ChunkFrame | undefined => {
  try {
    const doc = JSON.parse(Buffer.from(bytes).toString("utf8")) as Record<string, unknown>
    if (typeof doc["transfer_id"] !== "string" || !Number.isInteger(doc["index"]) || typeof doc["sealed"] !== "string") {
      return undefined
    }
    return { transferId: doc["transfer_id"], index: doc["index"] as number, sealed: Buffer.from(doc["sealed"], "base64") }
  } catch {
    return undefined
  }
}

/** The envelope id (and so the file name) a chunk travels under on a transport. */
export const chunkEnvelopeId = (transferId: string, index: number) => `${transferId}-chunk-${index}`
