import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import * as openpgp from "openpgp"
import { afterEach, describe, expect, it } from "vitest"
import { generateKeyPair } from "../src/adapters/openpgp-crypto.js"
import { type CliResult, makeTempHome, runCli, type TempHome, writePeer } from "./support/temp-home.js"
import { keyPairFor, registerPeer } from "./support/identities.js"

/**
 * Identity keys, the peer registry and fail-closed sending, run as real child processes (the bundled
 * bin/skchat.cjs) in throw-away homes. A test that needs two people gets two homes; keys travel
 * between them the way users pass them: `identity export` in one, a file, `peers add` in the other.
 */

const UUID7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
const FINGERPRINT = /^[0-9a-f]{40}$/
/** Six groups of five digits: one key's safety number. */
const KEY_SAFETY_NUMBER = /^\d{5}( \d{5}){5}$/
/** Twelve groups of five digits: the number two people share. */
const PAIR_SAFETY_NUMBER = /^\d{5}( \d{5}){11}$/

// Every home a test makes is removed after it, whatever happened.
const homes: Array<TempHome> = []
const newHome = (): TempHome => {
  const h = makeTempHome()
  homes.push(h)
  return h
}
afterEach(() => {
  for (const h of homes.splice(0)) h.remove()
})

const cli = (h: TempHome, ...args: Array<string>): Promise<CliResult> => runCli(args, h.env)
const cliEnv = (h: TempHome, extra: NodeJS.ProcessEnv, ...args: Array<string>): Promise<CliResult> =>
  runCli(args, h.env, extra)

/** A successful command: exit 0, no stack trace. */
const ok = (r: CliResult): CliResult => {
  expect(r.stderr, "stderr of a successful command").not.toContain("    at ")
  expect(r.code, `exit code (stderr: ${r.stderr})`).toBe(0)
  return r
}
const okJson = <A>(r: CliResult): A => JSON.parse(ok(r).stdout) as A

/** The error contract: exit 1, exactly one line on stderr starting "skchat:", no stack trace. */
const oneLineError = (r: CliResult): string => {
  expect(r.code, `exit code (stdout: ${r.stdout}, stderr: ${r.stderr})`).toBe(1)
  expect(r.stderr).not.toContain("    at ")
  const lines = r.stderr.trimEnd().split("\n")
  expect(lines, `stderr: ${r.stderr}`).toHaveLength(1)
  expect(lines[0]).toMatch(/^skchat: \S/)
  return lines[0]!
}

interface IdentityJson {
  readonly uri: string
  readonly uri_source: string
  readonly fingerprint: string
  readonly key_source: "generated" | "skcapstone"
  readonly key_uri: string
  readonly private_key: string
  readonly public_key: string
  readonly passphrase_protected: boolean
}

interface MessageJson {
  readonly id: string
  readonly content: string
  readonly encrypted: boolean
}

const keysDir = (h: TempHome) => join(h.dataDir, "identity")
const privateKeyFile = (h: TempHome) => join(keysDir(h), "private.asc")
const peerFile = (h: TempHome, name: string) => join(h.home, ".skcapstone", "peers", `${name}.json`)
const mode = (file: string) => statSync(file).mode & 0o777

const init = async (h: TempHome, name: string) => ok(await cli(h, "init", "--name", name))
const identity = (h: TempHome) => cli(h, "identity", "show", "--json").then((r) => okJson<IdentityJson>(r))
const history = (h: TempHome, who: string) =>
  cli(h, "history", who, "--json").then((r) => okJson<Array<MessageJson>>(r))

/** A file in `h`'s home with `text` in it (a key someone handed over, say). */
const writeHomeFile = (h: TempHome, name: string, text: string): string => {
  const file = join(h.home, name)
  writeFileSync(file, text)
  return file
}

/** Hands `from`'s public key to `to` as a file, the way people exchange keys: `identity export > x.asc`. */
const handKey = async (from: TempHome, to: TempHome, fileName: string): Promise<string> =>
  writeHomeFile(to, fileName, ok(await cli(from, "identity", "export")).stdout)

/** Two initialised people, alice and bob, each in their own home, each having added the other. */
const aliceAndBob = async () => {
  const alice = newHome()
  const bob = newHome()
  await Promise.all([init(alice, "alice"), init(bob, "bob")])
  ok(await cli(alice, "peers", "add", "bob", "--key", await handKey(bob, alice, "bob.asc")))
  ok(await cli(bob, "peers", "add", "alice", "--key", await handKey(alice, bob, "alice.asc")))
  return { alice, bob }
}

/** The safety number on the line after "safety number with NAME:". */
const pairNumberIn = (stdout: string): string => {
  const lines = stdout.split("\n")
  const at = lines.findIndex((l) => l.startsWith("safety number with "))
  expect(at, stdout).toBeGreaterThanOrEqual(0)
  return lines[at + 1]!.trim()
}

describe("skchat init", () => {
  it("makes a curve25519 OpenPGP v4 key pair, private to the user, and configures the identity URI", async () => {
    const h = newHome()
    const r = await init(h, "alice")
    expect(r.stdout).toContain("capauth:alice@skworld.io")

    // The private key is readable by its owner only, in a directory only its owner can enter.
    expect(mode(keysDir(h))).toBe(0o700)
    expect(mode(privateKeyFile(h))).toBe(0o600)
    expect(existsSync(join(keysDir(h), "public.asc"))).toBe(true)
    expect(existsSync(join(keysDir(h), "identity.json"))).toBe(true)

    // Without a skcapstone identity, config.yml is where the URI lives.
    const config = readFileSync(join(h.dataDir, "config.yml"), "utf8")
    expect(config).toMatch(/skchat:\s*\n\s+identity:\s*\n\s+uri:\s*capauth:alice@skworld\.io/)
    expect(ok(await cli(h, "whoami")).stdout.split("\n")[0]).toBe("capauth:alice@skworld.io")

    const key = await openpgp.readPrivateKey({ armoredKey: readFileSync(privateKeyFile(h), "utf8") })
    expect(key.getAlgorithmInfo()).toMatchObject({ algorithm: "eddsaLegacy", curve: "ed25519Legacy" })
    expect(key.keyPacket.version).toBe(4)
    expect(key.isDecrypted()).toBe(true)
    expect(key.getUserIDs()).toEqual(["alice <alice@skworld.io>"])
    expect((await identity(h)).fingerprint).toBe(key.getFingerprint())
  })

  it("refuses to overwrite an identity; --force replaces it and keeps the old key beside it", async () => {
    const h = newHome()
    await init(h, "alice")
    const before = readFileSync(privateKeyFile(h))
    const oldFingerprint = (await identity(h)).fingerprint

    const line = oneLineError(await cli(h, "init", "--name", "alice"))
    expect(line).toContain("--force")
    expect(readFileSync(privateKeyFile(h)).equals(before)).toBe(true)

    ok(await cli(h, "init", "--name", "alice", "--force"))
    expect(readFileSync(privateKeyFile(h)).equals(before)).toBe(false)
    expect((await identity(h)).fingerprint).not.toBe(oldFingerprint)
    const kept = readdirSync(keysDir(h)).filter((f) => f.startsWith("private.asc.replaced-"))
    expect(kept).toHaveLength(1)
    expect(readFileSync(join(keysDir(h), kept[0]!)).equals(before)).toBe(true)
  })

  it("takes the URI from --uri, and refuses one that is not a capauth URI", async () => {
    const h = newHome()
    ok(await cli(h, "init", "--uri", "capauth:al@example.org"))
    expect(ok(await cli(h, "whoami")).stdout.split("\n")[0]).toBe("capauth:al@example.org")
    expect((await identity(h)).key_uri).toBe("capauth:al@example.org")

    const other = newHome()
    expect(oneLineError(await cli(other, "init", "--uri", "notauri"))).toContain("notauri")
    expect(existsSync(privateKeyFile(other))).toBe(false)
  })
})

describe("a passphrase-protected key", () => {
  const setUp = async () => {
    const h = newHome()
    ok(await cliEnv(h, { SKCHAT_PASSPHRASE: "secret" }, "init", "--name", "alice"))
    await registerPeer(h, "bob")
    return h
  }

  it("is made when SKCHAT_PASSPHRASE is set, and shown as protected", async () => {
    const h = await setUp()
    expect((await identity(h)).passphrase_protected).toBe(true)
    expect(ok(await cli(h, "identity", "show")).stdout).toContain("passphrase-protected")
    const key = await openpgp.readPrivateKey({ armoredKey: readFileSync(privateKeyFile(h), "utf8") })
    expect(key.isDecrypted()).toBe(false)
  })

  it("without SKCHAT_PASSPHRASE and no terminal, send fails at once instead of waiting for a prompt", async () => {
    const h = await setUp()
    // runCli's stdin is a pipe, not a terminal: nobody could answer a prompt.
    const line = oneLineError(await cli(h, "send", "bob", "hi"))
    expect(line).toContain("SKCHAT_PASSPHRASE")
    expect(await history(h, "bob")).toEqual([])
  })

  it("with a wrong passphrase, send fails cleanly and stores nothing", async () => {
    const h = await setUp()
    const line = oneLineError(await cliEnv(h, { SKCHAT_PASSPHRASE: "wrong" }, "send", "bob", "hi"))
    expect(line).toMatch(/passphrase/i)
    expect(await history(h, "bob")).toEqual([])
  })

  it("with the right passphrase, send works", async () => {
    const h = await setUp()
    const r = ok(await cliEnv(h, { SKCHAT_PASSPHRASE: "secret" }, "send", "bob", "hi"))
    expect(r.stdout.trim()).toMatch(UUID7)
    expect((await history(h, "bob")).map((m) => [m.content, m.encrypted])).toEqual([["hi", true]])
  })
})

describe("a skcapstone identity", () => {
  const skcapstoneDir = (h: TempHome) => join(h.home, ".skcapstone", "identity")
  const writeSkcapstoneIdentity = (h: TempHome, fields: Record<string, unknown>) => {
    mkdirSync(skcapstoneDir(h), { recursive: true })
    writeFileSync(join(skcapstoneDir(h), "identity.json"), JSON.stringify(fields, null, 2))
  }

  it("is reused with its own key: no second key pair is made", async () => {
    const h = newHome()
    const opus = await keyPairFor("opus")
    writeSkcapstoneIdentity(h, { name: "opus", email: "opus@skworld.io", fingerprint: opus.fingerprint })
    writeFileSync(join(skcapstoneDir(h), "private.asc"), opus.armoredPrivate, { mode: 0o600 })

    ok(await cli(h, "init"))
    const shown = await identity(h)
    expect(shown).toMatchObject({
      uri: "capauth:opus@skworld.io",
      key_source: "skcapstone",
      fingerprint: opus.fingerprint,
      private_key: join(skcapstoneDir(h), "private.asc")
    })
    expect(existsSync(privateKeyFile(h))).toBe(false)
    expect(ok(await cli(h, "identity", "show")).stdout).toContain("skcapstone")
  })

  it("without a private key gets a new key pair made for its URI", async () => {
    const h = newHome()
    writeSkcapstoneIdentity(h, { name: "opus", email: "opus@skworld.io" })

    ok(await cli(h, "init"))
    const shown = await identity(h)
    expect(shown.uri).toBe("capauth:opus@skworld.io")
    expect(shown.key_uri).toBe("capauth:opus@skworld.io")
    expect(existsSync(privateKeyFile(h))).toBe(true)
    const key = await openpgp.readPrivateKey({ armoredKey: readFileSync(privateKeyFile(h), "utf8") })
    expect(key.getFingerprint()).toBe(shown.fingerprint)
    expect(key.getUserIDs().join()).toContain("<opus@skworld.io>")
  })

  it("without a private key: the new key is reported as made by skchat, not as the skcapstone identity's", async () => {
    // KeyRecord.source is "skcapstone" only "when the skcapstone identity's own key is used in place".
    const h = newHome()
    writeSkcapstoneIdentity(h, { name: "opus", email: "opus@skworld.io" })
    ok(await cli(h, "init"))
    expect((await identity(h)).key_source).toBe("generated")
    expect(ok(await cli(h, "identity", "show")).stdout).toMatch(/key:\s+generated by skchat/)
  })
})

describe("skchat identity export / fingerprint", () => {
  it("exports the armored public key with the fingerprint identity show reports", async () => {
    const h = newHome()
    await init(h, "alice")
    const exported = ok(await cli(h, "identity", "export")).stdout
    expect(exported).toContain("-----BEGIN PGP PUBLIC KEY BLOCK-----")
    expect(exported).not.toContain("PRIVATE KEY")
    const key = await openpgp.readKey({ armoredKey: exported })
    expect(key.isPrivate()).toBe(false)
    expect(key.getFingerprint()).toBe((await identity(h)).fingerprint)
  })

  it("prints the fingerprint and the key's 30-digit safety number", async () => {
    const h = newHome()
    await init(h, "alice")
    const { fingerprint } = await identity(h)
    expect(fingerprint).toMatch(FINGERPRINT)
    const out = ok(await cli(h, "identity", "fingerprint")).stdout
    expect(out.replace(/\s/g, "").toLowerCase()).toContain(fingerprint)
    const number = /safety number:\s*(.+)/.exec(out)?.[1]?.trim()
    expect(number).toMatch(KEY_SAFETY_NUMBER)
  })

  it("gives two people who exchanged keys the same 60-digit safety number", async () => {
    const { alice, bob } = await aliceAndBob()
    const atAlice = pairNumberIn(ok(await cli(alice, "identity", "fingerprint", "bob")).stdout)
    const atBob = pairNumberIn(ok(await cli(bob, "identity", "fingerprint", "alice")).stdout)
    expect(atAlice).toMatch(PAIR_SAFETY_NUMBER)
    expect(atAlice).toBe(atBob)
  })
})

describe("skchat peers add", () => {
  it("writes the skcapstone peer file, with the fingerprint computed from the key", async () => {
    const alice = newHome()
    const bob = newHome()
    await Promise.all([init(alice, "alice"), init(bob, "bob")])
    const bobFingerprint = (await identity(bob)).fingerprint

    ok(await cli(alice, "peers", "add", "bob", "--key", await handKey(bob, alice, "bob.asc")))
    const peer = JSON.parse(readFileSync(peerFile(alice, "bob"), "utf8")) as Record<string, unknown>
    expect(peer).toMatchObject({
      name: "bob",
      entity_type: "human",
      handle: "bob",
      email: "bob@skworld.io",
      // The URI comes from the key's own user ID (bob <bob@skworld.io>).
      contact_uris: ["capauth:bob@skworld.io"]
    })
    expect(String(peer["fingerprint"]).toLowerCase()).toBe(bobFingerprint)
    expect(String(peer["public_key"])).toContain("-----BEGIN PGP PUBLIC KEY BLOCK-----")
    expect((await openpgp.readKey({ armoredKey: String(peer["public_key"]) })).getFingerprint()).toBe(bobFingerprint)
    expect(Number.isNaN(Date.parse(String(peer["added_at"])))).toBe(false)
    expect(typeof peer["source"]).toBe("string")
  })

  it("takes the URI from --uri when given", async () => {
    const h = newHome()
    await init(h, "alice")
    const bob = await keyPairFor("bob")
    const file = writeHomeFile(h, "bob.asc", bob.armoredPublic)
    ok(await cli(h, "peers", "add", "bob", "--key", file, "--uri", "capauth:robert@example.org"))
    const peer = JSON.parse(readFileSync(peerFile(h, "bob"), "utf8")) as Record<string, unknown>
    expect(peer["contact_uris"]).toEqual(["capauth:robert@example.org"])
    expect(peer["email"]).toBe("robert@example.org")
  })

  it("refuses a file that is not a public key, writing nothing", async () => {
    const h = newHome()
    await init(h, "alice")
    const garbage = writeHomeFile(h, "garbage.asc", "this is not a key\n")
    oneLineError(await cli(h, "peers", "add", "bob", "--key", garbage))
    expect(existsSync(peerFile(h, "bob"))).toBe(false)

    // A private key is refused too: it must never be copied into a registry other tools read.
    const secret = writeHomeFile(h, "bob-private.asc", (await keyPairFor("bob")).armoredPrivate)
    expect(oneLineError(await cli(h, "peers", "add", "bob", "--key", secret))).toMatch(/private key/i)
    expect(existsSync(peerFile(h, "bob"))).toBe(false)
  })

  it("refuses a name that could escape the peers directory", async () => {
    const h = newHome()
    await init(h, "alice")
    const file = writeHomeFile(h, "bob.asc", (await keyPairFor("bob")).armoredPublic)
    oneLineError(await cli(h, "peers", "add", "../x", "--key", file))
    expect(existsSync(join(h.home, ".skcapstone", "x.json"))).toBe(false)
    expect(existsSync(join(h.home, ".skcapstone", "peers"))
      ? readdirSync(join(h.home, ".skcapstone", "peers")).filter((f) => !f.startsWith("."))
      : []).toEqual([])
  })
})

describe("a peer's key changing", () => {
  /** A second key for the same person (same user ID), as if bob had lost his key and made another. */
  const bobsNewKey = () => generateKeyPair({ name: "bob", email: "bob@skworld.io" }, undefined)

  it("is refused by peers add until the peer is removed and re-added", async () => {
    const h = newHome()
    await init(h, "alice")
    const bobFile = writeHomeFile(h, "bob.asc", (await keyPairFor("bob")).armoredPublic)
    ok(await cli(h, "peers", "add", "bob", "--key", bobFile))
    const before = readFileSync(peerFile(h, "bob"))
    const bob2 = await bobsNewKey()
    const bob2File = writeHomeFile(h, "bob2.asc", bob2.armoredPublic)

    const line = oneLineError(await cli(h, "peers", "add", "bob", "--key", bob2File))
    expect(line).toMatch(/key of bob changed/)
    expect(line).toContain("peers remove")
    expect(line).toContain("peers add")
    expect(readFileSync(peerFile(h, "bob")).equals(before)).toBe(true)

    ok(await cli(h, "peers", "remove", "bob"))
    expect(existsSync(peerFile(h, "bob"))).toBe(false)
    ok(await cli(h, "peers", "add", "bob", "--key", bob2File))
    const peer = JSON.parse(readFileSync(peerFile(h, "bob"), "utf8")) as { fingerprint: string }
    expect(peer.fingerprint.toLowerCase()).toBe(bob2.fingerprint)
  })

  it("stops send once the key was pinned by a first message", async () => {
    const h = newHome()
    await init(h, "alice")
    // A peer file written by another tool: its key is pinned when alice first sends to bob.
    await registerPeer(h, "bob")
    ok(await cli(h, "send", "bob", "first"))
    expect(ok(await cli(h, "peers", "show", "bob")).stdout).toMatch(/key:\s+pinned/)

    // Someone swaps the key in the shared registry.
    const bob2 = await bobsNewKey()
    writePeer(h.home, "bob", {
      name: "bob",
      fingerprint: bob2.fingerprint.toUpperCase(),
      public_key: bob2.armoredPublic,
      entity_type: "human",
      email: "bob@skworld.io",
      contact_uris: ["capauth:bob@skworld.io"]
    })
    const line = oneLineError(await cli(h, "send", "bob", "second"))
    expect(line).toMatch(/key of bob changed/)
    expect((await history(h, "bob")).map((m) => m.content)).toEqual(["first"])
  })
})

describe("skchat peers show / list / remove", () => {
  it("shows a peer's fingerprint, pinned state and safety number; lists it", async () => {
    const { alice, bob } = await aliceAndBob()
    const bobFingerprint = (await identity(bob)).fingerprint
    const out = ok(await cli(alice, "peers", "show", "bob")).stdout
    expect(out.replace(/\s/g, "").toLowerCase()).toContain(bobFingerprint)
    expect(out).toMatch(/key:\s+pinned/)
    const number = /safety number:\s*(.+)/.exec(out)?.[1]?.trim()
    expect(number).toMatch(PAIR_SAFETY_NUMBER)
    // The same number `identity fingerprint bob` prints.
    expect(number).toBe(pairNumberIn(ok(await cli(alice, "identity", "fingerprint", "bob")).stdout))

    const list = ok(await cli(alice, "peers", "list")).stdout
    expect(list).toMatch(/^bob\s+capauth:bob@skworld\.io/m)
  })

  it("fails cleanly removing a peer that does not exist", async () => {
    const h = newHome()
    await init(h, "alice")
    expect(oneLineError(await cli(h, "peers", "remove", "nobody"))).toContain("nobody")
  })
})

describe("skchat send, failing closed", () => {
  const ZED = "capauth:zed@nowhere.org"

  it("refuses to send unencrypted to someone without a key, unless --plaintext says so", async () => {
    const h = newHome()
    await init(h, "alice")
    const line = oneLineError(await cli(h, "send", ZED, "hi"))
    expect(line).toContain("peers add")
    expect(line).toContain("--plaintext")
    expect(await history(h, ZED)).toEqual([])

    const id = ok(await cli(h, "send", ZED, "hi", "--plaintext")).stdout.trim()
    expect(id).toMatch(UUID7)
    const row = ok(await cli(h, "history", ZED)).stdout.split("\n").find((l) => l.includes(id))
    expect(row).toBeDefined()
    expect(row).toContain("PLAINTEXT")
    expect((await history(h, ZED)).map((m) => [m.id, m.encrypted])).toEqual([[id, false]])
  })

  it("sends encrypted to a peer added with its key", async () => {
    const { alice } = await aliceAndBob()
    const id = ok(await cli(alice, "send", "bob", "hi")).stdout.trim()
    expect(id).toMatch(UUID7)

    const sent = okJson<MessageJson & { envelope_id: string }>(await cli(alice, "send", "bob", "again", "--json"))
    expect(typeof sent.envelope_id).toBe("string")
    expect(sent.envelope_id).not.toBe("")
    expect(sent.encrypted).toBe(true)

    const rows = ok(await cli(alice, "history", "bob")).stdout.split("\n").filter((l) => l.includes(id))
    expect(rows).toHaveLength(1)
    expect(rows[0]).not.toContain("PLAINTEXT")
    expect(rows[0]).not.toContain("UNVERIFIED")
  })

  it("quarantine is empty on a fresh store", async () => {
    const h = newHome()
    await init(h, "alice")
    expect(ok(await cli(h, "quarantine")).stdout.trim()).toBe("No envelopes were refused.")
  })
})

describe("init when config.yml cannot be updated", () => {
  it("stops before any key exists, and --force then keeps the old identity in place", async () => {
    const h = newHome()
    mkdirSync(h.dataDir, { recursive: true })
    const broken = "skchat:\n  identity: [unclosed\n"
    writeFileSync(join(h.dataDir, "config.yml"), broken)
    expect(oneLineError(await cli(h, "init", "--name", "alice"))).toContain("config.yml")
    expect(existsSync(keysDir(h))).toBe(false)

    // With a good config an identity is made; with the config broken again, --force changes nothing.
    writeFileSync(join(h.dataDir, "config.yml"), "skchat: {}\n")
    await init(h, "alice")
    const before = readFileSync(privateKeyFile(h))
    writeFileSync(join(h.dataDir, "config.yml"), broken)
    expect(oneLineError(await cli(h, "init", "--name", "alice", "--force"))).toContain("config.yml")
    expect(readFileSync(privateKeyFile(h)).equals(before)).toBe(true)
    expect(readdirSync(keysDir(h)).filter((f) => f.includes("replaced"))).toEqual([])
  })
})
