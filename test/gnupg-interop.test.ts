import { Either } from "effect"
import { execFile, execFileSync } from "node:child_process"
import { chmodSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { canonicalJson } from "../src/domain/canonical-json.js"
import { decodeChatMessage } from "../src/domain/chat-message.js"
import { makeEnvelope } from "../src/domain/envelope.js"
import type { Seal } from "../src/domain/sealed-message.js"
import { openHistory } from "../src/entrypoints/chat-history.js"
import { installIdentity, registerPeer } from "./support/identities.js"
import { makeTempHome, type TempHome } from "./support/temp-home.js"

/**
 * skchat and GnuPG 2.2 (the OpenPGP most peers have) read each other's sealed messages, both ways: GnuPG
 * decrypts and verifies what skchat sends, and skchat accepts what GnuPG signs and encrypts — and refuses
 * it, as a forgery, when GnuPG signs with a key other than the sender's registered one.
 *
 * Every test has its own HOME and its own GNUPGHOME; the real ~/.gnupg is never touched.
 */

const ME = "capauth:orion@skworld.io"
const LUMINA = "capauth:lumina@skworld.io"

interface GpgResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

let temp: TempHome
let gnupgHome: string
/** Set once beforeEach made both; afterEach cleans up only what it made. */
let made = false

/** Runs gpg on the test's own keyring (--homedir and GNUPGHOME both), in batch mode, with optional stdin. */
const gpg = (args: ReadonlyArray<string>, input?: string): Promise<GpgResult> =>
  new Promise((resolve) => {
    const child = execFile("gpg", ["--homedir", gnupgHome, "--batch", "--no-tty", ...args], {
      env: { PATH: process.env["PATH"], HOME: temp.home, GNUPGHOME: gnupgHome, LANG: "C", LC_ALL: "C" },
      timeout: 60_000,
      maxBuffer: 16 * 1024 * 1024
    }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1
      resolve({ code, stdout: String(stdout), stderr: String(stderr) })
    })
    // gpg may exit before it reads its input (a refusal, say): a closed pipe is its answer, not an error here.
    child.stdin?.on("error", () => {})
    child.stdin?.end(input ?? "")
  })

/** gpg that must succeed; a failure shows gpg's own words. */
const gpgOk = async (args: ReadonlyArray<string>, input?: string): Promise<GpgResult> => {
  const result = await gpg(args, input)
  if (result.code !== 0) {
    throw new Error(`gpg ${args.join(" ")} exited ${result.code}:\n${result.stderr}`)
  }
  return result
}

const NO_PASSPHRASE = ["--pinentry-mode", "loopback", "--passphrase", ""]

/** What GnuPG makes of `text` signed by `signer` and encrypted to `recipientFingerprint`, armored. */
const gpgSignAndEncrypt = async (text: string, signer: string, recipientFingerprint: string): Promise<string> =>
  (await gpgOk([
    ...NO_PASSPHRASE,
    "--trust-model", "always",
    "--sign", "--encrypt", "--armor",
    "-u", signer,
    "-r", recipientFingerprint.toUpperCase()
  ], text)).stdout

/** The primary key fingerprint (upper-case, as GnuPG prints it) of the one key `userId` names. */
const fingerprintOf = async (userId: string): Promise<string> => {
  const { stdout } = await gpgOk(["--with-colons", "--list-keys", userId])
  const fpr = stdout.split("\n").find((l) => l.startsWith("fpr:"))?.split(":")[9]
  if (fpr === undefined || !/^[0-9A-F]{40}$/.test(fpr)) throw new Error(`no v4 fingerprint for ${userId}:\n${stdout}`)
  return fpr
}

/** A GnuPG key as `gpg --quick-gen-key` makes one: Ed25519 to sign, plus a Cv25519 subkey to decrypt. */
const gnupgKey = async (name: string, email: string, withEncryptionSubkey = true): Promise<string> => {
  await gpgOk([...NO_PASSPHRASE, "--quick-gen-key", `${name} <${email}>`, "ed25519", "sign", "never"])
  const fpr = await fingerprintOf(email)
  if (withEncryptionSubkey) await gpgOk([...NO_PASSPHRASE, "--quick-add-key", fpr, "cv25519", "encr", "never"])
  return fpr
}

/** Registers a GnuPG-exported public key as a peer, in the skcapstone file format. */
const registerGnupgPeer = (name: string, uri: string, fingerprint: string, armoredPublic: string) =>
  registerPeer(temp, name, uri, { fingerprint, armoredPublic, source: "gnupg" })

/** The test's own sealed document, from lumina to us: what GnuPG will sign and encrypt. */
const sealedFromLumina = (luminaFpr: string, myFpr: string, content: string) => {
  const now = new Date().toISOString()
  const envelopeId = `gpg-${crypto.randomUUID()}`
  const message = {
    id: crypto.randomUUID(),
    sender: LUMINA,
    recipient: ME,
    content,
    content_type: "text/plain",
    timestamp: now,
    thread_id: "gnupg-interop",
    reply_to_id: null,
    ttl: null,
    encrypted: true,
    metadata: {},
    attachments: []
  }
  const seal: Seal = {
    v: 1,
    kind: "message",
    envelope_id: envelopeId,
    sender_fingerprint: luminaFpr.toLowerCase(),
    recipient_fingerprints: [myFpr.toLowerCase()],
    created_at: now,
    expires_at: null
  }
  return { message, seal, signed: canonicalJson({ ...message, seal }) }
}

/** Wraps GnuPG's armored message in our outer envelope, the header repeating the sealed part. */
const envelopeAround = (message: Record<string, unknown>, seal: Seal, armored: string): string => {
  const decoded = decodeChatMessage(message)
  if (Either.isLeft(decoded)) throw new Error(`the test's own message does not decode: ${String(decoded.left)}`)
  return JSON.stringify(makeEnvelope(decoded.right, seal, { content: armored, signature: null }), null, 2)
}

const open = () => openHistory({ home: temp.home, dataDir: temp.dataDir, identity: ME })

/**
 * Why gpg cannot run here, or undefined. Checked in beforeEach, not beforeAll: a failing beforeAll makes
 * Vitest report the tests as skipped, and a missing gpg must fail every one of them, by name.
 */
let gpgMissing: string | undefined | null = null
const checkGpg = (): string | undefined => {
  if (gpgMissing !== null) return gpgMissing
  try {
    execFileSync("gpg", ["--version"], { stdio: "pipe" })
    gpgMissing = undefined
  } catch (e) {
    gpgMissing = "GnuPG (`gpg`) is not installed or not on PATH: the GnuPG interop tests need it " +
      "(.ci/run installs it with apt-get; locally: apt-get install gnupg). " +
      `(${e instanceof Error ? e.message : String(e)})`
  }
  return gpgMissing
}

beforeEach(() => {
  const missing = checkGpg()
  if (missing !== undefined) throw new Error(missing)
  temp = makeTempHome()
  // Short path under /tmp: gpg-agent's socket path has a length limit.
  gnupgHome = mkdtempSync(join(tmpdir(), "skgpg-"))
  chmodSync(gnupgHome, 0o700) // mkdtemp makes it so already; GnuPG insists on it.
  made = true
})

afterEach(() => {
  if (!made) return
  made = false
  try {
    execFileSync("gpgconf", ["--homedir", gnupgHome, "--kill", "gpg-agent"], {
      stdio: "pipe",
      env: { ...process.env, GNUPGHOME: gnupgHome }
    })
  } catch {
    // No agent was started (or gpgconf is missing): nothing of ours to stop.
  }
  rmSync(gnupgHome, { recursive: true, force: true })
  temp.remove()
})

describe("skchat → GnuPG", () => {
  it("GnuPG decrypts what skchat sends to a GnuPG key and verifies skchat's signature over the sealed JSON", async () => {
    const myKeys = await installIdentity(temp, "orion", ME)
    const luminaFpr = await gnupgKey("Lumina", "lumina@skworld.io")
    const luminaPublic = (await gpgOk(["--armor", "--export", luminaFpr])).stdout
    expect(luminaPublic).toContain("-----BEGIN PGP PUBLIC KEY BLOCK-----")
    await registerGnupgPeer("lumina", LUMINA, luminaFpr, luminaPublic)
    await gpgOk(["--import"], myKeys.armoredPublic)

    const history = await open()
    let envelope: string
    const text = "hello from skchat — does GnuPG read this? ✓"
    try {
      const sent = await history.sendSealed({ recipient: LUMINA, content: text, threadId: "gnupg-interop" })
      envelope = sent.envelope
    } finally {
      await history.close()
    }

    const outer = JSON.parse(envelope) as { payload: { content: string; encrypted: boolean } }
    expect(outer.payload.encrypted).toBe(true)
    expect(outer.payload.content).toContain("-----BEGIN PGP MESSAGE-----")

    const plainFile = join(gnupgHome, "plain.json")
    const decrypted = await gpg([...NO_PASSPHRASE, "--status-fd", "1", "--output", plainFile, "--decrypt"],
      outer.payload.content)
    expect(decrypted.code, `gpg --decrypt failed:\n${decrypted.stderr}\n${decrypted.stdout}`).toBe(0)

    const myFpr = myKeys.fingerprint.toUpperCase()
    const status = decrypted.stdout.split("\n")
    expect(status).toContainEqual(expect.stringMatching(new RegExp(`^\\[GNUPG:\\] GOODSIG ${myFpr.slice(-16)} `)))
    const validsig = status.find((l) => l.startsWith("[GNUPG:] VALIDSIG "))
    expect(validsig, decrypted.stdout).toBeDefined()
    // VALIDSIG <signing key fpr> ... <primary key fpr>: both are skchat's identity key.
    const fields = validsig!.split(" ")
    expect(fields[2]).toBe(myFpr)
    expect(fields[fields.length - 1]).toBe(myFpr)
    expect(status).toContain("[GNUPG:] DECRYPTION_OKAY")
    expect(status).not.toContainEqual(expect.stringMatching(/BADSIG|ERRSIG|DECRYPTION_FAILED/))

    const plaintext = readFileSync(plainFile, "utf8")
    const doc = JSON.parse(plaintext) as {
      content: string
      sender: string
      recipient: string
      seal: Seal
    }
    // Exactly the canonical JSON that was signed: sorted keys, no whitespace.
    expect(plaintext).toBe(canonicalJson(doc))
    expect(doc.content).toBe(text)
    expect(doc.sender).toBe(ME)
    expect(doc.recipient).toBe(LUMINA)
    expect(doc.seal.v).toBe(1)
    expect(doc.seal.kind).toBe("message")
    expect(doc.seal.envelope_id).toBe((JSON.parse(envelope) as { envelope_id: string }).envelope_id)
    expect(doc.seal.sender_fingerprint).toBe(myKeys.fingerprint.toLowerCase())
    expect(doc.seal.recipient_fingerprints).toContain(luminaFpr.toLowerCase())
  })
})

describe("GnuPG → skchat", () => {
  it("skchat accepts, verified, a sealed message GnuPG signed with the sender's registered key and encrypted to us", async () => {
    const myKeys = await installIdentity(temp, "orion", ME)
    const luminaFpr = await gnupgKey("Lumina", "lumina@skworld.io")
    await registerGnupgPeer("lumina", LUMINA, luminaFpr, (await gpgOk(["--armor", "--export", luminaFpr])).stdout)
    await gpgOk(["--import"], myKeys.armoredPublic)

    const text = "hello from GnuPG — signed and sealed ✓"
    const { message, seal, signed } = sealedFromLumina(luminaFpr, myKeys.fingerprint, text)
    const armored = await gpgSignAndEncrypt(signed, "lumina@skworld.io", myKeys.fingerprint)
    expect(armored).toContain("-----BEGIN PGP MESSAGE-----")

    const history = await open()
    try {
      const [outcome] = await history.receive([envelopeAround(message, seal, armored)])
      expect(outcome).toMatchObject({ status: "accepted", verified: true })
      if (outcome?.status === "accepted") {
        expect(outcome.message.content).toBe(text)
        expect(outcome.message.sender).toBe(LUMINA)
        expect(outcome.message.id).toBe(message.id)
      }
      const inbox = await history.inbox()
      expect(inbox).toHaveLength(1)
      expect(inbox[0]).toMatchObject({
        id: message.id,
        sender: LUMINA,
        content: text,
        thread_id: "gnupg-interop",
        direction: "in",
        encrypted: true,
        verified: true
      })
      expect(await history.rejections()).toEqual([])
    } finally {
      await history.close()
    }
  })

  it("skchat refuses as forged_sender the same message signed by another GnuPG key than lumina's registered one", async () => {
    const myKeys = await installIdentity(temp, "orion", ME)
    const luminaFpr = await gnupgKey("Lumina", "lumina@skworld.io")
    await registerGnupgPeer("lumina", LUMINA, luminaFpr, (await gpgOk(["--armor", "--export", luminaFpr])).stdout)
    const malloryFpr = await gnupgKey("Mallory", "mallory@skworld.io", false)
    expect(malloryFpr).not.toBe(luminaFpr)
    await gpgOk(["--import"], myKeys.armoredPublic)

    const text = "this is lumina, honest"
    const { message, seal, signed } = sealedFromLumina(luminaFpr, myKeys.fingerprint, text)
    const armored = await gpgSignAndEncrypt(signed, "mallory@skworld.io", myKeys.fingerprint)

    const history = await open()
    try {
      const [outcome] = await history.receive([envelopeAround(message, seal, armored)])
      expect(outcome).toMatchObject({ status: "rejected", reason: "forged_sender" })
      expect(await history.inbox()).toEqual([])
      const rejections = await history.rejections()
      expect(rejections).toHaveLength(1)
      expect(rejections[0]).toMatchObject({ reason: "forged_sender" })
      expect(JSON.stringify(rejections)).not.toContain(text)
    } finally {
      await history.close()
    }
  })
})
