import { Either } from "effect"
import type * as openpgp from "openpgp"
import { type Rejection, rejection } from "../domain/envelope-rejection.js"

/**
 * OpenPGP at the edges (DESIGN.md §2): v4 keys, Ed25519 + Cv25519 (`curve25519Legacy`), no AEAD packets —
 * the forms GnuPG 2.2 reads. Every message is signed inside its encryption and always decrypted with
 * `expectSigned: true`.
 */
const CONFIG: openpgp.PartialConfig = { aeadProtect: false, v6Keys: false }

/**
 * OpenPGP.js is loaded on first use: listing the inbox or searching never pays for parsing it (CLI
 * start-up time).
 */
let loaded: Promise<typeof openpgp> | undefined
const pgp = (): Promise<typeof openpgp> => (loaded ??= import("openpgp"))

/** How many decryptions this process has run (the rebuild benchmark shows a replay needs none). */
let decryptionCount = 0
export const decryptions = (): number => decryptionCount

export interface GeneratedKeys {
  readonly armoredPrivate: string
  readonly armoredPublic: string
  readonly fingerprint: string
}

export const generateKeyPair = async (
  user: { readonly name: string; readonly email?: string | undefined },
  passphrase: string | undefined
): Promise<GeneratedKeys> => {
  const { privateKey, publicKey } = await (await pgp()).generateKey({
    type: "ecc",
    curve: "curve25519Legacy",
    userIDs: [user.email === undefined ? { name: user.name } : { name: user.name, email: user.email }],
    ...(passphrase === undefined || passphrase === "" ? {} : { passphrase }),
    format: "armored",
    config: CONFIG
  })
  const key = await (await pgp()).readKey({ armoredKey: publicKey })
  return { armoredPrivate: privateKey, armoredPublic: publicKey, fingerprint: key.getFingerprint() }
}

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e))

/** A peer's public key, checked to be usable: a public key, not revoked or expired, able to encrypt. */
export interface PeerKey {
  readonly key: openpgp.PublicKey
  readonly fingerprint: string
  readonly userIds: ReadonlyArray<string>
  /** The key as ASCII armor, public parts only. */
  readonly armored: string
}

const peerKeyCache = new Map<string, Either.Either<PeerKey, string>>()

/** Reads an armored (or binary) public key; `Left` is a one-line reason. Parsed keys are cached. */
export const readPeerKey = async (data: string | Uint8Array): Promise<Either.Either<PeerKey, string>> => {
  const cacheKey = typeof data === "string" ? data : Buffer.from(data).toString("base64")
  const cached = peerKeyCache.get(cacheKey)
  if (cached !== undefined) return cached
  let result: Either.Either<PeerKey, string>
  try {
    const key = typeof data === "string" && data.includes("-----BEGIN PGP")
      ? await (await pgp()).readKey({ armoredKey: data, config: CONFIG })
      : await (await pgp()).readKey({ binaryKey: typeof data === "string" ? Buffer.from(data, "binary") : data })
    if (key.isPrivate()) {
      result = Either.left("this is a private key: give the public key (skchat identity export, gpg --export --armor)")
    } else if (await key.isRevoked()) {
      result = Either.left("this key is revoked")
    } else {
      // A peer's key must be able to both encrypt (our messages to them) and sign (theirs to us).
      await key.getEncryptionKey()
      await key.getSigningKey()
      result = Either.right({
        key: key as openpgp.PublicKey,
        fingerprint: key.getFingerprint(),
        userIds: key.getUserIDs(),
        armored: key.armor()
      })
    }
  } catch (e) {
    result = Either.left(`not a usable OpenPGP public key: ${message(e).replace(/^Error [a-z ]+: /, "")}`)
  }
  peerKeyCache.set(cacheKey, result)
  return result
}

/** Our own key pair, unlocked. */
export interface OwnKey {
  readonly privateKey: openpgp.PrivateKey
  readonly publicKey: openpgp.PublicKey
  readonly fingerprint: string
}

export const readPrivateKey = async (armored: string): Promise<openpgp.PrivateKey> =>
  await (await pgp()).readPrivateKey({ armoredKey: armored, config: CONFIG })

/** Unlocks a private key; `Left` when the passphrase is wrong. */
export const unlockKey = async (key: openpgp.PrivateKey, passphrase: string | undefined):
  Promise<Either.Either<OwnKey, string>> => {
  let unlocked = key
  if (!key.isDecrypted()) {
    if (passphrase === undefined) return Either.left("the private key is passphrase-protected")
    try {
      unlocked = await (await pgp()).decryptKey({ privateKey: key, passphrase })
    } catch {
      return Either.left("wrong passphrase for the identity key")
    }
  }
  return Either.right({ privateKey: unlocked, publicKey: unlocked.toPublic(), fingerprint: unlocked.getFingerprint() })
}

/** Signs `bytes` and encrypts them to every recipient key: one armored OpenPGP message. */
export const signAndEncrypt = async (
  bytes: Uint8Array,
  signer: OwnKey,
  recipients: ReadonlyArray<openpgp.PublicKey>
): Promise<string> =>
  await (await pgp()).encrypt({
    message: await (await pgp()).createMessage({ binary: bytes }),
    encryptionKeys: [...recipients],
    signingKeys: signer.privateKey,
    format: "armored",
    config: CONFIG
  })

/** An armored detached signature over `bytes` (a deliberate plaintext send is still signed). */
export const signDetached = async (bytes: Uint8Array, signer: OwnKey): Promise<string> =>
  await (await pgp()).sign({
    message: await (await pgp()).createMessage({ binary: bytes }),
    signingKeys: signer.privateKey,
    detached: true,
    format: "armored",
    config: CONFIG
  })

/**
 * OpenPGP.js reports each failure as an Error with a fixed text (v6.3, pinned); these map them onto the
 * reasons a person is shown. The attack tests hold every mapping.
 */
const classify = (e: unknown, sender: string): Rejection => {
  const text = message(e)
  if (/not signed|Missing .*signature/i.test(text)) return rejection("unsigned", "the sealed part carries no signature")
  if (/Could not find signing key/i.test(text)) {
    return rejection("forged_sender", `signed by a key that is not the registered key of ${sender}`)
  }
  if (/Maximum decompressed message size exceeded/i.test(text)) {
    return rejection("decompression_limit", "the compressed sealed part inflates past the size limit")
  }
  if (/No decryption key packets found|Session key decryption failed|no matching|decryption key/i.test(text)) {
    return rejection("not_for_us", "not encrypted to our key")
  }
  if (/Signed digest did not match|signature/i.test(text)) {
    return rejection("bad_signature", `the signature of ${sender} does not match the content`)
  }
  if (/Modification detected|integrity|Unexpected end|Malformed|Parsing|checksum|Misformed|armor/i.test(text)) {
    return rejection("tampered", "the ciphertext fails its integrity check")
  }
  return rejection("tampered", `cannot decrypt: ${text.replace(/^Error decrypting message: /, "")}`)
}

const readArmoredMessage = async (armored: string): Promise<Either.Either<openpgp.Message<Uint8Array>, Rejection>> => {
  try {
    return Either.right(await (await pgp()).readMessage({ armoredMessage: armored, config: CONFIG }) as
      openpgp.Message<Uint8Array>)
  } catch (e) {
    return Either.left(rejection("tampered", `not a readable OpenPGP message: ${message(e)}`))
  }
}

/**
 * Decrypts with our key and, given the one key the claimed sender is registered with, requires a valid
 * signature by it (`expectSigned: true`). Without a sender (legacy SKComm payloads, signed if at all
 * outside the encryption) it only decrypts, and the result is shown unverified. `maxBytes` bounds what an
 * OpenPGP compressed packet may inflate to.
 */
export const decrypt = async (
  armored: string,
  me: OwnKey,
  sender: { readonly uri: string; readonly key: openpgp.PublicKey } | undefined,
  maxBytes: number
): Promise<Either.Either<Uint8Array, Rejection>> => {
  const read = await readArmoredMessage(armored)
  if (Either.isLeft(read)) return Either.left(read.left)
  decryptionCount++
  try {
    const { data } = await (await pgp()).decrypt({
      message: read.right,
      decryptionKeys: me.privateKey,
      ...(sender === undefined ? {} : { verificationKeys: sender.key, expectSigned: true as const }),
      format: "binary",
      config: { ...CONFIG, maxDecompressedMessageSize: maxBytes }
    })
    return Either.right(data)
  } catch (e) {
    return Either.left(classify(e, sender?.uri ?? "the sender"))
  }
}

/** Checks a detached signature over `bytes` against the claimed sender's registered key. */
export const verifyDetached = async (
  bytes: Uint8Array,
  armoredSignature: string,
  sender: { readonly uri: string; readonly key: openpgp.PublicKey }
): Promise<Either.Either<void, Rejection>> => {
  let signature: openpgp.Signature
  try {
    signature = await (await pgp()).readSignature({ armoredSignature, config: CONFIG })
  } catch (e) {
    return Either.left(rejection("bad_signature", `the detached signature is unreadable: ${message(e)}`))
  }
  try {
    await (await pgp()).verify({
      message: await (await pgp()).createMessage({ binary: bytes }),
      signature,
      verificationKeys: sender.key,
      expectSigned: true,
      config: CONFIG
    })
    return Either.right(undefined)
  } catch (e) {
    return Either.left(classify(e, sender.uri))
  }
}
