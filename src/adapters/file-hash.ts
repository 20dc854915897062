import type { Hash } from "node:crypto"
import { open } from "node:fs/promises"

/** How much of the file is read at a time, into one buffer. */
const PIECE = 1024 * 1024

/**
 * Feeds a file's bytes from `start` to its end into `hash`, through one buffer read into again and again.
 * A read stream allocates a new buffer for every piece: 256 of them for a 256 MiB file, each held outside
 * V8's heap until a collection finds it, and that pressure set off full collections in a daemon right when
 * a transfer needed its cores (bench/notes.md, issue #6).
 */
export const hashFileInto = async (hash: Hash, path: string, start = 0): Promise<void> => {
  const file = await open(path, "r")
  try {
    const buffer = Buffer.allocUnsafe(PIECE)
    for (let at = start; ;) {
      const { bytesRead } = await file.read(buffer, 0, PIECE, at)
      if (bytesRead === 0) return
      hash.update(buffer.subarray(0, bytesRead))
      at += bytesRead
    }
  } finally {
    await file.close()
  }
}
