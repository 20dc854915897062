import { Schema } from "effect"
import type { ChatMessage } from "./chat-message.js"
import { MessageId } from "./message-id.js"

/**
 * A file transfer's offer, carried as an attachment of an ordinary chat message (INTEROP.md `attachments`):
 * signed and encrypted with the message, so the receiver knows who sends which file, its size and sha256,
 * and the key its chunks are sealed with (file-chunk.ts), from the sender's signature alone.
 */
export const FILE_ATTACHMENT_TYPE = "skchat.file"

/**
 * Plain bytes per chunk: one data-channel message (node-datachannel takes up to 256 KiB, and a frame adds
 * ~70 bytes) or one transport file (~330 KB as base64). Large chunks keep the per-chunk work (a cipher, a
 * write, a frame) small against the bytes moved.
 */
export const CHUNK_SIZE = 240 * 1024

/** The largest file a transfer takes (a terabyte: far beyond anything sent this way, but bounded). */
export const MAX_FILE_BYTES = 2 ** 40

export const FileAttachment = Schema.Struct({
  type: Schema.Literal(FILE_ATTACHMENT_TYPE),
  transfer_id: MessageId,
  name: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(255)),
  size: Schema.Number.pipe(Schema.int(), Schema.between(0, MAX_FILE_BYTES)),
  sha256: Schema.String.pipe(Schema.pattern(/^[0-9a-f]{64}$/)),
  chunk_size: Schema.Number.pipe(Schema.int(), Schema.between(1024, 1024 * 1024)),
  /** AES-256-GCM key of this transfer's chunks, base64. */
  key: Schema.String.pipe(Schema.pattern(/^[A-Za-z0-9+/]{43}=$/))
})
export type FileAttachment = typeof FileAttachment.Type

const decode = Schema.decodeUnknownOption(FileAttachment)

/** The file a message offers, if it offers one (the first well-formed one). */
export const fileAttachmentOf = (message: Pick<ChatMessage, "attachments">): FileAttachment | undefined => {
  for (const a of message.attachments) {
    const found = decode(a)
    if (found._tag === "Some") return found.value
  }
  return undefined
}

export const chunkCount = (a: Pick<FileAttachment, "size" | "chunk_size">): number =>
  Math.max(1, Math.ceil(a.size / a.chunk_size))

/**
 * A name that is safe as a file name in the files folder: the last path segment only, no control characters,
 * never `.`/`..` or hidden. What the sender calls the file is a claim, not a path to follow.
 */
export const safeFileName = (name: string): string => {
  const last = name.split(/[\\/]/).pop() ?? ""
  // eslint-disable-next-line no-control-regex
  const clean = last.replace(/[\u0000-\u001f\u007f]/g, "").replace(/^\.+/, "").trim().slice(0, 200)
  return clean === "" ? "file" : clean
}

/** "1.5 MiB" */
export const humanBytes = (n: number): string => {
  const units = ["bytes", "KiB", "MiB", "GiB", "TiB"]
  let value = n
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit += 1
  }
  return unit === 0 ? `${n} bytes` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`
}
