import { Schema } from "effect"
import { CAPAUTH_PREFIX } from "./identity-uri.js"

const optionalString = Schema.optional(Schema.NullOr(Schema.String))

/** A skcapstone peer file (`~/.skcapstone/peers/<name>.json`). Unknown keys are ignored. */
export const PeerFile = Schema.Struct({
  name: Schema.String,
  fingerprint: optionalString,
  public_key: optionalString,
  entity_type: optionalString,
  handle: optionalString,
  email: optionalString,
  capabilities: Schema.optional(Schema.NullOr(Schema.Array(Schema.Unknown))),
  contact_uris: Schema.optional(Schema.NullOr(Schema.Array(Schema.String))),
  trust_level: Schema.optional(Schema.NullOr(Schema.Union(Schema.String, Schema.Number))),
  added_at: optionalString,
  last_seen: optionalString,
  source: optionalString
})
export type PeerFile = typeof PeerFile.Type

export interface Peer extends PeerFile {
  /** The file's base name (`lumina` for lumina.json): the first name a peer answers to. */
  readonly fileName: string
  /** Where messages to this peer are addressed. */
  readonly uri: string
}

/** The capauth URI of a peer: its first capauth contact URI, else one derived from email or name. */
export const peerUri = (p: PeerFile): string => {
  const listed = p.contact_uris?.find((u) => u.startsWith(CAPAUTH_PREFIX))
  if (listed) return listed
  if (p.email) return `${CAPAUTH_PREFIX}${p.email}`
  return `${CAPAUTH_PREFIX}${p.name}@skworld.io`
}

const editDistance = (a: string, b: string): number => {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    let diagonal = prev[0]!
    prev[0] = i
    for (let j = 1; j <= b.length; j++) {
      const above = prev[j]!
      prev[j] = Math.min(above + 1, prev[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1))
      diagonal = above
    }
  }
  return prev[b.length]!
}

/** Names close to a mistyped one: small edit distance, or one containing the other. */
export const closeMatches = (wanted: string, names: ReadonlyArray<string>, max = 3): ReadonlyArray<string> => {
  const w = wanted.toLowerCase()
  return names
    .map((name) => ({ name, d: editDistance(w, name.toLowerCase()) }))
    .filter(({ name, d }) =>
      d <= Math.max(2, Math.floor(w.length / 3)) || name.toLowerCase().includes(w) || w.includes(name.toLowerCase())
    )
    .sort((a, b) => a.d - b.d || a.name.localeCompare(b.name))
    .slice(0, max)
    .map(({ name }) => name)
}

/** Does this peer answer to `name` (file name, `name` or `handle`, case-insensitive)? */
export const peerAnswersTo = (peer: Peer, name: string): boolean => {
  const n = name.toLowerCase()
  return [peer.fileName, peer.name, peer.handle].some((x) => typeof x === "string" && x.toLowerCase() === n)
}
