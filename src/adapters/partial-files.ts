import { createHash } from "node:crypto"
import {
  closeSync,
  existsSync,
  ftruncateSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  write,
  writeSync
} from "node:fs"
import { extname, join } from "node:path"
import { hashFileInto } from "./file-hash.js"
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
  /**
   * Writes a chunk's plain bytes at its place (off the main thread: a blocked event loop would stall the
   * channels) and marks it arrived once written.
   */
  readonly write: (index: number, bytes: Uint8Array) => Promise<void>
  /** Resolves once every write under way is done. */
  readonly settled: () => Promise<void>
  readonly complete: () => boolean
  /** Ranges of chunks still missing, [first, last + 1). */
  readonly missing: () => ReadonlyArray<readonly [number, number]>
  /** Saves which chunks arrived. */
  readonly save: () => void
  /** Checks the whole file against the offer's sha256 and moves it into place. */
  readonly finish: () => Promise<{ readonly path: string } | { readonly reason: string }>
  /** Saves the record and closes the file, once the writes under way are done. */
  readonly close: () => Promise<void>
}

interface Record {
  readonly attachment: FileAttachment
  readonly peer: string
  readonly message_id: string
  readonly have: string
}

const SAVE_EVERY = 64
/** Chunks that came ahead of their turn kept in memory for the running hash (at most a few MiB). */
const AHEAD = 32

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
    // The whole file's sha256, taken as chunks come in order (out-of-order ones wait here, a bounded few), so
    // that most of the file is hashed by the time it is complete; the rest is read back from disk at the end.
    const hash = createHash("sha256")
    let hashed = 0
    const ahead = new Map<number, Uint8Array>()
    const hashInOrder = (i: number, bytes: Uint8Array) => {
      if (i !== hashed) {
        if (i > hashed && ahead.size < AHEAD) ahead.set(i, bytes)
        return
      }
      hash.update(bytes)
      hashed += 1
      for (let next = ahead.get(hashed); next !== undefined; next = ahead.get(hashed)) {
        ahead.delete(hashed)
        hash.update(next)
        hashed += 1
      }
    }
    const writing = new Map<number, Promise<void>>()
    const settled = async () => {
      while (writing.size > 0) await Promise.allSettled([...writing.values()])
    }
    const close = async () => {
      if (closed) return
      await settled()
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
        if (i < 0 || i >= total || has(i) || closed) return Promise.resolve()
        const under = writing.get(i)
        if (under !== undefined) return under
        if (bytes.byteLength !== Math.max(0, chunkBytes(i))) return Promise.reject(new Error(`chunk ${i} has the wrong size`))
        hashInOrder(i, bytes)
        const done = new Promise<void>((resolve, reject) =>
          write(fd, bytes, 0, bytes.byteLength, i * attachment.chunk_size, (e) => {
            writing.delete(i)
            if (e !== null) return reject(e)
            bitmap[i >> 3]! |= 1 << (i & 7)
            count += 1
            if (++unsaved >= SAVE_EVERY) save()
            resolve()
          }))
        writing.set(i, done)
        return done
      },
      settled,
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
        await settled()
        ftruncateSync(fd, attachment.size)
        await close()
        ahead.clear()
        if (hashed * attachment.chunk_size < attachment.size) await hashFileInto(hash, partPath(id), hashed * attachment.chunk_size)
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
