import type { MessageView, ThreadView } from "../src/projections/message-queries.js"
import Database from "better-sqlite3"
import { mkdirSync, rmSync, writeFileSync } from "node:fs"
import { existsSync } from "node:fs"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { keyPairFor, makeCliHome, registerPeer } from "./support/identities.js"
import { type CliResult, filesContaining, runCli, type TempHome, writePeer } from "./support/temp-home.js"

/**
 * Every CLI command, run as a real child process (the bundled bin/skchat.cjs) in a throw-away HOME.
 * Run `node scripts/build.mjs` first: the tests exercise what users run, not the sources.
 */

const UUID7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
const ME = "capauth:local@skchat"
const LUMINA = "capauth:lumina@skworld.io"

const WIRE_FIELDS = [
  "id",
  "sender",
  "recipient",
  "content",
  "content_type",
  "timestamp",
  "thread_id",
  "reply_to_id",
  "ttl",
  "delivery_status"
] as const

/** What `--json` prints for a message: the library's own view type (the CLI prints exactly that). */
type MessageJson = MessageView

type ThreadJson = ThreadView

let t: TempHome

beforeEach(async () => {
  // A key pair for the default identity (config.yml stays untouched: the identity tests write their own)
  // and registered keys for the URIs these tests send to, so every send is sealed for real.
  t = await makeCliHome(["capauth:x@y", "capauth:z@y"])
})

afterEach(() => {
  t.remove()
})

const cli = (...args: Array<string>): Promise<CliResult> => runCli(args, t.env)
const cliEnv = (extra: NodeJS.ProcessEnv, ...args: Array<string>): Promise<CliResult> => runCli(args, t.env, extra)

/** A successful command: exit 0, nothing on stderr that looks like a crash. */
const ok = (r: CliResult): CliResult => {
  expect(r.stderr, `stderr of a successful command`).not.toContain("    at ")
  expect(r.code, `exit code (stderr: ${r.stderr})`).toBe(0)
  return r
}

const okJson = <A>(r: CliResult): A => JSON.parse(ok(r).stdout) as A

/** The error contract: non-zero exit, exactly one line on stderr starting "skchat:", no stack trace. */
const oneLineError = (r: CliResult): string => {
  expect(r.code, `exit code (stdout: ${r.stdout})`).not.toBe(0)
  expect(r.stderr).not.toContain("    at ")
  const lines = r.stderr.trimEnd().split("\n")
  expect(lines, `stderr: ${r.stderr}`).toHaveLength(1)
  expect(lines[0]).toMatch(/^skchat: \S/)
  return lines[0]!
}

const sendId = async (...args: Array<string>): Promise<string> => {
  const r = ok(await cli("send", ...args))
  const id = r.stdout.trim()
  expect(id).toMatch(UUID7)
  return id
}

const writeLumina = async () => {
  const keys = await keyPairFor("lumina")
  writePeer(t.home, "lumina", {
    name: "lumina",
    handle: "lumi",
    email: "lumina@skworld.io",
    fingerprint: keys.fingerprint.toUpperCase(),
    entity_type: "agent",
    contact_uris: [LUMINA],
    public_key: keys.armoredPublic
  })
}

let seq = 0
/** A deterministic UUIDv7-shaped id for seeded messages. */
const seededId = () => {
  seq += 1
  return `01900000-0000-7000-8000-${seq.toString(16).padStart(12, "0")}`
}

interface Seed {
  readonly id?: string
  readonly sender?: string
  readonly recipient?: string
  readonly content: string
  readonly timestamp: string
  readonly thread_id?: string | null
}

/** Stores received messages through the library API (the same store the CLI reads). */
const seed = async (messages: ReadonlyArray<Seed>): Promise<Array<string>> => {
  const { openHistory } = await import("../src/index.js")
  const h = await openHistory({ home: t.home, dataDir: t.dataDir, identity: ME })
  const ids: Array<string> = []
  try {
    for (const m of messages) {
      ids.push(
        await h.storeMessage({
          id: m.id ?? seededId(),
          sender: m.sender ?? LUMINA,
          recipient: m.recipient ?? ME,
          content: m.content,
          timestamp: m.timestamp,
          thread_id: m.thread_id ?? null
        })
      )
    }
  } finally {
    await h.close()
  }
  return ids
}

const isNewestFirst = (rows: ReadonlyArray<{ readonly timestamp: string }>) =>
  rows.every((r, i) => i === 0 || Date.parse(rows[i - 1]!.timestamp) >= Date.parse(r.timestamp))

describe("skchat --help", () => {
  it("exits 0 and lists every subcommand", async () => {
    const r = ok(await cli("--help"))
    for (const sub of ["send", "inbox", "history", "threads", "search", "whoami", "peers", "admin"]) {
      expect(r.stdout).toContain(sub)
    }
  })

  it("admin --help lists rebuild and verify, peers --help lists list", async () => {
    const admin = ok(await cli("admin", "--help"))
    expect(admin.stdout).toContain("rebuild")
    expect(admin.stdout).toContain("verify")
    const peers = ok(await cli("peers", "--help"))
    expect(peers.stdout).toContain("list")
  })

  it("honours NO_COLOR: no ANSI escapes in help output", async () => {
    const r = ok(await cli("--help"))
    expect(r.stdout).not.toContain("\x1b[")
  })
})

describe("skchat send", () => {
  it("to a capauth: URI prints a UUIDv7 id and stores the message", async () => {
    const r = ok(await cli("send", "capauth:x@y", "hello x"))
    expect(r.stdout.trim()).toMatch(UUID7)
    expect(r.stdout.trim().split("\n")).toHaveLength(1)
    const history = okJson<Array<MessageJson>>(await cli("history", "capauth:x@y", "--json"))
    expect(history).toHaveLength(1)
    expect(history[0]).toMatchObject({
      id: r.stdout.trim(),
      sender: ME,
      recipient: "capauth:x@y",
      content: "hello x",
      content_type: "text/plain",
      direction: "out",
      delivery_status: "pending"
    })
  })

  it("to a peer name resolves through ~/.skcapstone/peers", async () => {
    await writeLumina()
    const id = await sendId("lumina", "hi lumina")
    const history = okJson<Array<MessageJson>>(await cli("history", "lumina", "--json"))
    expect(history.map((m) => m.id)).toEqual([id])
    expect(history[0]!.recipient).toBe(LUMINA)
    expect(history[0]!.content).toBe("hi lumina")
  })

  it("to a peer's handle resolves to the same URI", async () => {
    await writeLumina()
    const id = await sendId("lumi", "by handle")
    const history = okJson<Array<MessageJson>>(await cli("history", LUMINA, "--json"))
    expect(history.map((m) => m.id)).toEqual([id])
    expect(history[0]!.recipient).toBe(LUMINA)
  })

  it("--thread, --reply-to, --ttl and --content-type markdown are stored; --json prints the stored message", async () => {
    const first = await sendId("capauth:x@y", "first")
    const r = ok(
      await cli(
        "send",
        "capauth:x@y",
        "**bold** reply",
        "--thread",
        "ops",
        "--reply-to",
        first,
        "--ttl",
        "3600",
        "--content-type",
        "markdown",
        "--json"
      )
    )
    const printed = JSON.parse(r.stdout) as MessageJson
    expect(printed.id).toMatch(UUID7)
    expect(printed).toMatchObject({
      sender: ME,
      recipient: "capauth:x@y",
      content: "**bold** reply",
      content_type: "text/markdown",
      thread_id: "ops",
      reply_to_id: first,
      ttl: 3600,
      delivery_status: "pending"
    })
    const stored = okJson<Array<MessageJson>>(await cli("history", "capauth:x@y", "--json"))
    expect(stored.map((m) => m.id)).toEqual([printed.id, first])
    for (const field of WIRE_FIELDS) expect(stored[0]![field]).toEqual(printed[field])
  })

  it("short aliases -t and -r work", async () => {
    const first = await sendId("capauth:x@y", "root")
    const reply = await sendId("capauth:x@y", "child", "-t", "t-short", "-r", first)
    const stored = okJson<Array<MessageJson>>(await cli("history", "capauth:x@y", "--json"))
    const child = stored.find((m) => m.id === reply)
    expect(child).toMatchObject({ thread_id: "t-short", reply_to_id: first, ttl: null })
  })

  it("defaults to content_type text/plain, no thread, no ttl", async () => {
    const r = ok(await cli("send", "capauth:x@y", "plain text", "--json"))
    const m = JSON.parse(r.stdout) as MessageJson
    expect(m).toMatchObject({ content_type: "text/plain", thread_id: null, reply_to_id: null, ttl: null })
  })
})

describe("unknown recipient", () => {
  it("is a one-line error naming close matches, and nothing is stored", async () => {
    await writeLumina()
    const r = await cli("send", "lumnia", "unknownrecipientpayload")
    const line = oneLineError(r)
    expect(line).toContain("lumnia")
    expect(line).toContain("lumina")
    expect(r.stdout).toBe("")
    expect(okJson<Array<unknown>>(await cli("history", "lumina", "--json"))).toEqual([])
    expect(okJson<Array<unknown>>(await cli("history", "lumnia".replace("nia", "ina"), "-n", "5", "--json"))).toEqual([])
    expect(okJson<Array<unknown>>(await cli("inbox", "--json"))).toEqual([])
    expect(okJson<Array<unknown>>(await cli("search", "unknownrecipientpayload", "--json"))).toEqual([])
    if (existsSync(t.dataDir)) expect(filesContaining(t.dataDir, "unknownrecipientpayload")).toEqual([])
  })

  it("with no peers at all is still a one-line error", async () => {
    const line = oneLineError(await cli("send", "nobody", "hi"))
    expect(line).toContain("nobody")
  })

  it("history with an unknown name is a one-line error too", async () => {
    await writeLumina()
    const line = oneLineError(await cli("history", "lumnia"))
    expect(line).toContain("lumina")
  })
})

describe("bad input", () => {
  /** Each bad command must fail cleanly and leave the earlier message in place. */
  const stillThere = async (id: string) => {
    const history = okJson<Array<MessageJson>>(await cli("history", "capauth:x@y", "--json"))
    expect(history.map((m) => m.id)).toEqual([id])
    expect(ok(await cli("admin", "verify")).stdout).toContain("ok")
  }

  it("empty message", async () => {
    const id = await sendId("capauth:x@y", "keep me")
    const line = oneLineError(await cli("send", "capauth:x@y", ""))
    expect(line).toMatch(/content|empty/i)
    await stillThere(id)
  })

  it("whitespace-only recipient", async () => {
    const id = await sendId("capauth:x@y", "keep me")
    oneLineError(await cli("send", "   ", "hi"))
    await stillThere(id)
  })

  it("--ttl 0 and --ttl -5", async () => {
    const id = await sendId("capauth:x@y", "keep me")
    expect(oneLineError(await cli("send", "capauth:x@y", "zero ttl", "--ttl", "0"))).toContain("ttl")
    expect(oneLineError(await cli("send", "capauth:x@y", "negative ttl", "--ttl=-5"))).toContain("ttl")
    expect((await cli("send", "capauth:x@y", "negative ttl", "--ttl", "-5")).code).not.toBe(0)
    await stillThere(id)
  })

  it("--ttl that is not a whole number", async () => {
    const id = await sendId("capauth:x@y", "keep me")
    expect((await cli("send", "capauth:x@y", "fractional ttl", "--ttl", "1.5")).code).not.toBe(0)
    expect((await cli("send", "capauth:x@y", "word ttl", "--ttl", "soon")).code).not.toBe(0)
    await stillThere(id)
  })

  it("--limit 0 on every listing", async () => {
    const id = await sendId("capauth:x@y", "keep me")
    expect(oneLineError(await cli("inbox", "--limit", "0"))).toContain("limit")
    expect(oneLineError(await cli("history", "capauth:x@y", "-n", "0"))).toContain("limit")
    expect(oneLineError(await cli("threads", "--limit", "0"))).toContain("limit")
    expect(oneLineError(await cli("search", "keep", "-n", "0"))).toContain("limit")
    expect(oneLineError(await cli("inbox", "--limit=-3"))).toContain("limit")
    await stillThere(id)
  })

  it("an invalid thread id is a one-line error", async () => {
    const id = await sendId("capauth:x@y", "keep me")
    for (const bad of ["../etc", "a/b", "x y", "a".repeat(300)]) {
      const line = oneLineError(await cli("send", "capauth:x@y", "bad thread", "--thread", bad))
      expect(line).toMatch(/thread/i)
    }
    await stillThere(id)
  })

  it("an invalid thread id error says what is wrong once, without schema internals", async () => {
    const line = oneLineError(await cli("send", "capauth:x@y", "bad thread", "-t", "../etc"))
    expect(line).toContain("thread_id")
    expect(line).not.toMatch(/Expected (null|undefined)/)
  })

  it("an unknown subcommand or missing argument exits non-zero without a stack trace", async () => {
    const unknown = await cli("frobnicate")
    expect(unknown.code).not.toBe(0)
    expect(unknown.stderr).not.toContain("    at ")
    const missing = await cli("send", "capauth:x@y")
    expect(missing.code).not.toBe(0)
    expect(missing.stderr).not.toContain("    at ")
    const badType = await cli("send", "capauth:x@y", "hi", "--content-type", "html")
    expect(badType.code).not.toBe(0)
    expect(badType.stderr).not.toContain("    at ")
  })
})

describe("skchat inbox", () => {
  const seedInbox = () =>
    seed([
      { content: "hello from lumina", timestamp: "2025-11-24T22:54:46.838490Z", thread_id: "t1" },
      { content: "second note from lumina", timestamp: "2025-11-24T23:10:00Z", thread_id: "t2" },
      { content: "the newest one", timestamp: "2025-11-25T08:00:00.5Z", thread_id: "t1" },
      { content: "oldest of all", timestamp: "2025-11-01T00:00:00Z" },
      { sender: "capauth:bob@example.org", content: "bob says hi", timestamp: "2025-11-24T23:00:00+01:00" }
    ])

  it("--json lists received messages only, newest first, with the wire field names", async () => {
    const ids = await seedInbox()
    await sendId("capauth:x@y", "an outgoing message")
    const rows = okJson<Array<MessageJson>>(await cli("inbox", "--json"))
    expect(rows).toHaveLength(5)
    for (const row of rows) {
      for (const field of WIRE_FIELDS) expect(row).toHaveProperty(field)
      expect(row.direction).toBe("in")
      expect(row.recipient).toBe(ME)
      expect(["pending", "sent", "delivered", "read", "failed"]).toContain(row.delivery_status)
    }
    expect(rows.map((r) => r.content)).not.toContain("an outgoing message")
    expect(isNewestFirst(rows)).toBe(true)
    // +01:00 makes bob's 23:00 local time 22:00Z, older than lumina's 22:54Z.
    expect(rows.map((r) => r.id)).toEqual([ids[2], ids[1], ids[0], ids[4], ids[3]])
    expect(rows[2]).toMatchObject({
      id: ids[0],
      sender: LUMINA,
      recipient: ME,
      content: "hello from lumina",
      content_type: "text/plain",
      thread_id: "t1",
      reply_to_id: null,
      ttl: null
    })
  })

  it("human output is a table with TIME, WITH and MESSAGE and the content", async () => {
    await seedInbox()
    const r = ok(await cliEnv({ COLUMNS: "200" }, "inbox"))
    const lines = r.stdout.trimEnd().split("\n")
    expect(lines[0]).toContain("TIME")
    expect(lines[0]).toContain("WITH")
    expect(lines[0]).toContain("MESSAGE")
    expect(lines).toHaveLength(6)
    expect(r.stdout).toContain("hello from lumina")
    expect(r.stdout).toContain(LUMINA)
    expect(lines[1]).toContain("the newest one")
    expect(r.stdout).not.toContain("\x1b[")
  })

  it("--limit/-n keeps the newest N", async () => {
    const ids = await seedInbox()
    const two = okJson<Array<MessageJson>>(await cli("inbox", "--limit", "2", "--json"))
    expect(two.map((r) => r.id)).toEqual([ids[2], ids[1]])
    const one = okJson<Array<MessageJson>>(await cli("inbox", "-n", "1", "--json"))
    expect(one.map((r) => r.id)).toEqual([ids[2]])
    const human = ok(await cli("inbox", "-n", "1"))
    expect(human.stdout.trimEnd().split("\n")).toHaveLength(2)
  })

  it("--thread/-t filters by thread", async () => {
    const ids = await seedInbox()
    const t1 = okJson<Array<MessageJson>>(await cli("inbox", "--thread", "t1", "--json"))
    expect(t1.map((r) => r.id)).toEqual([ids[2], ids[0]])
    const t2 = okJson<Array<MessageJson>>(await cli("inbox", "-t", "t2", "--json"))
    expect(t2.map((r) => r.id)).toEqual([ids[1]])
    const none = okJson<Array<MessageJson>>(await cli("inbox", "-t", "no-such-thread", "--json"))
    expect(none).toEqual([])
  })

  it("an empty inbox says so (and --json is [])", async () => {
    const r = ok(await cli("inbox"))
    expect(r.stdout.trim()).toBe("No messages.")
    expect(okJson<Array<unknown>>(await cli("inbox", "--json"))).toEqual([])
  })
})

describe("skchat history", () => {
  it("shows both directions, newest first, by name and by URI", async () => {
    await writeLumina()
    const [inOld, inNew] = await seed([
      { content: "lumina wrote first", timestamp: "2025-01-01T10:00:00Z" },
      { content: "lumina wrote again", timestamp: "2025-01-02T10:00:00Z" },
      { sender: "capauth:bob@example.org", content: "bob is elsewhere", timestamp: "2025-01-03T10:00:00Z" }
    ])
    const out1 = await sendId("lumina", "my first reply")
    const out2 = await sendId(LUMINA, "my second reply")
    await sendId("capauth:x@y", "not for lumina")

    // The first listing shows lumina's messages as delivered and marks them read (a read receipt is owed).
    const firstLook = okJson<Array<MessageJson>>(await cli("history", "lumina", "--json"))
    expect(firstLook.filter((m) => m.direction === "in").map((m) => m.delivery_status)).toEqual(["delivered", "delivered"])
    const byName = okJson<Array<MessageJson>>(await cli("history", "lumina", "--json"))
    expect(byName.filter((m) => m.direction === "in").map((m) => m.delivery_status)).toEqual(["read", "read"])
    expect(byName.map((m) => m.direction).sort()).toEqual(["in", "in", "out", "out"])
    expect(new Set(byName.map((m) => m.id))).toEqual(new Set([inOld, inNew, out1, out2]))
    expect(isNewestFirst(byName)).toBe(true)
    expect(byName.slice(2).map((m) => m.id)).toEqual([inNew, inOld])
    for (const m of byName) {
      expect(m.sender === LUMINA || m.recipient === LUMINA).toBe(true)
      for (const field of WIRE_FIELDS) expect(m).toHaveProperty(field)
    }

    const byUri = okJson<Array<MessageJson>>(await cli("history", LUMINA, "--json"))
    expect(byUri).toEqual(byName)
    const byHandle = okJson<Array<MessageJson>>(await cli("history", "lumi", "--json"))
    expect(byHandle).toEqual(byName)

    const limited = okJson<Array<MessageJson>>(await cli("history", "lumina", "-n", "3", "--json"))
    expect(limited).toEqual(byName.slice(0, 3))
    const limitedLong = okJson<Array<MessageJson>>(await cli("history", "lumina", "--limit", "1", "--json"))
    expect(limitedLong).toEqual(byName.slice(0, 1))

    const human = ok(await cliEnv({ COLUMNS: "200" }, "history", "lumina"))
    const lines = human.stdout.trimEnd().split("\n")
    expect(lines[0]).toContain("TIME")
    expect(lines[0]).toContain("MESSAGE")
    expect(lines).toHaveLength(5)
    expect(human.stdout).toContain("lumina wrote first")
    expect(human.stdout).toContain("my second reply")
    expect(human.stdout).not.toContain("bob is elsewhere")
    expect(human.stdout).not.toContain("not for lumina")
  })

  it("with nobody says so", async () => {
    const r = ok(await cli("history", "capauth:nobody@nowhere"))
    expect(r.stdout).toContain("No messages")
    expect(okJson<Array<unknown>>(await cli("history", "capauth:nobody@nowhere", "--json"))).toEqual([])
  })
})

describe("skchat threads", () => {
  it("lists a thread created by send -t, in JSON and as a table", async () => {
    await sendId("capauth:x@y", "first in ops", "-t", "ops")
    await sendId("capauth:x@y", "second in ops", "--thread", "ops")
    await sendId("capauth:z@y", "other thread", "-t", "other")
    const rows = okJson<Array<ThreadJson>>(await cli("threads", "--json"))
    const ops = rows.find((r) => r.id === "ops")
    expect(ops).toBeDefined()
    expect(typeof ops!.title).toBe("string")
    expect(ops!.participants).toEqual(expect.arrayContaining([ME, "capauth:x@y"]))
    expect(ops!.message_count).toBe(2)
    expect(Number.isNaN(Date.parse(ops!.last_activity))).toBe(false)
    expect(rows.map((r) => r.id).sort()).toEqual(["ops", "other"])
    expect(rows[0]!.id).toBe("other")

    const limited = okJson<Array<ThreadJson>>(await cli("threads", "-n", "1", "--json"))
    expect(limited.map((r) => r.id)).toEqual(["other"])

    const human = ok(await cli("threads"))
    const lines = human.stdout.trimEnd().split("\n")
    expect(lines[0]).toContain("THREAD")
    expect(lines).toHaveLength(3)
    expect(human.stdout).toContain("ops")
    expect(human.stdout).toContain("capauth:x@y")
  })

  it("received messages count toward their thread", async () => {
    await seed([
      { content: "in t9", timestamp: "2025-03-01T00:00:00Z", thread_id: "t9" },
      { content: "in t9 again", timestamp: "2025-03-02T00:00:00Z", thread_id: "t9" }
    ])
    const rows = okJson<Array<ThreadJson>>(await cli("threads", "--json"))
    expect(rows).toHaveLength(1)
    expect(rows[0]).toMatchObject({ id: "t9", message_count: 2 })
    expect(rows[0]!.participants).toEqual(expect.arrayContaining([LUMINA, ME]))
  })

  it("with none says so", async () => {
    expect(ok(await cli("threads")).stdout.trim()).toBe("No threads.")
    expect(okJson<Array<unknown>>(await cli("threads", "--json"))).toEqual([])
  })
})

describe("skchat search", () => {
  it("finds messages by word, --json, -n", async () => {
    const ids = await seed([
      { content: "deploy started on staging", timestamp: "2025-05-01T00:00:00Z" },
      { content: "the deploy finished", timestamp: "2025-05-02T00:00:00Z" },
      { content: "lunch?", timestamp: "2025-05-03T00:00:00Z" }
    ])
    const sent = await sendId("capauth:x@y", "deploy to production now")

    const all = okJson<Array<MessageJson>>(await cli("search", "deploy", "--json"))
    expect(new Set(all.map((m) => m.id))).toEqual(new Set([ids[0], ids[1], sent]))
    for (const m of all) {
      expect(m.content).toContain("deploy")
      for (const field of WIRE_FIELDS) expect(m).toHaveProperty(field)
    }
    expect(isNewestFirst(all)).toBe(true)

    expect(okJson<Array<MessageJson>>(await cli("search", "deploy", "-n", "2", "--json"))).toHaveLength(2)
    expect(okJson<Array<MessageJson>>(await cli("search", "deploy", "--limit", "1", "--json"))).toHaveLength(1)

    const twoWords = okJson<Array<MessageJson>>(await cli("search", "deploy staging", "--json"))
    expect(twoWords.map((m) => m.id)).toEqual([ids[0]])

    const human = ok(await cliEnv({ COLUMNS: "200" }, "search", "lunch"))
    expect(human.stdout.split("\n")[0]).toContain("MESSAGE")
    expect(human.stdout).toContain("lunch?")

    const none = ok(await cli("search", "xylophone"))
    expect(none.stdout.trim()).toBe("No matches.")
    expect(okJson<Array<unknown>>(await cli("search", "xylophone", "--json"))).toEqual([])
  })

  const HOSTILE = [
    "\"",
    "'",
    "*",
    "NEAR",
    "NEAR(a b)",
    "-",
    "a - b",
    "(",
    ")))",
    "a OR",
    "AND",
    "\"unbalanced",
    "col:value",
    "^",
    "{}",
    "%",
    "\\",
    "🦄 emoji 🎉",
    "x".repeat(10_000),
    "deploy\" OR \"1\"=\"1",
    "'; DROP TABLE messages; --",
    "content:deploy",
    "NOT deploy",
    "deploy*",
    "*deploy"
  ]

  it("hostile query strings return results or nothing, never an error", async () => {
    await seed([
      { content: "deploy a - b NEAR (a b) col:value 🦄 emoji 🎉 100% done", timestamp: "2025-06-01T00:00:00Z" },
      { content: "AND OR NOT are words too", timestamp: "2025-06-02T00:00:00Z" }
    ])
    for (const q of HOSTILE) {
      const human = await cli("search", q)
      expect(human.code, `search ${JSON.stringify(q.slice(0, 40))}: ${human.stderr}`).toBe(0)
      expect(human.stderr).toBe("")
      expect(human.stdout).not.toMatch(/sql|fts5|syntax error/i)
      // Options first: see the separate test for a lone "-" followed by an option.
      const asJson = await cli("search", "--json", q)
      expect(asJson.code, `search --json ${JSON.stringify(q.slice(0, 40))}: ${asJson.stderr}`).toBe(0)
      const rows = JSON.parse(asJson.stdout) as Array<MessageJson>
      expect(Array.isArray(rows)).toBe(true)
      if (rows.length === 0) expect(human.stdout.trim()).toBe("No matches.")
    }
    // Words inside hostile strings still match as words.
    const emoji = okJson<Array<MessageJson>>(await cli("search", "🦄 emoji 🎉", "--json"))
    expect(emoji.map((m) => m.content)).toEqual([expect.stringContaining("emoji")])
    const colon = okJson<Array<MessageJson>>(await cli("search", "col:value", "--json"))
    expect(colon).toHaveLength(1)
    // The store survived all of that.
    expect(ok(await cli("admin", "verify")).stdout).toContain("ok")
    expect(okJson<Array<MessageJson>>(await cli("inbox", "--json"))).toHaveLength(2)
  })
})

describe("skchat search argument parsing", () => {
  // @effect/cli stops reading options at a value that starts with "-", so such a text goes after the
  // options (documented in the README). What matters is that the other order fails cleanly.
  it("a text starting with '-' followed by options is refused in one line and stores nothing", async () => {
    await sendId("capauth:x@y", "a - b")
    const refused = await cli("search", "-", "--json")
    expect(refused.code).toBe(2)
    expect(refused.stderr.trim().split("\n")).toHaveLength(1)
    expect(refused.stderr).toMatch(/^skchat: .*--json/)
    expect(okJson<Array<MessageJson>>(await cli("history", "capauth:x@y", "--json"))).toHaveLength(1)
    const optionsFirst = await cli("search", "--json", "-n", "5", "-")
    expect(optionsFirst.code, optionsFirst.stderr).toBe(0)
    expect(Array.isArray(JSON.parse(optionsFirst.stdout))).toBe(true)
  })

  it("a query starting with '-' is accepted after --", async () => {
    await sendId("capauth:x@y", "minus x")
    const r = await cli("search", "--json", "--", "-x")
    expect(r.code, r.stderr).toBe(0)
    expect(Array.isArray(JSON.parse(r.stdout))).toBe(true)
  })
})

describe("skchat whoami", () => {
  const identityFile = () => join(t.home, ".skcapstone", "identity", "identity.json")
  const writeIdentity = (text: string) => {
    mkdirSync(join(t.home, ".skcapstone", "identity"), { recursive: true })
    writeFileSync(identityFile(), text)
  }
  const writeConfig = (text: string) => {
    mkdirSync(t.dataDir, { recursive: true })
    writeFileSync(join(t.dataDir, "config.yml"), text)
  }

  it("falls back to capauth:local@skchat and says it is the default", async () => {
    const r = ok(await cli("whoami"))
    expect(r.stdout.split("\n")[0]).toBe(ME)
    expect(r.stdout).toMatch(/default/i)
    const j = okJson<{ uri: string; source: string }>(await cli("whoami", "--json"))
    expect(j.uri).toBe(ME)
    expect(j.source).toMatch(/default/i)
  })

  it("SKCHAT_IDENTITY wins over every file", async () => {
    writeIdentity(JSON.stringify({ name: "alice", email: "alice@example.org" }))
    writeConfig("skchat:\n  identity:\n    uri: capauth:cfg@host\n")
    const r = ok(await cliEnv({ SKCHAT_IDENTITY: "capauth:env@host" }, "whoami"))
    expect(r.stdout.split("\n")[0]).toBe("capauth:env@host")
    expect(r.stdout).toContain("SKCHAT_IDENTITY")
    const j = okJson<{ uri: string; source: string }>(
      await cliEnv({ SKCHAT_IDENTITY: "capauth:env@host" }, "whoami", "--json")
    )
    expect(j).toEqual({ uri: "capauth:env@host", source: expect.stringContaining("SKCHAT_IDENTITY") })
  })

  it("reads ~/.skcapstone/identity/identity.json (email wins), over config.yml", async () => {
    writeIdentity(JSON.stringify({ name: "alice", email: "alice@example.org", fingerprint: "F00D" }))
    writeConfig("skchat:\n  identity:\n    uri: capauth:cfg@host\n")
    const r = ok(await cli("whoami"))
    expect(r.stdout.split("\n")[0]).toBe("capauth:alice@example.org")
    expect(r.stdout).toContain(identityFile())
    const j = okJson<{ uri: string; source: string }>(await cli("whoami", "--json"))
    expect(j).toEqual({ uri: "capauth:alice@example.org", source: identityFile() })
  })

  it("identity.json with a name only gives capauth:<name>@skworld.io", async () => {
    writeIdentity(JSON.stringify({ name: "bob" }))
    const j = okJson<{ uri: string; source: string }>(await cli("whoami", "--json"))
    expect(j.uri).toBe("capauth:bob@skworld.io")
  })

  it("uses config.yml skchat.identity.uri when there is no identity.json", async () => {
    writeConfig("skchat:\n  identity:\n    uri: capauth:cfg@host\n")
    const r = ok(await cli("whoami"))
    expect(r.stdout.split("\n")[0]).toBe("capauth:cfg@host")
    expect(r.stdout).toContain("config.yml")
    const j = okJson<{ uri: string; source: string }>(await cli("whoami", "--json"))
    expect(j.uri).toBe("capauth:cfg@host")
    expect(j.source).toContain(join(t.dataDir, "config.yml"))
  })

  it("the resolved identity is the sender of sent messages", async () => {
    writeIdentity(JSON.stringify({ name: "alice", email: "alice@example.org" }))
    const r = ok(await cli("send", "capauth:x@y", "from alice", "--json"))
    expect((JSON.parse(r.stdout) as MessageJson).sender).toBe("capauth:alice@example.org")
  })

  it("a malformed identity.json is a one-line error", async () => {
    writeIdentity("{ \"name\": \"alice\", ")
    const line = oneLineError(await cli("whoami"))
    expect(line).toContain("identity.json")
    oneLineError(await cli("whoami", "--json"))
  })

  it("identity.json with neither name nor email is a one-line error", async () => {
    writeIdentity(JSON.stringify({ fingerprint: "F00D" }))
    expect(oneLineError(await cli("whoami"))).toContain("identity.json")
  })

  it("a malformed config.yml is a one-line error naming the file", async () => {
    writeConfig("skchat:\n  identity: [unclosed\n   uri: : :\n")
    expect(oneLineError(await cli("whoami"))).toContain("config.yml")
  })
})

describe("skchat peers list", () => {
  // These describe the registry's own content: start from an empty one (no test keys).
  beforeEach(() => rmSync(join(t.home, ".skcapstone", "peers"), { recursive: true, force: true }))

  it("shows a table and --json without the public key", async () => {
    await writeLumina()
    writePeer(t.home, "bob", { name: "bob", email: "bob@example.org", entity_type: "human", trust_level: "verified" })
    const r = ok(await cli("peers", "list"))
    const lines = r.stdout.trimEnd().split("\n")
    expect(lines[0]).toContain("NAME")
    expect(lines[0]).toContain("URI")
    expect(lines).toHaveLength(3)
    expect(r.stdout).toContain("lumina")
    expect(r.stdout).toContain(LUMINA)
    expect(r.stdout).toContain("capauth:bob@example.org")
    expect(r.stdout).not.toContain("BEGIN PGP")
    expect(r.stderr).toBe("")

    const peers = okJson<Array<Record<string, unknown>>>(await cli("peers", "list", "--json"))
    expect(peers).toHaveLength(2)
    const lumina = peers.find((p) => p["name"] === "lumina")!
    expect(lumina).toMatchObject({
      name: "lumina",
      handle: "lumi",
      email: "lumina@skworld.io",
      entity_type: "agent",
      contact_uris: [LUMINA],
      has_public_key: true
    })
    expect(lumina).not.toHaveProperty("public_key")
    const bob = peers.find((p) => p["name"] === "bob")!
    expect(bob).toMatchObject({ has_public_key: false })
    expect(bob).not.toHaveProperty("public_key")
    expect(JSON.stringify(peers)).not.toContain("BEGIN PGP")
  })

  it("reports an invalid peer file on stderr and still lists the valid ones", async () => {
    await writeLumina()
    const peersDir = join(t.home, ".skcapstone", "peers")
    writeFileSync(join(peersDir, "broken.json"), "{ not json")
    writeFileSync(join(peersDir, "nameless.json"), JSON.stringify({ handle: "ghost" }))
    for (const args of [["peers", "list"], ["peers", "list", "--json"]]) {
      const r = await cli(...args)
      expect(r.code).toBe(0)
      expect(r.stderr).toContain("broken.json")
      expect(r.stderr).toContain("nameless.json")
      expect(r.stderr).not.toContain("    at ")
      expect(r.stdout).toContain("lumina")
    }
    const peers = okJson<Array<Record<string, unknown>>>(await cli("peers", "list", "--json"))
    expect(peers.map((p) => p["name"])).toEqual(["lumina"])
    // A broken neighbour does not stop name resolution either.
    await sendId("lumina", "still reachable")
  })

  it("with no registry says so", async () => {
    const r = ok(await cli("peers", "list"))
    expect(r.stdout).toMatch(/No peers/)
    expect(okJson<Array<unknown>>(await cli("peers", "list", "--json"))).toEqual([])
  })
})

describe("skchat admin", () => {
  const listings = async () => ({
    inbox: ok(await cli("inbox", "-n", "100", "--json")).stdout,
    inboxT1: ok(await cli("inbox", "-t", "t1", "--json")).stdout,
    history: ok(await cli("history", "lumina", "-n", "100", "--json")).stdout,
    historyX: ok(await cli("history", "capauth:x@y", "--json")).stdout,
    threads: ok(await cli("threads", "--json")).stdout,
    search: ok(await cli("search", "deploy", "-n", "100", "--json")).stdout,
    searchPrefix: ok(await cli("search", "mess*", "-n", "100", "--json")).stdout,
    humanInbox: ok(await cli("inbox")).stdout
  })

  it("verify is ok on a fresh store with messages, and rebuild leaves every listing identical", async () => {
    await writeLumina()
    await seed([
      { content: "deploy message one", timestamp: "2025-07-01T00:00:00Z", thread_id: "t1" },
      { content: "message two", timestamp: "2025-07-02T00:00:00Z", thread_id: "t1" },
      { content: "message three deploy", timestamp: "2025-07-03T00:00:00Z" }
    ])
    await sendId("lumina", "outgoing deploy message", "-t", "t1")
    await sendId("capauth:x@y", "to x", "-t", "ops", "--content-type", "markdown")
    await sendId("capauth:x@y", "ephemeral but long-lived message", "--ttl", "86400")

    const verify = ok(await cli("admin", "verify"))
    expect(verify.stdout).toMatch(/^ok/)
    expect(verify.stdout).toMatch(/\d+ events/)

    // Listing marks the messages it shows read: after the first look, listings change only by a rebuild.
    await listings()
    const before = await listings()
    expect(JSON.parse(before.inbox)).toHaveLength(3)
    expect(JSON.parse(before.history)).toHaveLength(4)
    expect(JSON.parse(before.threads)).toHaveLength(2)
    expect(JSON.parse(before.search)).toHaveLength(3)

    const rebuild = ok(await cli("admin", "rebuild"))
    expect(rebuild.stdout).toMatch(/rebuilt/)
    const after = await listings()
    expect(after).toEqual(before)
    expect(ok(await cli("admin", "verify")).stdout).toMatch(/^ok/)

    // A second rebuild is as good as the first.
    ok(await cli("admin", "rebuild"))
    expect(await listings()).toEqual(before)
  })

  it("verify on an empty store is ok", async () => {
    expect(ok(await cli("admin", "verify")).stdout).toMatch(/^ok/)
  })

  it("verify fails with a one-line error naming the first bad sequence number when the log is edited", async () => {
    await sendId("capauth:x@y", "one")
    await sendId("capauth:x@y", "two")
    await sendId("capauth:x@y", "three")
    const db = new Database(join(t.dataDir, "memory", "skchat.db"))
    try {
      const rows = db.prepare("SELECT seq, data FROM events ORDER BY seq").all() as Array<{ seq: number; data: string }>
      const target = rows.find((r) => r.data.includes("two"))!
      expect(target).toBeDefined()
      db.exec("DROP TRIGGER events_no_update")
      db.prepare("UPDATE events SET data = ? WHERE seq = ?").run(target.data.replace("two", "TWO"), target.seq)
      const line = oneLineError(await cli("admin", "verify"))
      expect(line).toContain(String(target.seq))
    } finally {
      db.close()
    }
  })
})

describe("TTL through the CLI", () => {
  it("an expired message is never shown and its text is in no file under the data dir", async () => {
    const keep = await sendId("capauth:x@y", "a message that stays")
    // Long enough for the three commands below to list it even on a loaded machine.
    const id = await sendId("capauth:x@y", "zebracorn42 secret", "--ttl", "4")
    const now = okJson<Array<MessageJson>>(await cli("history", "capauth:x@y", "--json"))
    expect(now.map((m) => m.id)).toEqual([id, keep])
    expect(now[0]).toMatchObject({ ttl: 4, content: "zebracorn42 secret" })
    expect(ok(await cliEnv({ COLUMNS: "200" }, "history", "capauth:x@y")).stdout).toContain("zebracorn42")

    await new Promise((resolve) => setTimeout(resolve, 4_600))

    const later = okJson<Array<MessageJson>>(await cli("history", "capauth:x@y", "--json"))
    expect(later.map((m) => m.id)).toEqual([keep])
    expect(ok(await cliEnv({ COLUMNS: "200" }, "history", "capauth:x@y")).stdout).not.toContain("zebracorn42")
    expect(okJson<Array<MessageJson>>(await cli("search", "zebracorn42", "--json"))).toEqual([])
    expect(ok(await cli("search", "zebracorn42")).stdout.trim()).toBe("No matches.")
    expect(okJson<Array<MessageJson>>(await cli("search", "secret", "--json"))).toEqual([])
    expect(filesContaining(t.dataDir, "zebracorn42")).toEqual([])
    expect(filesContaining(t.dataDir, "a message that stays").length).toBeGreaterThan(0)
    expect(ok(await cli("admin", "verify")).stdout).toMatch(/^ok/)
  })

  it("an expired message in a thread is not shown by inbox or threads listings", async () => {
    await seed([{ content: "quokka77 will vanish", timestamp: "2025-08-01T00:00:00Z", thread_id: "gone" }])
    const id = await sendId("capauth:x@y", "quokka77 outgoing", "--ttl", "4", "-t", "gone")
    expect(okJson<Array<MessageJson>>(await cli("search", "quokka77", "--json")).map((m) => m.id)).toContain(id)
    await new Promise((resolve) => setTimeout(resolve, 4_600))
    const threads = okJson<Array<ThreadJson>>(await cli("threads", "--json"))
    const gone = threads.find((x) => x.id === "gone")
    expect(gone?.message_count ?? 0).toBe(1)
    const found = okJson<Array<MessageJson>>(await cli("search", "quokka77", "--json"))
    expect(found.map((m) => m.content)).toEqual(["quokka77 will vanish"])
    expect(filesContaining(t.dataDir, "quokka77 outgoing")).toEqual([])
  })
})

describe("NO_COLOR and terminal width", () => {
  // The people these tables show messages to, with keys so the sends are sealed.
  beforeEach(async () => {
    await writeLumina()
    await registerPeer(t, "someone", "capauth:someone-with-a-long-name@example.org")
  })

  it("a narrow terminal leaves out the ID and THREAD columns before squeezing the message", async () => {
    await sendId("capauth:lumina@skworld.io", "a message long enough to want most of a narrow terminal", "-t", "ops")
    const narrow = await runCli(["history", "capauth:lumina@skworld.io"], t.env, { COLUMNS: "80" })
    const [header] = narrow.stdout.split("\n")
    expect(header).toMatch(/^TIME\s+WITH\s+STATUS\s+MESSAGE$/)
    const wide = await runCli(["history", "capauth:lumina@skworld.io"], t.env, { COLUMNS: "220" })
    expect(wide.stdout.split("\n")[0]).toMatch(/^TIME\s+WITH\s+STATUS\s+THREAD\s+ID\s+MESSAGE$/)
    expect(wide.stdout).toContain("a message long enough to want most of a narrow terminal")
  })

  const longText = "lorem ipsum dolor sit amet ".repeat(20).trim()

  it("no ANSI escapes anywhere in human output under NO_COLOR", async () => {
    await writeLumina()
    await seed([{ content: "colourless", timestamp: "2025-09-01T00:00:00Z", thread_id: "c" }])
    await sendId("lumina", "reply", "-t", "c")
    for (
      const args of [
        ["inbox"],
        ["history", "lumina"],
        ["threads"],
        ["search", "colourless"],
        ["whoami"],
        ["peers", "list"],
        ["admin", "verify"],
        ["send", "lumina", "another"]
      ]
    ) {
      const r = ok(await cli(...args))
      expect(r.stdout, args.join(" ")).not.toContain("\x1b[")
      expect(r.stderr, args.join(" ")).not.toContain("\x1b[")
    }
    const err = await cli("send", "lumnia", "x")
    expect(err.stderr).not.toContain("\x1b[")
  })

  it("no ANSI escapes when output is not a terminal, even without NO_COLOR", async () => {
    await seed([{ content: "piped", timestamp: "2025-09-01T00:00:00Z" }])
    const { NO_COLOR: _unused, ...env } = t.env
    const r = await runCli(["inbox"], env)
    expect(r.code).toBe(0)
    expect(r.stdout).toContain("piped")
    expect(r.stdout).not.toContain("\x1b[")
  })

  it("with COLUMNS=60 every line of inbox/history/search tables fits in 60 characters", async () => {
    await seed([{ content: longText, timestamp: "2025-09-01T00:00:00Z", thread_id: "w" }])
    await sendId(LUMINA, longText)
    for (const args of [["inbox"], ["history", LUMINA], ["search", "lorem"]]) {
      const r = ok(await cliEnv({ COLUMNS: "60" }, ...args))
      const lines = r.stdout.trimEnd().split("\n")
      expect(lines.length).toBeGreaterThan(1)
      for (const line of lines) {
        expect([...line].length, `${args.join(" ")}: ${line}`).toBeLessThanOrEqual(60)
      }
    }
  })

  it("with COLUMNS=60 the threads table fits too", async () => {
    await sendId("capauth:someone-with-a-long-name@example.org", "x", "-t", "a-rather-long-thread-name")
    const r = ok(await cliEnv({ COLUMNS: "60" }, "threads"))
    for (const line of r.stdout.trimEnd().split("\n")) expect([...line].length).toBeLessThanOrEqual(60)
  })

  it("piped output with no COLUMNS shows a short message in full (the message column is not squeezed)", async () => {
    await seed([{ content: "hello from lumina", timestamp: "2025-09-01T00:00:00Z", thread_id: "t1" }])
    await sendId(LUMINA, "a short reply")
    for (const args of [["inbox"], ["history", LUMINA], ["search", "hello"]]) {
      const r = ok(await cli(...args))
      expect(r.stdout, args.join(" ")).toMatch(/hello from lumina|a short reply/)
    }
    expect(ok(await cli("history", LUMINA)).stdout).toContain("a short reply")
  })

  it("a wide terminal shows more of a long message than a narrow one, never more than the width", async () => {
    await seed([{ content: longText, timestamp: "2025-09-01T00:00:00Z" }])
    const wide = ok(await cliEnv({ COLUMNS: "200" }, "inbox"))
    for (const line of wide.stdout.trimEnd().split("\n")) expect([...line].length).toBeLessThanOrEqual(200)
    const row = wide.stdout.trimEnd().split("\n")[1]!
    expect(row).toContain("lorem ipsum dolor sit amet lorem")
  })
})
