import { Schema } from "effect"

/**
 * A participant address: `capauth:name@host` for people and agents, `group:<uuid>` for groups.
 * Legacy peers may also use a bare agent name or fingerprint, which stays valid as a participant.
 */
export const CAPAUTH_PREFIX = "capauth:"
export const FALLBACK_IDENTITY = "capauth:local@skchat"

const capauthPattern = /^capauth:[^\s@:/]+@[^\s@:/]+$/

export const isCapauthUri = (s: string): boolean => capauthPattern.test(s)

export const CapauthUri = Schema.String.pipe(
  Schema.filter((s) => isCapauthUri(s) || `"${s}" is not a capauth URI (expected capauth:name@host)`)
).annotations({ identifier: "CapauthUri" })

/** Sender or recipient: any non-blank string, trimmed (INTEROP.md validation rule). */
export const Participant = Schema.Trim.pipe(
  Schema.filter((s) => s.length > 0 || "must not be blank"),
  Schema.maxLength(512, { message: () => "must be at most 512 characters" })
)

/** The identity URI a skcapstone identity file implies (INTEROP.md). */
export const uriFromIdentity = (id: { readonly name?: string | undefined; readonly email?: string | undefined }):
  string | undefined => {
  if (id.email && id.email.trim() !== "") return `${CAPAUTH_PREFIX}${id.email.trim()}`
  if (id.name && id.name.trim() !== "") return `${CAPAUTH_PREFIX}${id.name.trim()}@skworld.io`
  return undefined
}
