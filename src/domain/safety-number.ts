import { createHash } from "node:crypto"

/**
 * Safety numbers two people compare aloud (Signal's scheme, adapted): each fingerprint is hashed many
 * times into 30 decimal digits; the pair's number is both halves in a fixed order, so each side computes
 * the same 60 digits. Digits, in groups of five, are easier to read out than hex.
 */
const ITERATIONS = 5200

const digitsOf = (fingerprint: string): string => {
  const fpr = Buffer.from(fingerprint.toLowerCase(), "hex")
  let hash: Buffer = Buffer.concat([Buffer.from("skchat-safety-number-v1\0"), fpr])
  for (let i = 0; i < ITERATIONS; i++) hash = createHash("sha512").update(hash).update(fpr).digest()
  let out = ""
  for (let chunk = 0; chunk < 6; chunk++) {
    const n = hash.readUIntBE(chunk * 5, 5) % 100_000
    out += String(n).padStart(5, "0")
  }
  return out
}

const groups = (digits: string): string => digits.match(/.{5}/g)!.join(" ")

/** One key's 30 digits, in six groups of five. */
export const keySafetyNumber = (fingerprint: string): string => groups(digitsOf(fingerprint))

/** The 60 digits two parties share, in twelve groups of five; the same on both sides. */
export const pairSafetyNumber = (a: string, b: string): string => {
  const [first, second] = [digitsOf(a), digitsOf(b)].sort()
  return groups(`${first}${second}`)
}

/** A fingerprint in groups of four upper-case hex digits, as GnuPG prints it. */
export const formatFingerprint = (fingerprint: string): string =>
  fingerprint.toUpperCase().match(/.{1,4}/g)!.join(" ")
