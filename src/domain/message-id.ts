import { Schema } from "effect"

/**
 * Ids become file names and SQL keys later (transports), so only a conservative alphabet is accepted:
 * no path separators, no dots at the start, bounded length. UUIDs of every version fit.
 */
export const SAFE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_:-]{0,127}$/
export const SAFE_ID_RULE = "1-128 letters, digits, '-', '_' or ':'"

export const isSafeId = (s: string): boolean => SAFE_ID_PATTERN.test(s)

export const MessageId = Schema.String.pipe(
  Schema.filter((s) => isSafeId(s) || `must be ${SAFE_ID_RULE} (e.g. a UUID)`)
).annotations({ identifier: "MessageId" })

export const ThreadId = Schema.Trim.pipe(
  Schema.filter((s) => isSafeId(s) || `must be ${SAFE_ID_RULE}`)
).annotations({ identifier: "ThreadId" })

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"))
const hex = (bytes: Uint8Array): string => {
  let out = ""
  for (const b of bytes) out += HEX[b]
  return out
}

/**
 * Random bytes drawn a page at a time: one getRandomValues call per id cost more than the rest of an
 * append together.
 */
const POOL_SIZE = 16 * 256
let pool = new Uint8Array(0)
let poolOffset = POOL_SIZE
const pooledRandom = (bytes: Uint8Array): Uint8Array => {
  if (poolOffset + bytes.length > pool.length) {
    pool = globalThis.crypto.getRandomValues(new Uint8Array(POOL_SIZE))
    poolOffset = 0
  }
  bytes.set(pool.subarray(poolOffset, poolOffset + bytes.length))
  poolOffset += bytes.length
  return bytes
}

/**
 * UUIDv7 (RFC 9562): 48-bit unix milliseconds, then random bits. Time-ordered, so ids sort by creation.
 * `random` is injected so tests can make ids deterministic.
 */
export const uuidv7 = (
  nowMillis: number,
  random: (bytes: Uint8Array) => Uint8Array = pooledRandom
): string => {
  const bytes = random(new Uint8Array(16))
  const ms = Math.max(0, Math.floor(nowMillis))
  bytes[0] = Math.floor(ms / 2 ** 40) & 0xff
  bytes[1] = Math.floor(ms / 2 ** 32) & 0xff
  bytes[2] = (ms >>> 24) & 0xff
  bytes[3] = (ms >>> 16) & 0xff
  bytes[4] = (ms >>> 8) & 0xff
  bytes[5] = ms & 0xff
  bytes[6] = (bytes[6]! & 0x0f) | 0x70
  bytes[8] = (bytes[8]! & 0x3f) | 0x80
  const h = hex(bytes)
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}
