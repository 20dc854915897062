import { Schema } from "effect"

/**
 * ISO-8601 date-time that names its zone (`Z` or `±hh:mm`). Python's naive timestamps are ambiguous
 * (whose local time?), so they are rejected rather than guessed. The original string is kept, since
 * it can carry microseconds a JS Date would drop.
 */
const isoWithZone = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/i

/** Our own timestamps (`toISOString`) need no massaging; they are nearly all of them. */
const plainIso = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/

export const timestampMillis = (s: string): number => {
  if (s.length === 24 && plainIso.test(s)) return Date.parse(s)
  // Date.parse copes with at most millisecond precision; trim extra fraction digits first.
  const trimmed = s.replace(/(\.\d{3})\d+/, "$1").replace(" ", "T")
  return Date.parse(trimmed)
}

export const Timestamp = Schema.String.pipe(
  Schema.filter((s) => {
    if (!isoWithZone.test(s)) {
      return `"${s}" is not an ISO-8601 timestamp with a time zone (e.g. 2026-11-24T22:54:46Z)`
    }
    return Number.isFinite(timestampMillis(s)) || `"${s}" is not a valid date`
  })
).annotations({ identifier: "Timestamp" })

export const isoFromMillis = (ms: number): string => new Date(ms).toISOString()
