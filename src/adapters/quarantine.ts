import { chmodSync, mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"

/**
 * Keeps a refused envelope's raw bytes for a person to inspect, under a name built only from the time and
 * the bytes' SHA-256 (never from anything the envelope says). Owner-only: it may hold someone's message.
 * Returns the file's path.
 */
export const quarantine = (dir: string, raw: Uint8Array, sha256: string, now: number): string => {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const hash = sha256.slice(0, 16)
  const stamp = new Date(now).toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z")
  const file = join(dir, `${stamp}-${hash}.skc.json`)
  writeFileSync(file, raw, { mode: 0o600 })
  chmodSync(file, 0o600)
  return file
}
