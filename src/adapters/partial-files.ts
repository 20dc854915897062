import { createHash } from "node:crypto"
import {
  closeSync,
  createReadStream,
  existsSync,
  ftruncateSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync
} from "node:fs"
import { extname, join } from "node:path"
import { chunkCount, type FileAttachment, safeFileName } from "../domain/file-attachment.js"
import { isSafeId } from "../domain/message-id.js"

/**
 * Files being received, on disk so that a transfer survives a dropped connection or a restart: the bytes so
 * far in `files/.partial/<transfer>.part` (each chunk written at its place), and beside it a JSON record of
 * the offer (with its chunk key, so the folder is private) and which chunks arrived. A chunk is recorded as
 * arrived only after it is written; the record is saved every so many chunks, so a crash costs at most
 * those chunks again. Once all are in and the whole file's sha256 matches the offer, the file moves to
 * `files/<name>` (made unique).
 */
export interface PartialFile {
  readonly attachment: FileAttachment
  readonly peer: string
  readonly messageId: string
  readonly has: (index: number) => boolean
  /** Writes a chunk's plain bytes at its place and marks it arrived. */
  readonly write: (index: number, bytes: Uint8Array) => void
  readonly receivedBytes: () => number
  readonly complete: () => boolean
  /** Ranges of chunks still missing, [first, last + 1). */
  readonly missing: () => ReadonlyArray<readonly [number, number]>
  /** Saves which chunks arrived. */
  readonly save: () => void
  /** Checks the whole file against the offer's sha256 and moves it into place. */
  readonly finish: () => Promise<{ readonly path: string } | { readonly reason: string }>
  readonly close: () => void
}

interface Record {
  readonly attachment: FileAttachment
  readonly peer: string
  readonly message_id: string
  readonly have: string
}

const SAVE_EVERY = 256

export const makePartialFiles = (filesDir: string) => {
  const partialDir = join(filesDir, ".partial")
  const partPath = (id: string) => join(partialDir, `${id}.part`)
  const recordPath = (id: string) => join(partialDir, `${id}.json`)

  const writeRecord = (id: string, record: Record) => {
    const temp = `${recordPath(id)}.tmp`
    const fd = openSync(temp, "w", 0o600)
    try {
      writeSync(fd, JSON.stringify(record))
    } finally {
      closeSync(fd)
    }
    renameSync(temp, recordPath(id))
  }

  /** `name`, or `name (2).ext`, ... : the first that is free in the files folder (taken by a hard link). */
  const placeFile = (from: string, name: string): string => {
    const ext = extname(name)
    const stem = ext === "" ? name : name.slice(0, -ext.length)
    for (let n = 1; ; n++) {
      const target = join(filesDir, n === 1 ? name : `${stem} (${n})${ext}`)
      try {
        // A link fails if the name exists: no window where another transfer takes the same name.
        linkSync(from, target)
        rmSync(from, { force: true })
        return target
      } catch (e) {
        if ((e as { code?: string }).code !== "EEXIST") throw e
      }
    }
  }

  const open = (attachment: FileAttachment, peer: string, messageId: string, have: Uint8Array, fresh = false):
    PartialFile => {
    const id = attachment.transfer_id
    const total = chunkCount(attachment)
    const bitmap = Buffer.alloc(Math.ceil(total / 8))
    Buffer.from(have).copy(bitmap)
    let count = 0
    const has = (i: number) => (bitmap[i >> 3]! & (1 << (i & 7))) !== 0
    for (let i = 0; i < total; i++) if (has(i)) count += 1
    const fd = openSync(partPath(id), existsSync(partPath(id)) ? "r+" : "w+", 0o600)
    let unsaved = fresh ? 1 : 0
    let closed = false
    const save = () => {
      if (closed || unsaved === 0) return
      writeRecord(id, { attachment, peer, message_id: messageId, have: bitmap.toString("base64") })
      unsaved = 0
    }
    const close = () => {
      if (closed) return
      save()
      closed = true
      closeSync(fd)
    }
    const chunkBytes = (i: number) => Math.min(attachment.chunk_size, attachment.size - i * attachment.chunk_size)
    return {
      attachment,
      peer,
      messageId,
      has,
      write: (i, bytes) => {
        if (i < 0 || i >= total || has(i) || closed) return
        if (bytes.byteLength !== Math.max(0, chunkBytes(i))) throw new Error(`chunk ${i} has the wrong size`)
        writeSync(fd, bytes, 0, bytes.byteLength, i * attachment.chunk_size)
        bitmap[i >> 3]! |= 1 << (i & 7)
        count += 1
        if (++unsaved >= SAVE_EVERY) save()
      },
      receivedBytes: () => {
        let bytes = 0
        for (let i = 0; i < total; i++) if (has(i)) bytes += Math.max(0, chunkBytes(i))
        return bytes
      },
      complete: () => count === total,
      missing: () => {
        const ranges: Array<readonly [number, number]> = []
        let start = -1
        for (let i = 0; i <= total; i++) {
          const gap = i < total && !has(i)
          if (gap && start < 0) start = i
          if (!gap && start >= 0) {
            ranges.push([start, i])
            start = -1
          }
        }
        return ranges
      },
      save,
      finish: async () => {
        ftruncateSync(fd, attachment.size)
        close()
        const hash = createHash("sha256")
        for await (const piece of createReadStream(partPath(id))) hash.update(piece as Buffer)
        const actual = hash.digest("hex")
        if (actual !== attachment.sha256) {
          rmSync(partPath(id), { force: true })
          rmSync(recordPath(id), { force: true })
          return { reason: `the file's sha256 is ${actual}, not the ${attachment.sha256} its sender signed` }
        }
        const path = placeFile(partPath(id), safeFileName(attachment.name))
        rmSync(recordPath(id), { force: true })
        return { path }
      },
      close
    }
  }

  return {
    filesDir,
    /** A new incoming transfer (or the one already under way, when the offer arrives again). */
    start: (attachment: FileAttachment, peer: string, messageId: string): PartialFile => {
      mkdirSync(partialDir, { recursive: true, mode: 0o700 })
      const known = existsSync(recordPath(attachment.transfer_id))
      const have = known ? Buffer.from((JSON.parse(readFileSync(recordPath(attachment.transfer_id), "utf8")) as Record).have, "base64") : new Uint8Array()
      const file = open(attachment, peer, messageId, have, !known)
      // Its record exists from the start: a chunk that comes after a restart finds the transfer.
      file.save()
      return file
    },
    /** One under way before a restart. */
    load: (transferId: string): PartialFile | undefined => {
      if (!isSafeId(transferId) || !existsSync(recordPath(transferId))) return undefined
      try {
        const r = JSON.parse(readFileSync(recordPath(transferId), "utf8")) as Record
        return open(r.attachment, r.peer, r.message_id, Buffer.from(r.have, "base64"))
      } catch {
        return undefined
      }
    }
  }
}

export type PartialFiles = ReturnType<typeof makePartialFiles>
