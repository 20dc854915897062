import { randomUUID } from "node:crypto"
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { gzipSync } from "node:zlib"
import { afterEach, describe, expect, it } from "vitest"
import { waitFor } from "./support/cli-wait.js"
import { legacyChatMessage, writeLegacyEnvelope } from "./support/legacy-envelopes.js"
import { type Chatter, type ChattingPair, makeChattingPair } from "./support/shared-folder.js"
import { type CliResult, runCli } from "./support/temp-home.js"

/**
 * Alice and bob chatting for real over the file transport: two data dirs, real keys, real child processes
 * of the built CLI, and one shared folder where alice's outbox is bob's inbox and the other way round.
 * Each test makes its own pair (see `chat`), and afterEach removes it whatever happened.
 */

const TEST_TIMEOUT_MS = 60_000

let pair: ChattingPair | undefined
afterEach(() => {
  pair?.remove()
  pair = undefined
})

/** A fresh pair for this test, with `extra` lines under `skchat:` in both config.yml files. */
const chat = async (extra = ""): Promise<ChattingPair> => {
  pair = await makeChattingPair(extra)
  return pair
}

// ---- the CLI, as the two of them run it ------------------------------------------------------------

const cli = (who: Chatter, ...args: ReadonlyArray<string>): Promise<CliResult> => runCli(args, who.env)

const describeRun = (who: Chatter, args: ReadonlyArray<string>, r: CliResult) =>
  `${who.name}$ skchat ${args.join(" ")} → exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`

/** Runs a command that must succeed and returns its output. */
const ok = async (who: Chatter, ...args: ReadonlyArray<string>): Promise<CliResult> => {
  const r = await cli(who, ...args)
  expect(r.code, describeRun(who, args, r)).toBe(0)
  return r
}

/** Runs a `--json` command that must succeed and parses what it printed. */
const json = async <A>(who: Chatter, ...args: ReadonlyArray<string>): Promise<A> => {
  const r = await ok(who, ...args, "--json")
  try {
    return JSON.parse(r.stdout) as A
  } catch {
    throw new Error(`not JSON: ${describeRun(who, [...args, "--json"], r)}`)
  }
}

interface MessageJson {
  readonly id: string
  readonly sender: string
  readonly recipient: string
  readonly content: string
  readonly thread_id: string | null
  readonly ttl: number | null
  readonly delivery_status: string
  readonly encrypted: boolean
  readonly verified: boolean
  readonly direction: "in" | "out"
  readonly expires_at: string | null
}

interface SentJson extends Omit<MessageJson, "verified" | "direction" | "expires_at"> {
  readonly envelope_id: string
}

interface ReceiveJson {
  readonly received: number
  readonly unverified: number
  readonly duplicates: number
  readonly receipts: number
  readonly status_updates: number
  readonly rejected: number
  readonly rejections: ReadonlyArray<{ source: string; reason: string; detail: string; file: string }>
  readonly receipts_sent: number
  readonly sent: number
  readonly errors: ReadonlyArray<string>
  readonly messages: ReadonlyArray<{ id: string; sender: string; thread_id: string | null }>
}

interface QuarantineJson {
  readonly reason: string
  readonly claimed_id: string | null
  readonly claimed_sender: string | null
  readonly file: string
}

const send = (from: Chatter, to: Chatter, text: string, ...options: ReadonlyArray<string>) =>
  json<SentJson>(from, "send", to.name, text, ...options)
const receive = (who: Chatter) => json<ReceiveJson>(who, "receive")
const inbox = (who: Chatter) => json<Array<MessageJson>>(who, "inbox")
const history = (who: Chatter, peer: Chatter) => json<Array<MessageJson>>(who, "history", peer.name)
const quarantine = (who: Chatter) => json<Array<QuarantineJson>>(who, "quarantine")

/** The delivery status `who`'s history shows for message `id`. */
const statusOf = async (who: Chatter, peer: Chatter, id: string): Promise<string | undefined> =>
  (await history(who, peer)).find((m) => m.id === id)?.delivery_status

// ---- the shared folders ------------------------------------------------------------------------------

/** The envelope files waiting in `dir` (`*.skc.json`, not dot-files); none when it does not exist. */
const envelopeFiles = (dir: string): Array<string> =>
  existsSync(dir) ? readdirSync(dir).filter((n) => n.endsWith(".skc.json") && !n.startsWith(".")).sort() : []

const fileOf = (envelopeId: string) => `${envelopeId}.skc.json`

/** Files in `dir` whose name mentions `envelopeId` (an archived copy may carry a time prefix). */
const filesNaming = (dir: string, envelopeId: string): Array<string> =>
  existsSync(dir) ? readdirSync(dir).filter((n) => n.includes(envelopeId)) : []

/** A failed command's stderr: exactly one line, starting "skchat:", and no stack trace. */
const expectOneLineError = (r: CliResult) => {
  const lines = r.stderr.trimEnd().split("\n")
  expect(lines, r.stderr).toHaveLength(1)
  expect(lines[0]).toMatch(/^skchat: /)
  expect(r.stderr).not.toMatch(/^\s+at /m)
  expect(r.stdout).not.toMatch(/^\s+at /m)
}

// ---- legacy SKComm envelopes ----------------------------------------------------------------------

const gz = (text: string) => `gz:${gzipSync(Buffer.from(text, "utf8")).toString("base64")}`

// ---- the tests ---------------------------------------------------------------------------------------

describe("chatting over the file transport", () => {
  it("send → receive → inbox both ways, and the shared folders are consumed", async () => {
    const { alice, bob, shared } = await chat()
    const archive = join(shared, "archive")

    const plain = await send(alice, bob, "hello bob")
    const threaded = await send(alice, bob, "about the plan", "-t", "plan-42")
    expect(plain.delivery_status).toBe("sent")
    expect(threaded.thread_id).toBe("plan-42")
    expect(envelopeFiles(bob.inbox)).toEqual([fileOf(plain.envelope_id), fileOf(threaded.envelope_id)].sort())

    const got = await ok(bob, "receive")
    expect(got.stdout).toMatch(/^2 messages received, 0 rejected/)
    expect(envelopeFiles(bob.inbox)).toEqual([])
    expect(envelopeFiles(archive)).toEqual([fileOf(plain.envelope_id), fileOf(threaded.envelope_id)].sort())

    const bobsInbox = await inbox(bob)
    expect(bobsInbox.map((m) => m.id).sort()).toEqual([plain.id, threaded.id].sort())
    const byId = new Map(bobsInbox.map((m) => [m.id, m]))
    expect(byId.get(plain.id)).toMatchObject({
      content: "hello bob",
      sender: alice.uri,
      recipient: bob.uri,
      thread_id: null,
      verified: true,
      encrypted: true,
      direction: "in"
    })
    expect(byId.get(threaded.id)).toMatchObject({
      content: "about the plan",
      sender: alice.uri,
      thread_id: "plan-42",
      verified: true,
      encrypted: true
    })
    const table = await ok(bob, "inbox")
    expect(table.stdout).toContain("hello bob")
    expect(table.stdout).toContain("about the plan")
    expect(table.stdout).not.toContain("UNVERIFIED")

    const reply = await send(bob, alice, "hi alice, got both")
    const back = await ok(alice, "receive")
    expect(back.stdout).toMatch(/^1 message received, 0 rejected/)
    expect(envelopeFiles(alice.inbox)).toEqual([])
    expect(envelopeFiles(archive)).toContain(fileOf(reply.envelope_id))
    const alicesInbox = await inbox(alice)
    expect(alicesInbox).toHaveLength(1)
    expect(alicesInbox[0]).toMatchObject({
      id: reply.id,
      content: "hi alice, got both",
      sender: bob.uri,
      verified: true
    })

    // Alice's receipts for the reply are in bob's inbox now; once he takes them in, nothing is left waiting.
    const last = await receive(bob)
    expect(last.received).toBe(0)
    expect(last.rejected).toBe(0)
    expect(envelopeFiles(bob.inbox)).toEqual([])
    expect(envelopeFiles(alice.inbox)).toEqual([])
    // Messages are archived; receipts are deleted once handled.
    expect(envelopeFiles(archive)).toEqual(
      [fileOf(plain.envelope_id), fileOf(threaded.envelope_id), fileOf(reply.envelope_id)].sort()
    )
  }, TEST_TIMEOUT_MS)

  it("receipts flow back: sent → delivered → read on the sender's side, delivered → read on the receiver's", async () => {
    const { alice, bob } = await chat()
    const first = await send(alice, bob, "one")
    const second = await send(alice, bob, "two")
    expect(await statusOf(alice, bob, first.id)).toBe("sent")

    const got = await receive(bob)
    expect(got.received).toBe(2)
    expect(got.receipts_sent).toBeGreaterThanOrEqual(1)

    const acks = await receive(alice)
    expect(acks.received).toBe(0)
    expect(acks.receipts).toBeGreaterThanOrEqual(1)
    expect(acks.rejected).toBe(0)
    const delivered = await history(alice, bob)
    expect(delivered.map((m) => [m.id, m.delivery_status]).sort()).toEqual(
      [[first.id, "delivered"], [second.id, "delivered"]].sort()
    )

    // The first time bob is shown his inbox the rows still say delivered; from then on, read.
    const shown = await inbox(bob)
    expect(shown.map((m) => m.delivery_status)).toEqual(["delivered", "delivered"])
    const shownAgain = await inbox(bob)
    expect(shownAgain.map((m) => m.delivery_status)).toEqual(["read", "read"])

    const reads = await receive(alice)
    expect(reads.receipts).toBeGreaterThanOrEqual(1)
    expect(reads.rejected).toBe(0)
    const read = await history(alice, bob)
    expect(read.map((m) => [m.id, m.delivery_status]).sort()).toEqual(
      [[first.id, "read"], [second.id, "read"]].sort()
    )
  }, TEST_TIMEOUT_MS)

  it("with skchat.privacy.read_receipts off, reading stays private: the sender sees delivered, never read", async () => {
    const { alice, bob } = await chat("  privacy:\n    read_receipts: false\n")
    const first = await send(alice, bob, "one")
    await receive(bob)
    await receive(alice)
    // Shown twice: read on bob's side, and nothing owed to alice for it.
    await inbox(bob)
    const shownAgain = await inbox(bob)
    expect(shownAgain.map((m) => m.delivery_status)).toEqual(["read"])
    const after = await receive(bob)
    expect(after.receipts_sent).toBe(0)
    const nothing = await receive(alice)
    expect(nothing.receipts).toBe(0)
    expect(await statusOf(alice, bob, first.id)).toBe("delivered")
    // The choice is in bob's log: a rebuild owes nothing either.
    await ok(bob, "admin", "rebuild")
    expect((await receive(bob)).receipts_sent).toBe(0)
  }, TEST_TIMEOUT_MS)

  it("a TTL message arrives and is shown, and its envelope file is deleted, not archived", async () => {
    const { alice, bob, shared } = await chat()
    const archive = join(shared, "archive")
    // An ordinary message alongside, to show that archiving does happen in this very setup.
    const kept = await send(alice, bob, "keep me")
    const fleeting = await send(alice, bob, "gone in a minute", "--ttl", "60")
    expect(fleeting.ttl).toBe(60)
    expect(envelopeFiles(bob.inbox)).toContain(fileOf(fleeting.envelope_id))

    const got = await receive(bob)
    expect(got.received).toBe(2)
    expect(got.messages.map((m) => m.id).sort()).toEqual([kept.id, fleeting.id].sort())

    const shown = await inbox(bob)
    expect(shown.find((m) => m.id === fleeting.id)).toMatchObject({
      content: "gone in a minute",
      ttl: 60,
      verified: true
    })
    expect(shown.find((m) => m.id === fleeting.id)?.expires_at).not.toBeNull()

    expect(envelopeFiles(bob.inbox)).toEqual([])
    expect(filesNaming(archive, kept.envelope_id)).toEqual([fileOf(kept.envelope_id)])
    expect(filesNaming(archive, fleeting.envelope_id)).toEqual([])
    expect(filesNaming(bob.inbox, fleeting.envelope_id)).toEqual([])
    expect(filesNaming(join(bob.dataDir, "archive"), fleeting.envelope_id)).toEqual([])
  }, TEST_TIMEOUT_MS)

  it("a peer offline for a while gets everything once back, each message once", async () => {
    const { alice, bob, shared } = await chat()
    const sent: Array<SentJson> = []
    for (let i = 1; i <= 5; i++) sent.push(await send(alice, bob, `message ${i} while bob is away`))
    expect(envelopeFiles(bob.inbox)).toHaveLength(5)

    const got = await receive(bob)
    expect(got.received).toBe(5)
    expect(got.duplicates).toBe(0)
    expect(got.rejected).toBe(0)
    expect(got.messages.map((m) => m.id).sort()).toEqual(sent.map((m) => m.id).sort())
    expect(envelopeFiles(bob.inbox)).toEqual([])
    expect(envelopeFiles(join(shared, "archive"))).toEqual(sent.map((m) => fileOf(m.envelope_id)).sort())

    const again = await receive(bob)
    expect(again.received).toBe(0)
    expect(again.duplicates).toBe(0)
    expect(again.rejected).toBe(0)

    const shown = await inbox(bob)
    expect(shown.map((m) => m.id).sort()).toEqual(sent.map((m) => m.id).sort())
    expect(shown.map((m) => m.content).sort()).toEqual(sent.map((m) => m.content).sort())
  }, TEST_TIMEOUT_MS)

  it("the same envelope delivered again is a quiet duplicate: not received twice, not quarantined, consumed", async () => {
    const { alice, bob, shared } = await chat()
    const archive = join(shared, "archive")
    const sent = await send(alice, bob, "say it once")
    const copy = join(bob.home, "redelivered.json")
    copyFileSync(join(bob.inbox, fileOf(sent.envelope_id)), copy)

    const first = await receive(bob)
    expect(first.received).toBe(1)
    const before = (await inbox(bob)).map((m) => [m.id, m.content, m.verified])
    expect(before).toEqual([[sent.id, "say it once", true]])
    expect(await quarantine(bob)).toEqual([])

    copyFileSync(copy, join(bob.inbox, fileOf(sent.envelope_id)))
    const second = await receive(bob)
    expect(second).toMatchObject({ received: 0, duplicates: 1, rejected: 0, rejections: [], messages: [] })

    expect(await quarantine(bob)).toEqual([])
    expect((await ok(bob, "quarantine")).stdout).not.toContain(sent.envelope_id)
    expect((await inbox(bob)).map((m) => [m.id, m.content, m.verified])).toEqual(before)
    expect(envelopeFiles(bob.inbox)).toEqual([])
    // The duplicate was deleted, not archived beside the first copy.
    expect(filesNaming(archive, sent.envelope_id)).toEqual([fileOf(sent.envelope_id)])
  }, TEST_TIMEOUT_MS)

  it("every envelope we write parses as an SKComm MessageEnvelope, pretty-printed", async () => {
    const { alice, bob } = await chat()
    const sent = await send(alice, bob, "shape check", "-t", "shapes")
    const names = envelopeFiles(alice.outbox)
    expect(names).toEqual([fileOf(sent.envelope_id)])

    const checkShape = (dir: string, name: string, from: Chatter, to: Chatter) => {
      const text = readFileSync(join(dir, name), "utf8")
      const envelope = JSON.parse(text) as Record<string, any>
      expect(text.trimEnd()).toBe(JSON.stringify(envelope, null, 2))
      expect(text).toMatch(/^\{\n {2}"skcomm_version": "1\.0\.0",\n/)
      expect(envelope["skcomm_version"]).toBe("1.0.0")
      expect(envelope["envelope_id"]).toBe(name.slice(0, -".skc.json".length))
      expect(envelope["sender"]).toBe(from.uri)
      expect(envelope["recipient"]).toBe(to.uri)
      const payload = envelope["payload"]
      expect(payload).toBeTypeOf("object")
      expect(payload.encrypted).toBe(true)
      expect(payload.compressed).toBe(false)
      expect(payload.content_type).toBeTypeOf("string")
      expect(payload.content).toMatch(/^-----BEGIN PGP MESSAGE-----/)
      expect(envelope["routing"]).toBeTypeOf("object")
      expect(envelope["routing"]).not.toBeNull()
      expect(envelope["metadata"]).toBeTypeOf("object")
      expect(envelope["metadata"]).not.toBeNull()
      // Nothing but the armored ciphertext carries what was said.
      expect(text).not.toContain("shape check")
      return envelope
    }

    const message = checkShape(alice.outbox, names[0]!, alice, bob)
    expect(message["envelope_id"]).toBe(sent.envelope_id)
    expect(message["metadata"].thread_id).toBe("shapes")

    // Bob's delivery receipt is an envelope we write too.
    const got = await receive(bob)
    expect(got.received).toBe(1)
    const receipts = envelopeFiles(bob.outbox)
    expect(receipts.length).toBeGreaterThanOrEqual(1)
    for (const name of receipts) checkShape(bob.outbox, name, bob, alice)
  }, TEST_TIMEOUT_MS)

  describe("legacy SKComm envelopes", () => {
    it("are read where accept_unsigned allows, plain and gz-compressed, and shown UNVERIFIED", async () => {
      const { alice, bob } = await chat("  security:\n    accept_unsigned: true\n")
      const plainId = writeLegacyEnvelope(alice, bob, legacyChatMessage(alice, bob, "hi from legacy"), false)
      const packedId = writeLegacyEnvelope(alice, bob, gz(legacyChatMessage(alice, bob, "hi, compressed")), true)
      expect(envelopeFiles(bob.inbox)).toEqual([fileOf(plainId), fileOf(packedId)].sort())

      const got = await receive(bob)
      expect(got).toMatchObject({ received: 2, unverified: 2, rejected: 0, duplicates: 0 })
      expect(envelopeFiles(bob.inbox)).toEqual([])

      const shown = await inbox(bob)
      expect(shown.map((m) => m.content).sort()).toEqual(["hi from legacy", "hi, compressed"])
      for (const m of shown) {
        expect(m).toMatchObject({ sender: alice.uri, recipient: bob.uri, verified: false, direction: "in" })
      }
      const table = await ok(bob, "inbox")
      const rows = table.stdout.split("\n").filter((l) => l.includes("hi from legacy") || l.includes("hi, compressed"))
      expect(rows).toHaveLength(2)
      for (const row of rows) expect(row).toContain("UNVERIFIED")
      expect(await quarantine(bob)).toEqual([])
    }, TEST_TIMEOUT_MS)

    it("are refused as unsigned_legacy without accept_unsigned, and quarantined", async () => {
      const { alice, bob } = await chat()
      const envelopeId = writeLegacyEnvelope(alice, bob, legacyChatMessage(alice, bob, "hi from legacy"), false)

      const got = await receive(bob)
      expect(got).toMatchObject({ received: 0, rejected: 1 })
      expect(got.rejections).toHaveLength(1)
      expect(got.rejections[0]!.reason).toBe("unsigned_legacy")
      expect(envelopeFiles(bob.inbox)).toEqual([])

      const listed = await quarantine(bob)
      expect(listed).toHaveLength(1)
      expect(listed[0]).toMatchObject({ reason: "unsigned_legacy", claimed_id: envelopeId, claimed_sender: alice.uri })
      expect(existsSync(listed[0]!.file)).toBe(true)
      expect(statSync(listed[0]!.file).mode & 0o777).toBe(0o600)
      const table = await ok(bob, "quarantine")
      expect(table.stdout).toContain("unsigned_legacy")
      expect(await inbox(bob)).toEqual([])
    }, TEST_TIMEOUT_MS)
  })

  describe("retries and failover", () => {
    it("a send no transport takes stays pending, and goes out at its deadline once the path works", async () => {
      const { alice, bob } = await chat("  delivery:\n    retry_backoff: [0.5, 0.5]\n")
      // A regular file where the outbox folder should be: mkdir fails.
      writeFileSync(alice.outbox, "not a folder")

      const r = await cli(alice, "send", "bob", "are you there?", "--json")
      expect(r.code, describeRun(alice, ["send"], r)).toBe(0)
      expect(r.stderr).toMatch(/^skchat: not sent yet/m)
      expect(r.stderr).not.toMatch(/^\s+at /m)
      const pending = JSON.parse(r.stdout) as SentJson
      expect(pending.delivery_status).toBe("pending")
      expect(await statusOf(alice, bob, pending.id)).toBe("pending")

      rmSync(alice.outbox)
      // `receive` also sends what is due: poll it until the retry went out.
      await waitFor(async () => {
        await receive(alice)
        return await statusOf(alice, bob, pending.id)
      }, (s) => s !== "pending", { what: "the retry to go out", timeoutMs: 30_000 })
      expect(await statusOf(alice, bob, pending.id)).toBe("sent")
      expect(envelopeFiles(alice.outbox)).toEqual([fileOf(pending.envelope_id)])

      const got = await receive(bob)
      expect(got.received).toBe(1)
      expect((await inbox(bob)).map((m) => [m.id, m.content, m.verified])).toEqual([
        [pending.id, "are you there?", true]
      ])
    }, TEST_TIMEOUT_MS)

    it("a retry is not attempted before its logged deadline", async () => {
      const { alice, bob } = await chat("  delivery:\n    retry_backoff: [3600]\n")
      writeFileSync(alice.outbox, "not a folder")
      const r = await cli(alice, "send", "bob", "later", "--json")
      expect(r.code).toBe(0)
      const pending = JSON.parse(r.stdout) as SentJson

      // One attempt was made; the second is due in an hour. Had it been tried now it would have failed
      // (the path is still broken) and, being the last of two, marked the message failed.
      const got = await receive(alice)
      expect(got.errors).toEqual([])
      expect(got.sent).toBe(0)
      expect(await statusOf(alice, bob, pending.id)).toBe("pending")
    }, TEST_TIMEOUT_MS)

    it.each([
      { backoff: "[0.1]", attempts: 2 },
      { backoff: "[0.1, 0.1]", attempts: 3 }
    ])("with retry_backoff $backoff a message fails after $attempts attempts", async ({ backoff, attempts }) => {
      const { alice, bob } = await chat(`  delivery:\n    retry_backoff: ${backoff}\n`)
      writeFileSync(alice.outbox, "not a folder")
      const r = await cli(alice, "send", "bob", "doomed", "--json")
      expect(r.code).toBe(0)
      expect(r.stderr).toMatch(/^skchat: not sent yet/m)
      const message = JSON.parse(r.stdout) as SentJson
      expect(await statusOf(alice, bob, message.id)).toBe("pending")

      // Attempts 2..n, each by a `receive` once the attempt is due (its error shows that it was made).
      for (let attempt = 2; attempt <= attempts; attempt++) {
        expect(await statusOf(alice, bob, message.id)).toBe("pending")
        const tried = await waitFor(() => receive(alice), (got) => got.errors.length > 0,
          { what: `attempt ${attempt}`, timeoutMs: 30_000 })
        expect(tried.errors.join("\n")).toMatch(/^file: cannot write/)
        expect(tried.sent).toBe(0)
      }
      expect(await statusOf(alice, bob, message.id)).toBe("failed")

      // A failed message is not tried again.
      const after = await receive(alice)
      expect(after.errors).toEqual([])
      expect(after.sent).toBe(0)
      expect(await statusOf(alice, bob, message.id)).toBe("failed")
    }, TEST_TIMEOUT_MS)

    it("fails over to the next transport by priority: a broken file transport, then syncthing", async () => {
      const { alice, bob, shared } = await chat()
      const root = join(shared, "sync-root")
      writeFileSync(alice.outbox, "not a folder")
      writeFileSync(join(alice.dataDir, "config.yml"),
        `skchat:\n  identity:\n    uri: ${alice.uri}\n  transports:\n` +
          `    file:\n      enabled: true\n      priority: 1\n      settings:\n` +
          `        inbox_path: ${alice.inbox}\n        outbox_path: ${alice.outbox}\n` +
          `    syncthing:\n      enabled: true\n      priority: 2\n      settings:\n        root: ${root}\n`)
      writeFileSync(join(bob.dataDir, "config.yml"),
        `skchat:\n  identity:\n    uri: ${bob.uri}\n  transports:\n` +
          `    syncthing:\n      enabled: true\n      priority: 1\n      settings:\n        root: ${root}\n`)

      const r = await cli(alice, "send", "bob", "via the other road", "--json")
      expect(r.code, describeRun(alice, ["send"], r)).toBe(0)
      expect(r.stderr).toBe("")
      const sent = JSON.parse(r.stdout) as SentJson
      expect(sent.delivery_status).toBe("sent")
      expect(await statusOf(alice, bob, sent.id)).toBe("sent")
      expect(envelopeFiles(join(root, "outbox", "bob"))).toEqual([fileOf(sent.envelope_id)])
      expect(statSync(alice.outbox).isFile()).toBe(true)

      const got = await receive(bob)
      expect(got.received).toBe(1)
      expect((await inbox(bob)).map((m) => [m.id, m.content, m.verified])).toEqual([
        [sent.id, "via the other road", true]
      ])
    }, TEST_TIMEOUT_MS)
  })

  describe("bad input never leaves a stack trace", () => {
    it("receive with no transport configured: exit 1, one line", async () => {
      const { bob } = await chat()
      writeFileSync(join(bob.dataDir, "config.yml"), `skchat:\n  identity:\n    uri: ${bob.uri}\n`)
      const r = await cli(bob, "receive")
      expect(r.code, r.stderr).toBe(1)
      expectOneLineError(r)
      expect(r.stderr).toMatch(/transport/)
    }, TEST_TIMEOUT_MS)

    it("an unknown transport in config.yml: a one-line error naming it", async () => {
      const { bob } = await chat()
      writeFileSync(join(bob.dataDir, "config.yml"),
        `skchat:\n  identity:\n    uri: ${bob.uri}\n  transports: { pigeon: {} }\n`)
      for (const args of [["receive"], ["send", "alice", "coo"]]) {
        const r = await cli(bob, ...args)
        expect(r.code, describeRun(bob, args, r)).toBe(1)
        expectOneLineError(r)
        expect(r.stderr).toContain("pigeon")
      }
    }, TEST_TIMEOUT_MS)
  })

  it("with no transports in config.yml, SKComm's own ~/.skcomm/config.yml is used (its other transports ignored)",
    async () => {
      const { alice, bob } = await chat()
      // Alice as a user of the Python stack: skchat's config names only her identity.
      writeFileSync(join(alice.dataDir, "config.yml"), `skchat:
  identity:
    uri: ${alice.uri}
`)
      mkdirSync(join(alice.home, ".skcomm"), { recursive: true })
      writeFileSync(join(alice.home, ".skcomm", "config.yml"), [
        "skcomm:",
        "  identity: { name: alice, fingerprint: null }",
        "  transports:",
        "    nostr: { enabled: true, priority: 1, settings: { relays: [\"wss://relay.example\"] } }",
        "    file:",
        "      enabled: true",
        "      priority: 2",
        "      settings:",
        `        inbox_path: ${alice.inbox}`,
        `        outbox_path: ${alice.outbox}`,
        ""
      ].join("\n"))
      const sent = JSON.parse((await ok(alice, "send", "bob", "via the SKComm config", "--json")).stdout) as {
        delivery_status: string
      }
      expect(sent.delivery_status).toBe("sent")
      expect((await receive(bob)).received).toBe(1)
      expect((await inbox(bob)).map((m) => m.content)).toEqual(["via the SKComm config"])
    }, TEST_TIMEOUT_MS)
})
