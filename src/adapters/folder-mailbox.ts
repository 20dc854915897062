import {
  closeSync,
  constants,
  copyFileSync,
  existsSync,
  fstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  unlinkSync,
  writeFileSync
} from "node:fs"
import { join } from "node:path"
import { rejection } from "../domain/envelope-rejection.js"
import { errorLine } from "../domain/error-line.js"
import { isSafeId } from "../domain/message-id.js"
import { type Disposal, type InboundItem, TransportFailure } from "./transport.js"

/**
 * Folders of `<envelope_id>.skc.json` files, as SKComm's file transport lays them out (INTEROP.md). The
 * file and Syncthing transports are both made of these; they differ only in which folders they use.
 */

const SUFFIX = ".skc.json"

/** A file this young that does not end like a JSON document is probably still being copied in. */
const SETTLE_MS = 2000

/**
 * Writes an envelope as `<dir>/<id>.skc.json`: a dot-file first, then a rename, so a reader never sees
 * half a file. The id is checked before it becomes a name.
 */
export const writeEnvelopeFile = (dir: string, envelopeId: string, text: string): void => {
  if (!isSafeId(envelopeId)) throw new TransportFailure(`refusing to write an envelope with the unsafe id "${envelopeId}"`)
  const name = `${envelopeId}${SUFFIX}`
  const temp = join(dir, `.${name}.tmp`)
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    writeFileSync(temp, text, { mode: 0o600 })
    renameSync(temp, join(dir, name))
  } catch (e) {
    try {
      unlinkSync(temp)
    } catch {
      // nothing was left behind
    }
    throw new TransportFailure(`cannot write to ${dir}: ${errorLine(e)}`)
  }
}

const isMissing = (e: unknown) => (e as { code?: string }).code === "ENOENT"

/** Moves a handled file into `archiveDir` (a unix-time prefix on a name clash), across devices if need be. */
const archive = (file: string, name: string, archiveDir: string): void => {
  mkdirSync(archiveDir, { recursive: true, mode: 0o700 })
  let target = join(archiveDir, name)
  if (existsSync(target)) target = join(archiveDir, `${Math.floor(Date.now() / 1000)}-${name}`)
  try {
    renameSync(file, target)
  } catch (e) {
    if (isMissing(e)) return // consumed by another process meanwhile
    if ((e as { code?: string }).code !== "EXDEV") throw e
    copyFileSync(file, target)
    unlinkSync(file)
  }
}

const remove = (file: string): void => {
  try {
    unlinkSync(file)
  } catch (e) {
    if (!isMissing(e)) throw e
  }
}

const disposer = (file: string, name: string, archiveDir: string | undefined) => (how: Disposal) => {
  if (how === "archive" && archiveDir !== undefined) archive(file, name, archiveDir)
  else remove(file)
}

/** Reads at most `limit` bytes of an open file. */
const readPrefix = (fd: number, limit: number): Uint8Array => {
  const buffer = Buffer.alloc(limit)
  let read = 0
  while (read < limit) {
    const n = readSync(fd, buffer, read, limit - read, null)
    if (n === 0) break
    read += n
  }
  return buffer.subarray(0, read)
}

const endsLikeJson = (bytes: Uint8Array): boolean => {
  for (let i = bytes.length - 1; i >= 0; i--) {
    const b = bytes[i]!
    if (b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09) continue
    return b === 0x7d // }
  }
  return false
}

/** Something in the inbox that is not an envelope file: refused unread, and removed once that is recorded. */
const refusedFile = (file: string, why: string): InboundItem => ({
  source: file,
  bytes: new Uint8Array(0),
  size: 0,
  refused: rejection("malformed", why),
  consume: () => remove(file)
})

/**
 * The envelope files waiting in `dir`, in name order, skipping dot-files (temp files being written). A
 * file is opened without following symlinks and never read past `maxBytes + 1` bytes; anything that is
 * not a regular file is handed over already refused. Nothing is consumed here.
 */
export const readEnvelopeFiles = (dir: string, archiveDir: string | undefined, maxBytes: number, now: number,
  limit: number): Array<InboundItem> => {
  let names: Array<string>
  try {
    names = readdirSync(dir).filter((n) => n.endsWith(SUFFIX) && !n.startsWith(".")).sort()
  } catch (e) {
    if (isMissing(e)) return []
    throw new TransportFailure(`cannot read ${dir}: ${errorLine(e)}`)
  }
  const items: Array<InboundItem> = []
  for (const name of names) {
    if (items.length >= limit) break
    const file = join(dir, name)
    let fd: number
    try {
      fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK)
    } catch (e) {
      const code = (e as { code?: string }).code
      if (code === "ENOENT") continue // taken by another process meanwhile
      if (code === "ELOOP") items.push(refusedFile(file, "a symbolic link, not an envelope file (never followed)"))
      continue
    }
    try {
      const st = fstatSync(fd)
      if (st.isDirectory()) continue
      if (!st.isFile()) {
        items.push(refusedFile(file, "not a regular file (a pipe, socket or device)"))
        continue
      }
      const bytes = readPrefix(fd, Math.min(st.size, maxBytes) + 1)
      const size = Math.max(st.size, bytes.byteLength)
      // Being copied in by something that does not rename into place: look again next time.
      if (now - st.mtimeMs < SETTLE_MS && size <= maxBytes && !endsLikeJson(bytes)) continue
      items.push({ source: file, bytes, size, consume: disposer(file, name, archiveDir) })
    } finally {
      closeSync(fd)
    }
  }
  return items
}
