import { randomUUID } from "node:crypto"
import { appendFileSync, existsSync, readFileSync, rmSync, statSync } from "node:fs"
import { dirname, join } from "node:path"
import { gzipSync } from "node:zlib"
import * as openpgp from "openpgp"
import { afterEach, describe, expect, it } from "vitest"
import { canonicalJson } from "../src/domain/canonical-json.js"
import type { RejectionReason } from "../src/domain/envelope-rejection.js"
import { openHistory } from "../src/entrypoints/chat-history.js"
import { installIdentity, keyPairFor, registerPeer } from "./support/identities.js"
import { filesUnder, makeTempHome, storeFile, type TempHome, withDatabase } from "./support/temp-home.js"

/**
 * Hostile and broken envelopes, each refused for its own reason (DESIGN.md §2, §5). Everything is real:
 * OpenPGP.js forges the attacks, each person has their own temp home and SQLite store, and envelopes go
 * in through the library API exactly as a transport would hand them over.
 */

const uriOf = (name: string) => `capauth:${name}@skworld.io`
const ALICE = uriOf("alice")
const BOB = uriOf("bob")
const CAROL = uriOf("carol")

const homes: Array<TempHome> = []
afterEach(() => {
  for (const home of homes.splice(0)) home.remove()
})

/** A person with their own home, key pair and store, who has registered the public keys of `knows`. */
const person = async (name: string, knows: ReadonlyArray<string> = []): Promise<TempHome> => {
  const temp = makeTempHome()
  homes.push(temp)
  await installIdentity(temp, name, uriOf(name))
  for (const peer of knows) await registerPeer(temp, peer, uriOf(peer))
  return temp
}

type History = Awaited<ReturnType<typeof openHistory>>

/** Opens a person's store through the library API for the length of `f`, and always closes it. */
const using = async <A>(temp: TempHome, f: (history: History) => Promise<A>): Promise<A> => {
  const history = await openHistory({ home: temp.home, dataDir: temp.dataDir })
  try {
    return await f(history)
  } finally {
    await history.close()
  }
}

/** A real sealed envelope, as `from`'s skchat sends it (`from` must have registered the recipient). */
const sendFrom = async (from: TempHome, input: Parameters<History["sendSealed"]>[0]) =>
  await using(from, (h) => h.sendSealed(input))

/**
 * Adds `skchat.security` settings to a home's config.yml. installIdentity wrote `skchat:` with the
 * identity under it; the settings go under that same top-level key, so the identity is kept.
 */
const setSecurity = (temp: TempHome, settings: Record<string, number | boolean>) => {
  const file = join(temp.dataDir, "config.yml")
  expect(readFileSync(file, "utf8")).toMatch(/^skchat:\n {2}identity:\n/)
  const lines = Object.entries(settings).map(([k, v]) => `    ${k}: ${String(v)}\n`).join("")
  appendFileSync(file, `  security:\n${lines}`)
}

// --- OpenPGP as an attacker holds it --------------------------------------------------------------

const privateKeyOf = async (name: string) =>
  await openpgp.readPrivateKey({ armoredKey: (await keyPairFor(name)).armoredPrivate })
const publicKeyOf = async (name: string) =>
  await openpgp.readKey({ armoredKey: (await keyPairFor(name)).armoredPublic })
const fingerprintOf = async (name: string) => (await keyPairFor(name)).fingerprint

type SealedDoc = Record<string, unknown> & {
  readonly sender: string
  readonly recipient: string
  readonly thread_id: string | null
  readonly reply_to_id: string | null
  readonly encrypted: boolean
  readonly seal: {
    readonly v: 1
    readonly kind: "message"
    readonly envelope_id: string
    readonly sender_fingerprint: string
    readonly recipient_fingerprints: ReadonlyArray<string>
    readonly created_at: string
    readonly expires_at: string | null
  }
}

/**
 * A sealed document in the shape `sealedDocument` (src/domain/sealed-message.ts) gives it: a chat message
 * plus a `seal`. The seal names `sealedBy`'s fingerprint as the signer and `sealedFor` as the recipients.
 */
const sealedDoc = async (o: {
  readonly from: string
  readonly to: string
  readonly sealedBy: string
  readonly sealedFor: ReadonlyArray<string>
  readonly content?: string
}): Promise<SealedDoc> => {
  const now = new Date().toISOString()
  return {
    id: randomUUID(),
    sender: uriOf(o.from),
    recipient: uriOf(o.to),
    content: o.content ?? `a message from ${o.from}`,
    content_type: "text/plain",
    timestamp: now,
    thread_id: null,
    reply_to_id: null,
    ttl: null,
    encrypted: true,
    metadata: {},
    attachments: [],
    seal: {
      v: 1,
      kind: "message",
      envelope_id: randomUUID(),
      sender_fingerprint: await fingerprintOf(o.sealedBy),
      recipient_fingerprints: await Promise.all(o.sealedFor.map(fingerprintOf)),
      created_at: now,
      expires_at: null
    }
  }
}

/** The usual case: a document from alice to bob, sealed by alice's key for bob's. */
const aliceToBob = (content?: string) =>
  sealedDoc({ from: "alice", to: "bob", sealedBy: "alice", sealedFor: ["bob"], ...(content === undefined ? {} : { content }) })

/**
 * Encrypts a sealed document's canonical bytes to `encryptTo`, signed by `signWith` if given: any
 * combination an attacker can make with the keys they hold.
 */
const forge = async (doc: SealedDoc, o: {
  readonly encryptTo: ReadonlyArray<string>
  readonly signWith?: string
  readonly compression?: openpgp.enums.compression
}): Promise<string> =>
  await openpgp.encrypt({
    message: await openpgp.createMessage({ binary: new TextEncoder().encode(canonicalJson(doc)) }),
    encryptionKeys: await Promise.all(o.encryptTo.map(publicKeyOf)),
    ...(o.signWith === undefined ? {} : { signingKeys: await privateKeyOf(o.signWith) }),
    format: "armored",
    config: {
      aeadProtect: false,
      ...(o.compression === undefined ? {} : { preferredCompressionAlgorithm: o.compression })
    }
  })

/** The SKComm envelope around a payload, its header repeating the sealed document (as skchat writes it). */
const envelopeAround = (doc: SealedDoc, payload: { readonly content: string; readonly signature?: string | null }) =>
  JSON.stringify(
    {
      skcomm_version: "1.0.0",
      envelope_id: doc.seal.envelope_id,
      sender: doc.sender,
      recipient: doc.recipient,
      payload: {
        content: payload.content,
        content_type: "text",
        encrypted: doc.encrypted,
        compressed: false,
        signature: payload.signature ?? null
      },
      metadata: {
        thread_id: doc.thread_id,
        in_reply_to: doc.reply_to_id,
        created_at: doc.seal.created_at,
        expires_at: doc.seal.expires_at
      }
    },
    null,
    2
  )

/** An envelope's JSON with `change` applied (a man in the middle editing what he carries). */
const edited = (envelope: string, change: (e: any) => void): string => {
  const parsed = JSON.parse(envelope)
  change(parsed)
  return JSON.stringify(parsed, null, 2)
}

/**
 * A legacy SKComm envelope (INTEROP.md): the Python chat message as plain JSON in `payload.content`,
 * not encrypted, no signature. `gzip` packs the content as SKComm's `gz:` form.
 */
const legacyEnvelope = (o: {
  readonly from: string
  readonly to: string
  readonly content: string
  readonly gzip?: boolean
}) => {
  const message = JSON.stringify({
    id: randomUUID(),
    sender: uriOf(o.from),
    recipient: uriOf(o.to),
    content: o.content,
    content_type: "text/plain",
    timestamp: new Date().toISOString(),
    thread_id: null,
    reply_to_id: null,
    ttl: null,
    delivery_status: "sent",
    metadata: {},
    reactions: []
  })
  return JSON.stringify({
    skcomm_version: "1.0.0",
    envelope_id: randomUUID(),
    sender: uriOf(o.from),
    recipient: uriOf(o.to),
    payload: {
      content: o.gzip === true ? `gz:${gzipSync(message).toString("base64")}` : message,
      content_type: "text",
      encrypted: false,
      compressed: o.gzip === true,
      signature: null
    },
    routing: { mode: "failover", retry_max: 5, ttl: 86400, ack_requested: true },
    metadata: { thread_id: null, in_reply_to: null, urgency: "normal" }
  })
}

// --- What a refusal must look like ---------------------------------------------------------------

const bytesOf = (raw: string | Uint8Array): Buffer =>
  typeof raw === "string" ? Buffer.from(raw, "utf8") : Buffer.from(raw)

/**
 * Receives `raw` and checks the refusal in full: the specific reason, the inbox unchanged, the raw bytes
 * quarantined owner-only (or nothing kept, for `quarantined: false`), and the refusal listed by
 * `rejections()`. Returns the outcome for further checks.
 */
const rejectedWith = async (
  history: History,
  temp: TempHome,
  raw: string | Uint8Array,
  reason: RejectionReason,
  { quarantined = true }: { readonly quarantined?: boolean } = {}
) => {
  const inboxBefore = await history.inbox(100)
  const [outcome] = await history.receive([raw])
  expect(outcome).toMatchObject({ status: "rejected", reason })
  if (outcome?.status !== "rejected") throw new Error("unreachable")
  expect(await history.inbox(100)).toEqual(inboxBefore)

  if (quarantined) {
    expect(outcome.file).not.toBeNull()
    const file = outcome.file!
    expect(dirname(file)).toBe(join(temp.dataDir, "quarantine"))
    // It may hold someone's message: readable by its owner only.
    expect(statSync(file).mode & 0o777).toBe(0o600)
    expect(readFileSync(file).equals(bytesOf(raw))).toBe(true)
  } else {
    expect(outcome.file).toBeNull()
  }
  expect(await history.rejections(100)).toContainEqual(expect.objectContaining({ reason, file: outcome.file }))
  return outcome
}

// --- The cases --------------------------------------------------------------------------------------

describe("incoming envelopes: every attack refused for its own reason", () => {
  it("accepts a legitimate sealed message, verified (the baseline the attacks start from)", async () => {
    const alice = await person("alice", ["bob"])
    const bob = await person("bob", ["alice"])
    const sent = await sendFrom(alice, { recipient: BOB, content: "hello bob, it is really me" })
    expect(JSON.parse(sent.envelope).payload.content).toContain("-----BEGIN PGP MESSAGE-----")

    await using(bob, async (h) => {
      const [outcome] = await h.receive([sent.envelope])
      expect(outcome).toMatchObject({ status: "accepted", verified: true })
      const inbox = await h.inbox()
      expect(inbox).toHaveLength(1)
      expect(inbox[0]).toMatchObject({
        id: sent.message.id,
        sender: ALICE,
        content: "hello bob, it is really me",
        encrypted: true,
        verified: true
      })
      expect(await h.rejections()).toEqual([])
    })
  })

  it("refuses a sealed document that is encrypted to us but not signed: unsigned", async () => {
    await person("alice", ["bob"])
    const bob = await person("bob", ["alice"])
    // Anyone with bob's public key can encrypt to him; only a signature says who wrote it.
    const doc = await aliceToBob()
    const envelope = envelopeAround(doc, { content: await forge(doc, { encryptTo: ["bob"] }) })

    await using(bob, (h) => rejectedWith(h, bob, envelope, "unsigned"))
    // Allowing legacy unsigned SKComm envelopes must not let through one that claims our sealed format.
    setSecurity(bob, { accept_unsigned: true })
    await using(bob, (h) => rejectedWith(h, bob, envelope, "unsigned"))
  })

  it("refuses a signed plaintext message whose detached signature was removed: signature_stripped", async () => {
    const alice = await person("alice", ["bob"])
    const bob = await person("bob", ["alice"])
    const sent = await sendFrom(alice, { recipient: BOB, content: "in the clear on purpose", plaintext: true })
    expect(JSON.parse(sent.envelope).payload.signature).toContain("-----BEGIN PGP SIGNATURE-----")
    const stripped = edited(sent.envelope, (e) => {
      e.payload.signature = null
    })

    await using(bob, (h) => rejectedWith(h, bob, stripped, "signature_stripped"))
    // Allowing legacy unsigned SKComm envelopes must not let through one that claims our sealed format.
    setSecurity(bob, { accept_unsigned: true })
    await using(bob, (h) => rejectedWith(h, bob, stripped, "signature_stripped"))
  })

  it("refuses a message signed by another key than the claimed sender's: forged_sender", async () => {
    await person("alice", ["bob"])
    const bob = await person("bob", ["alice"])
    // Mallory claims to be alice (even naming alice's fingerprint in the seal) but can only sign as himself.
    const doc = await aliceToBob("send me the keys")
    const envelope = envelopeAround(doc, { content: await forge(doc, { encryptTo: ["bob"], signWith: "mallory" }) })

    await using(bob, (h) => rejectedWith(h, bob, envelope, "forged_sender"))
  })

  it("refuses a sealed message from a sender with no registered key: unknown_sender", async () => {
    const dave = await person("dave", ["bob"])
    const bob = await person("bob", ["alice"])
    const sent = await sendFrom(dave, { recipient: BOB, content: "you do not know me" })

    await using(bob, async (h) => {
      const outcome = await rejectedWith(h, bob, sent.envelope, "unknown_sender")
      expect(outcome.detail).toContain(uriOf("dave"))
    })
    // Allowing legacy unsigned SKComm envelopes must not let through one that claims our sealed format.
    setSecurity(bob, { accept_unsigned: true })
    await using(bob, (h) => rejectedWith(h, bob, sent.envelope, "unknown_sender"))
  })

  it("refuses alice's message to bob that bob re-encrypted to carol: forwarded", async () => {
    const alice = await person("alice", ["bob"])
    await person("bob", ["alice", "carol"])
    const carol = await person("carol", ["alice"])
    const sent = await sendFrom(alice, { recipient: BOB, content: "for bob's eyes only" })

    // Bob reads it as he may (his key, alice's signature checked), then wraps the signed content, alice's
    // signature unchanged, in a new encryption to carol. Carol decrypts it and finds alice's signature
    // valid: only the seal's recipient list shows she was never meant to read it.
    const { data, signatures } = await openpgp.decrypt({
      message: await openpgp.readMessage({ armoredMessage: JSON.parse(sent.envelope).payload.content }),
      decryptionKeys: await privateKeyOf("bob"),
      verificationKeys: await publicKeyOf("alice"),
      expectSigned: true,
      format: "binary"
    })
    const alicesSignature = await signatures[0]!.signature
    const packets = new openpgp.PacketList<openpgp.AnyPacket>()
    packets.push(...alicesSignature.packets, ...(await openpgp.createMessage({ binary: data })).packets)
    const reencrypted = await new openpgp.Message(packets).encrypt([await publicKeyOf("carol")])
    const forwarded = edited(sent.envelope, (e) => {
      e.payload.content = reencrypted.armor()
    })

    await using(carol, async (h) => {
      await rejectedWith(h, carol, forwarded, "forwarded")
      expect(await h.conversation(ALICE)).toEqual([])
    })
  })

  it("takes the same envelope a second time as a duplicate: the inbox holds it once, nothing is shown again", async () => {
    const alice = await person("alice", ["bob"])
    const bob = await person("bob", ["alice"])
    const sent = await sendFrom(alice, { recipient: BOB, content: "pay carol 10 coins" })

    await using(bob, async (h) => {
      expect((await h.receive([sent.envelope]))[0]).toMatchObject({ status: "accepted" })
      // At-least-once transports redeliver after a crash: the very same envelope is no attack and no news.
      expect((await h.receive([sent.envelope]))[0]).toMatchObject({ status: "duplicate", envelopeId: sent.envelopeId })
      expect((await h.inbox()).map((m) => m.id)).toEqual([sent.message.id])
      expect(await h.rejections()).toEqual([])
    })
  })

  it("refuses another payload under an envelope id already received: replay", async () => {
    const alice = await person("alice", ["bob"])
    const bob = await person("bob", ["alice"])
    const first = await sendFrom(alice, { recipient: BOB, content: "pay carol 10 coins" })
    const second = await sendFrom(alice, { recipient: BOB, content: "pay carol 1000 coins" })
    const reused = edited(second.envelope, (e) => {
      e.envelope_id = first.envelopeId
    })

    await using(bob, async (h) => {
      expect((await h.receive([first.envelope]))[0]).toMatchObject({ status: "accepted" })
      await rejectedWith(h, bob, reused, "replay")
      expect((await h.inbox()).map((m) => m.id)).toEqual([first.message.id])
    })
  })

  it("refuses an envelope whose ciphertext was altered: tampered", async () => {
    const alice = await person("alice", ["bob"])
    const bob = await person("bob", ["alice"])
    const sent = await sendFrom(alice, { recipient: BOB, content: "the meeting is at noon" })

    // Flip one byte near the end of the binary message (inside the encrypted data and its MDC), then
    // armor it again so the armor itself is well formed: only the integrity check can notice.
    const { data: binary } = await openpgp.unarmor(JSON.parse(sent.envelope).payload.content)
    binary[binary.length - 5]! ^= 0x01
    const tampered = edited(sent.envelope, (e) => {
      e.payload.content = openpgp.armor(openpgp.enums.armor.message, binary)
    })

    await using(bob, (h) => rejectedWith(h, bob, tampered, "tampered"))
  })

  describe("refuses what is not an envelope at all: malformed", () => {
    it.each([
      ["text that is not JSON", () => "this is not JSON {"],
      ["an envelope cut off halfway (a truncated transfer)", (env: string) => env.slice(0, env.length / 2)],
      ["JSON that is not an envelope", () => JSON.stringify({ hello: "world", payload: 42 })]
    ])("%s", async (_what, make) => {
      const alice = await person("alice", ["bob"])
      const bob = await person("bob", ["alice"])
      const sent = await sendFrom(alice, { recipient: BOB, content: "a perfectly good message" })

      await using(bob, (h) => rejectedWith(h, bob, make(sent.envelope), "malformed"))
    })
  })

  it("refuses an envelope id that is a path: malformed, and writes nothing outside the quarantine", async () => {
    const alice = await person("alice", ["bob"])
    const bob = await person("bob", ["alice"])
    const sent = await sendFrom(alice, { recipient: BOB, content: "innocent looking" })
    const traversal = edited(sent.envelope, (e) => {
      e.envelope_id = "../../etc/passwd"
    })

    await using(bob, async (h) => {
      const before = new Set(filesUnder(bob.home))
      const outcome = await rejectedWith(h, bob, traversal, "malformed")
      // The quarantine file's name comes from the time and hash, never from the claimed id.
      expect(outcome.file).not.toContain("passwd")
      const quarantineDir = join(bob.dataDir, "quarantine")
      const created = filesUnder(bob.home).filter((f) => !before.has(f))
      expect(created.filter((f) => !f.startsWith(`${quarantineDir}/`) && !f.startsWith(join(bob.dataDir, "memory"))))
        .toEqual([])
      expect(existsSync(join(quarantineDir, "../../etc/passwd"))).toBe(false)
      expect(existsSync(join(bob.home, "etc"))).toBe(false)
      // What the hostile header claimed is recorded as claimed, for a person to see.
      expect((await h.rejections())[0]).toMatchObject({ reason: "malformed", claimed_id: "../../etc/passwd" })
    })
  })

  it("refuses an envelope over skchat.security.max_envelope_bytes before parsing it: oversized", async () => {
    const alice = await person("alice", ["bob"])
    const bob = await person("bob", ["alice"])
    setSecurity(bob, { max_envelope_bytes: 4096 })
    const sent = await sendFrom(alice, { recipient: BOB, content: "x".repeat(10 * 1024) })
    expect(Buffer.byteLength(sent.envelope)).toBeGreaterThan(4096)

    await using(bob, async (h) => {
      expect(h.identity.uri).toBe(BOB) // the identity lines of config.yml survived the edit
      await rejectedWith(h, bob, sent.envelope, "oversized")
    })
  })

  it("refuses a gz: payload that inflates past the size limit (a gzip bomb): decompression_limit", async () => {
    const bob = await person("bob", ["alice"])
    // 50 MB of zeros packs into ~50 KB: small on the wire, far over the 1 MiB default once inflated.
    const bomb = gzipSync(Buffer.alloc(50 * 1024 * 1024))
    expect(bomb.byteLength).toBeLessThan(1024 * 1024)
    const envelope = edited(legacyEnvelope({ from: "alice", to: "bob", content: "placeholder" }), (e) => {
      e.payload.content = `gz:${bomb.toString("base64")}`
      e.payload.compressed = true
    })

    await using(bob, (h) => rejectedWith(h, bob, envelope, "decompression_limit"))
  })

  it("refuses a signed OpenPGP compressed packet that inflates past the limit: decompression_limit", async () => {
    await person("alice", ["bob"])
    const bob = await person("bob", ["alice"])
    // A genuinely signed sealed document from alice, ~20 MB of zeros, zlib-compressed inside the encryption:
    // the envelope is small, so only the decompression limit (max_envelope_bytes, 1 MiB) stops it.
    const doc = await aliceToBob("0".repeat(20 * 1024 * 1024))
    const armored = await forge(doc, {
      encryptTo: ["bob"],
      signWith: "alice",
      compression: openpgp.enums.compression.zlib
    })
    const envelope = envelopeAround(doc, { content: armored })
    expect(Buffer.byteLength(envelope)).toBeLessThan(1024 * 1024)

    await using(bob, (h) => rejectedWith(h, bob, envelope, "decompression_limit"))
  })

  it.each([
    ["metadata.thread_id", (e: any) => { e.metadata.thread_id = "another-thread" }],
    ["recipient", (e: any) => { e.recipient = CAROL }]
  ])("refuses a valid envelope whose outer %s was altered: header_mismatch", async (field, change) => {
    const alice = await person("alice", ["bob"])
    const bob = await person("bob", ["alice"])
    const sent = await sendFrom(alice, { recipient: BOB, content: "about the release", threadId: "release" })

    await using(bob, async (h) => {
      const outcome = await rejectedWith(h, bob, edited(sent.envelope, change), "header_mismatch")
      expect(outcome.detail).toContain(field)
    })
  })

  it("refuses a sender whose registered key is not the pinned one (key_changed), and won't send to them", async () => {
    const alice = await person("alice", ["bob"])
    const bob = await person("bob", ["alice"])
    const first = await sendFrom(alice, { recipient: BOB, content: "first contact: pin my key" })
    await using(bob, async (h) => {
      expect((await h.receive([first.envelope]))[0]).toMatchObject({ status: "accepted", verified: true })
    })

    // Someone swaps alice's peer file in bob's registry for one with a new key under the same URI.
    rmSync(join(bob.home, ".skcapstone", "peers", "alice.json"))
    await registerPeer(bob, "alice-rekeyed", ALICE)
    const byOldKey = await sendFrom(alice, { recipient: BOB, content: "still me, old key" })
    const newDoc = await sealedDoc({ from: "alice", to: "bob", sealedBy: "alice-rekeyed", sealedFor: ["bob"] })
    const byNewKey = envelopeAround(newDoc, {
      content: await forge(newDoc, { encryptTo: ["bob"], signWith: "alice-rekeyed" })
    })

    await using(bob, async (h) => {
      await rejectedWith(h, bob, byOldKey.envelope, "key_changed")
      await rejectedWith(h, bob, byNewKey, "key_changed")
      await expect(h.send({ recipient: ALICE, content: "are you still you?" }))
        .rejects.toMatchObject({ _tag: "KeyChanged" })
      expect(await h.conversation(ALICE)).toHaveLength(1) // only the first message: nothing was sent
    })
  })

  it("refuses a legacy SKComm envelope by default (unsigned_legacy); takes it unverified when allowed", async () => {
    const bob = await person("bob", ["alice"])
    const legacy = legacyEnvelope({ from: "alice", to: "bob", content: "hi from the Python skchat" })
    const packed = legacyEnvelope({ from: "alice", to: "bob", content: "compressed hello", gzip: true })

    await using(bob, (h) => rejectedWith(h, bob, legacy, "unsigned_legacy"))

    setSecurity(bob, { accept_unsigned: true })
    await using(bob, async (h) => {
      // The envelope refused before is taken now: a refusal does not burn its id.
      const outcomes = await h.receive([legacy, packed])
      expect(outcomes).toMatchObject([
        { status: "accepted", verified: false },
        { status: "accepted", verified: false }
      ])
      const inbox = await h.inbox()
      expect(inbox.map((m) => [m.content, m.verified]).sort()).toEqual([
        ["compressed hello", false],
        ["hi from the Python skchat", false]
      ])
    })
  })

  it("refuses SKComm's unsigned ack for one of our messages as unsupported: it moves no delivery status", async () => {
    const alice = await person("alice", ["bob"])
    const sent = await sendFrom(alice, { recipient: BOB, content: "did you get this?" })
    const ack = edited(legacyEnvelope({ from: "bob", to: "alice", content: "x" }), (e) => {
      e.payload = { content: sent.envelopeId, content_type: "ack", encrypted: false, compressed: false, signature: null }
      e.routing = { ack_requested: false }
      e.metadata = { in_reply_to: sent.envelopeId }
    })
    setSecurity(alice, { accept_unsigned: true })
    await using(alice, async (h) => {
      const outcome = await rejectedWith(h, alice, ack, "unsupported")
      expect(outcome.detail).toContain("\"ack\"")
      expect((await h.conversation(BOB)).map((m) => m.delivery_status)).toEqual(["pending"])
    })
  })

  it("drops a legacy envelope past SKComm's own expiry (metadata.expires_at, routing.ttl): expired", async () => {
    const bob = await person("bob", ["alice"])
    setSecurity(bob, { accept_unsigned: true })
    const hourAgo = new Date(Date.now() - 3600_000).toISOString()
    const pastExpiry = edited(legacyEnvelope({ from: "alice", to: "bob", content: "too late" }), (e) => {
      e.metadata = { created_at: hourAgo, expires_at: new Date(Date.now() - 60_000).toISOString() }
    })
    const pastTtl = edited(legacyEnvelope({ from: "alice", to: "bob", content: "too old" }), (e) => {
      e.metadata = { created_at: hourAgo, expires_at: null }
      e.routing = { mode: "failover", ttl: 600 }
    })
    const inTime = edited(legacyEnvelope({ from: "alice", to: "bob", content: "in time" }), (e) => {
      e.metadata = { created_at: hourAgo, expires_at: null }
      e.routing = { mode: "failover", ttl: 86400 }
    })
    await using(bob, async (h) => {
      await rejectedWith(h, bob, pastExpiry, "expired", { quarantined: false })
      await rejectedWith(h, bob, pastTtl, "expired", { quarantined: false })
      expect((await h.receive([inTime]))[0]).toMatchObject({ status: "accepted", verified: false })
    })
  })

  it("drops a TTL message that arrives after its TTL ended: expired, and keeps no copy", async () => {
    const alice = await person("alice", ["bob"])
    const bob = await person("bob", ["alice"])
    const sent = await sendFrom(alice, { recipient: BOB, content: "self-destructs in one second", ttl: 1 })
    // The seal's expiry comes from the sender's clock at send time: let it pass.
    await new Promise((resolve) => setTimeout(resolve, 1200))

    await using(bob, async (h) => {
      await rejectedWith(h, bob, sent.envelope, "expired", { quarantined: false })
      const quarantineDir = join(bob.dataDir, "quarantine")
      expect(existsSync(quarantineDir) ? filesUnder(quarantineDir) : []).toEqual([])
    })
  })
})

describe("outgoing: fail closed", () => {
  it("won't send to a URI with no registered key (MissingRecipientKey); plaintext: true sends it signed", async () => {
    const alice = await person("alice")
    const zed = uriOf("zed")

    await using(alice, async (h) => {
      await expect(h.send({ recipient: zed, content: "this must not go out in the clear" }))
        .rejects.toMatchObject({ _tag: "MissingRecipientKey" })
      expect(await h.conversation(zed)).toEqual([])
    })
    withDatabase(storeFile(alice.dataDir), (db) => {
      expect(db.prepare("SELECT count(*) FROM outbound_envelopes").pluck().get()).toBe(0)
      expect(db.prepare("SELECT count(*) FROM events WHERE type = 'MessageComposed'").pluck().get()).toBe(0)
    })

    await using(alice, async (h) => {
      const sent = await h.sendSealed({ recipient: zed, content: "deliberately in the clear", plaintext: true })
      expect(sent.message.encrypted).toBe(false)
      const payload = JSON.parse(sent.envelope).payload
      expect(payload.encrypted).toBe(false)
      expect(payload.signature).toContain("-----BEGIN PGP SIGNATURE-----")
      const stored = await h.conversation(zed)
      expect(stored).toHaveLength(1)
      expect(stored[0]).toMatchObject({ id: sent.message.id, encrypted: false, content: "deliberately in the clear" })
    })
  })
})
