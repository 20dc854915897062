import Database from "better-sqlite3"
import { Either } from "effect"
import { describe, expect, it } from "vitest"
import { type ChatMessage, decodeChatMessage } from "../src/domain/chat-message.js"
import { composeMessage } from "../src/domain/compose-message.js"
import { uuidv7 } from "../src/domain/message-id.js"
import { toFtsQuery } from "../src/domain/search-query.js"
import { formatParseError } from "../src/domain/validation-message.js"

/** The chat message of INTEROP.md, as the Python skchat writes it. */
const interopSample = {
  id: "84a69dd0-5b8e-4c3f-9d2a-1f0e9c8b7a65",
  sender: "capauth:alice@skworld.io",
  recipient: "capauth:bob@skworld.io",
  content: "hi",
  content_type: "text/markdown",
  rich: null,
  timestamp: "2026-11-24T22:54:46.838490Z",
  thread_id: "t1",
  reply_to_id: "abc",
  quoted_text: null,
  quoted_sender: null,
  quoted_id: null,
  reactions: [],
  edited_at: null,
  edit_history: null,
  receipts: null,
  metadata: {},
  attachments: [],
  ttl: 60,
  delivery_status: "pending",
  encrypted: false,
  signature: null,
  EDIT_WINDOW_SECONDS: 86400
}

const minimal = {
  id: "0190f2a4-0000-7000-8000-000000000001",
  sender: "capauth:alice@skworld.io",
  recipient: "capauth:bob@skworld.io",
  content: "hello",
  timestamp: "2026-11-24T22:54:46Z"
}

const accept = (input: unknown): ChatMessage => {
  const result = decodeChatMessage(input)
  if (Either.isLeft(result)) throw new Error(`expected a valid message, got: ${formatParseError(result.left)}`)
  return result.right
}

/** The one-line error a person sees for `input`. */
const reject = (input: unknown): string => {
  const result = decodeChatMessage(input)
  if (Either.isRight(result)) throw new Error(`expected a rejection, got ${JSON.stringify(result.right)}`)
  return formatParseError(result.left)
}

/** Phrases of the schema library's internals that say nothing to a person fixing their input. */
const expectNoSchemaNoise = (message: string) => {
  expect(message).not.toMatch(/Expected undefined/)
  expect(message).not.toMatch(/Expected null/)
}

describe("decoding the INTEROP.md chat message", () => {
  it("decodes the sample, ignoring unknown keys and keeping the timestamp as given", () => {
    const m = accept(interopSample)
    expect(m.id).toBe(interopSample.id)
    expect(m.sender).toBe("capauth:alice@skworld.io")
    expect(m.recipient).toBe("capauth:bob@skworld.io")
    expect(m.content).toBe("hi")
    expect(m.content_type).toBe("text/markdown")
    // Microseconds a JS Date would drop survive untouched.
    expect(m.timestamp).toBe("2026-11-24T22:54:46.838490Z")
    expect(m.thread_id).toBe("t1")
    expect(m.reply_to_id).toBe("abc")
    expect(m.ttl).toBe(60)
    expect(m.delivery_status).toBe("pending")
    expect(m.encrypted).toBe(false)
    expect(m.metadata).toEqual({})
    expect(m.attachments).toEqual([])
    for (const unknownKey of ["EDIT_WINDOW_SECONDS", "rich", "quoted_text", "reactions", "signature", "receipts"]) {
      expect(Object.keys(m)).not.toContain(unknownKey)
    }
  })

  it("fills defaults for the optional fields", () => {
    const m = accept(minimal)
    expect(m.content_type).toBe("text/plain")
    expect(m.thread_id).toBeNull()
    expect(m.reply_to_id).toBeNull()
    expect(m.ttl).toBeNull()
    expect(m.delivery_status).toBe("pending")
    expect(m.encrypted).toBe(false)
    expect(m.metadata).toEqual({})
    expect(m.attachments).toEqual([])
  })

  it("accepts reply_to as an alias of reply_to_id", () => {
    expect(accept({ ...minimal, reply_to: "parent-1" }).reply_to_id).toBe("parent-1")
    expect(Object.keys(accept({ ...minimal, reply_to: "parent-1" }))).not.toContain("reply_to")
  })

  it("prefers reply_to_id when both spellings are present", () => {
    expect(accept({ ...minimal, reply_to: "alias", reply_to_id: "canonical" }).reply_to_id).toBe("canonical")
    expect(accept({ ...minimal, reply_to: "alias", reply_to_id: null }).reply_to_id).toBe("alias")
  })

  it("expands the short content types and keeps any other string", () => {
    expect(accept({ ...minimal, content_type: "text" }).content_type).toBe("text/plain")
    expect(accept({ ...minimal, content_type: "plain" }).content_type).toBe("text/plain")
    expect(accept({ ...minimal, content_type: "markdown" }).content_type).toBe("text/markdown")
    expect(accept({ ...minimal, content_type: "system" }).content_type).toBe("text/system")
    expect(accept({ ...minimal, content_type: "text/markdown" }).content_type).toBe("text/markdown")
    expect(accept({ ...minimal, content_type: "application/json" }).content_type).toBe("application/json")
    expect(accept({ ...minimal, content_type: "seed" }).content_type).toBe("seed")
  })

  it("accepts timestamps with a zone offset and every delivery status", () => {
    expect(accept({ ...minimal, timestamp: "2026-11-24T22:54:46+02:00" }).timestamp).toBe("2026-11-24T22:54:46+02:00")
    expect(accept({ ...minimal, timestamp: "2026-11-24T22:54:46.123-0500" }).timestamp)
      .toBe("2026-11-24T22:54:46.123-0500")
    for (const status of ["pending", "sent", "delivered", "read", "failed"] as const) {
      expect(accept({ ...minimal, delivery_status: status }).delivery_status).toBe(status)
    }
  })

  it("trims sender and recipient", () => {
    const m = accept({ ...minimal, sender: "  capauth:alice@skworld.io ", recipient: "\tlumina\n" })
    expect(m.sender).toBe("capauth:alice@skworld.io")
    expect(m.recipient).toBe("lumina")
  })
})

describe("rejections name the field and say what is wrong", () => {
  it("empty content", () => {
    expect(reject({ ...minimal, content: "" })).toBe("content: must not be empty")
  })

  it("whitespace-only content", () => {
    expect(reject({ ...minimal, content: " \n\t " })).toBe("content: must not be empty")
  })

  it("empty content is fine when the message carries attachments", () => {
    const m = accept({ ...minimal, content: "", attachments: [{ name: "photo.png" }] })
    expect(m.content).toBe("")
    expect(m.attachments).toEqual([{ name: "photo.png" }])
  })

  it("blank sender", () => {
    expect(reject({ ...minimal, sender: "   " })).toBe("sender: must not be blank")
  })

  it("blank recipient", () => {
    expect(reject({ ...minimal, recipient: "" })).toBe("recipient: must not be blank")
  })

  it("negative TTL", () => {
    const message = reject({ ...minimal, ttl: -5 })
    expect(message).toContain("ttl: must be a positive whole number of seconds")
    expectNoSchemaNoise(message)
  })

  it("non-integer TTL", () => {
    const message = reject({ ...minimal, ttl: 1.5 })
    expect(message).toContain("ttl: must be a positive whole number of seconds")
    expectNoSchemaNoise(message)
  })

  it("zero TTL", () => {
    expect(reject({ ...minimal, ttl: 0 })).toContain("ttl: must be a positive whole number of seconds")
  })

  it("timestamp without a zone", () => {
    const message = reject({ ...minimal, timestamp: "2026-11-24T22:54:46" })
    expect(message).toMatch(/^timestamp: /)
    expect(message).toContain("2026-11-24T22:54:46")
    expect(message).toContain("time zone")
  })

  it("a timestamp that is not a date at all", () => {
    const message = reject({ ...minimal, timestamp: "yesterday" })
    expect(message).toMatch(/^timestamp: /)
  })

  it("unknown delivery_status", () => {
    const message = reject({ ...minimal, delivery_status: "lost" })
    expect(message).toMatch(/^delivery_status: /)
    expect(message).toContain("delivery_status: must be one of pending, sent, delivered, read, failed")
    expectNoSchemaNoise(message)
  })

  it("id with a path separator", () => {
    expect(reject({ ...minimal, id: "a/b" })).toMatch(/^id: must be 1-128 letters/)
  })

  it("id that walks up the tree", () => {
    expect(reject({ ...minimal, id: ".." })).toMatch(/^id: /)
    expect(reject({ ...minimal, id: "../../etc/passwd" })).toMatch(/^id: /)
  })

  it("thread and reply ids are held to the same alphabet", () => {
    expect(reject({ ...minimal, thread_id: "../t" })).toMatch(/^thread_id: /)
    expect(reject({ ...minimal, reply_to: "a/b" })).toMatch(/^reply_to_id: /)
  })

  it("missing required fields are each named", () => {
    const message = reject({ sender: "capauth:alice@skworld.io" })
    expect(message).toContain("id: is required")
    expect(message).toContain("recipient: is required")
    expect(message).toContain("content: is required")
    expect(message).toContain("timestamp: is required")
  })

  it("something that is not an object", () => {
    expect(reject("hello")).toBe("a chat message must be a JSON object")
    expect(reject([1, 2])).toBe("a chat message must be a JSON object")
    expect(reject(null)).toBe("a chat message must be a JSON object")
  })

  it("every message is a single line", () => {
    const bad = [
      { ...minimal, content: "" },
      { ...minimal, ttl: -1 },
      { ...minimal, ttl: 1.5, sender: "", delivery_status: "nope" },
      { ...minimal, timestamp: "2026-11-24 22:54" },
      { sender: 1 }
    ]
    for (const input of bad) {
      const message = reject(input)
      expect(message.length).toBeGreaterThan(0)
      expect(message).not.toContain("\n")
    }
  })
})

describe("uuidv7", () => {
  const fixedRandom = (fill: number) => (bytes: Uint8Array) => bytes.fill(fill)

  it("has the version nibble 7 and the RFC 9562 variant", () => {
    for (let i = 0; i < 50; i++) {
      const id = uuidv7(Date.parse("2026-11-24T22:54:46Z") + i)
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    }
    // Even when the random source sets every bit, version and variant come out right.
    expect(uuidv7(0, fixedRandom(0xff))).toMatch(/^00000000-0000-7fff-bfff-ffffffffffff$/)
  })

  it("carries the unix milliseconds in its first 48 bits", () => {
    const ms = Date.parse("2026-11-24T22:54:46.838Z")
    const id = uuidv7(ms, fixedRandom(0))
    expect(parseInt(id.replace(/-/g, "").slice(0, 12), 16)).toBe(ms)
    expect(id).toBe(`${ms.toString(16).padStart(12, "0").replace(/^(.{8})(.{4})$/, "$1-$2")}-7000-8000-000000000000`)
  })

  it("sorts by creation time for increasing milliseconds", () => {
    const start = Date.parse("2026-11-24T00:00:00Z")
    const times = [start, start + 1, start + 2, start + 1000, start + 86_400_000, start + 2 ** 33]
    // Random parts that would sort backwards if they mattered.
    const ids = times.map((t, i) => uuidv7(t, fixedRandom(0xff - i)))
    expect([...ids].sort()).toEqual(ids)
    expect(new Set(ids).size).toBe(ids.length)
  })

  it("is unique across calls in the same millisecond", () => {
    const ids = Array.from({ length: 1000 }, () => uuidv7(1_700_000_000_000))
    expect(new Set(ids).size).toBe(1000)
  })

  it("is accepted as a message id", () => {
    expect(accept({ ...minimal, id: uuidv7(Date.now()) }).id).toMatch(/-7/)
  })
})

describe("toFtsQuery on hostile input", () => {
  const hostile = [
    "",
    "   ",
    "\"",
    "\"\"\"",
    "'",
    "*",
    "**",
    "foo*",
    "*foo",
    "NEAR",
    "NEAR(a b, 2)",
    "a NEAR b",
    "-",
    "-foo",
    "foo -bar",
    "(",
    ")",
    "((foo",
    "foo)) OR (bar",
    "AND OR NOT",
    "content:secret",
    "col:",
    "^foo",
    "foo + bar",
    "{a b}: c",
    "\"unbalanced phrase",
    "'; DROP TABLE messages; --",
    "\u0000\u0001\u0002",
    "🙂🙂🙂",
    "héllo wörld",
    "ｆｕｌｌｗｉｄｔｈ",
    "日本語のテキスト",
    "a".repeat(10_000),
    Array.from({ length: 100 }, (_, i) => `w${i}`).join(" "),
    "foo\"bar\"baz",
    "x* y* z*"
  ]

  // A table shaped like the store's search index, to run every query for real.
  const db = new Database(":memory:")
  db.exec("CREATE VIRTUAL TABLE ft USING fts5(content, tokenize = 'unicode61 remove_diacritics 2')")
  const insert = db.prepare("INSERT INTO ft (content) VALUES (?)")
  for (const text of ["hello world", "the secret plan", "foo bar baz", "NEAR the river", "日本語のテキスト"]) {
    insert.run(text)
  }
  const match = db.prepare("SELECT rowid FROM ft WHERE ft MATCH ?")

  it.each(hostile.map((s) => [JSON.stringify(s).slice(0, 40), s]))("%s never throws and is quoted terms", (_, s) => {
    const query = toFtsQuery(s)
    if (query === undefined) return
    expect(query).toMatch(/^"[^"\s]+"\*?( "[^"\s]+"\*?)*$/)
    expect(() => match.all(query)).not.toThrow()
  })

  it("leaves nothing searchable for punctuation-only input", () => {
    for (const s of ["", "   ", "\"", "*", "-", "(", ")", "((", "'", "^", "+", "\u0000"]) {
      expect(toFtsQuery(s)).toBeUndefined()
    }
  })

  it("turns operators into plain words and keeps a trailing * as a prefix", () => {
    expect(toFtsQuery("NEAR(a b)")).toBe("\"NEAR\" \"a\" \"b\"")
    expect(toFtsQuery("foo -bar")).toBe("\"foo\" \"bar\"")
    expect(toFtsQuery("content:secret")).toBe("\"content\" \"secret\"")
    expect(toFtsQuery("sec*")).toBe("\"sec\"*")
    expect(match.all(toFtsQuery("sec*")!)).toHaveLength(1)
    expect(match.all(toFtsQuery("NEAR river")!)).toHaveLength(1)
  })

  it("bounds the number of terms", () => {
    const query = toFtsQuery(Array.from({ length: 100 }, (_, i) => `w${i}`).join(" "))!
    expect(query.split(" ").length).toBeLessThanOrEqual(16)
  })
})

describe("composeMessage", () => {
  const now = Date.parse("2026-11-24T22:54:46.838Z")

  it("builds a valid outbound message stamped with now and a fresh UUIDv7", () => {
    const result = composeMessage(
      {
        sender: "capauth:me@skworld.io",
        recipient: " capauth:bob@skworld.io ",
        content: "deploy done",
        contentType: "markdown",
        threadId: "t1",
        replyToId: "m0",
        ttl: 60,
        metadata: { urgency: "high" }
      },
      now
    )
    if (Either.isLeft(result)) throw new Error(result.left)
    const m = result.right
    expect(m.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    expect(parseInt(m.id.replace(/-/g, "").slice(0, 12), 16)).toBe(now)
    expect(m.timestamp).toBe("2026-11-24T22:54:46.838Z")
    expect(m.sender).toBe("capauth:me@skworld.io")
    expect(m.recipient).toBe("capauth:bob@skworld.io")
    expect(m.content).toBe("deploy done")
    expect(m.content_type).toBe("text/markdown")
    expect(m.thread_id).toBe("t1")
    expect(m.reply_to_id).toBe("m0")
    expect(m.ttl).toBe(60)
    expect(m.delivery_status).toBe("pending")
    expect(m.metadata).toEqual({ urgency: "high" })
  })

  it("defaults to plain text with no thread, reply or TTL", () => {
    const result = composeMessage({ sender: "capauth:me@skworld.io", recipient: "lumina", content: "hi" }, now)
    if (Either.isLeft(result)) throw new Error(result.left)
    expect(result.right.content_type).toBe("text/plain")
    expect(result.right.thread_id).toBeNull()
    expect(result.right.reply_to_id).toBeNull()
    expect(result.right.ttl).toBeNull()
  })

  it("rejects what a wire message would reject, as one line", () => {
    const empty = composeMessage({ sender: "capauth:me@skworld.io", recipient: "lumina", content: "  " }, now)
    expect(empty).toEqual(Either.left("content: must not be empty"))
    const noRecipient = composeMessage({ sender: "capauth:me@skworld.io", recipient: "", content: "x" }, now)
    expect(noRecipient).toEqual(Either.left("recipient: must not be blank"))
    const badTtl = composeMessage({ sender: "capauth:me@skworld.io", recipient: "b", content: "x", ttl: -3 }, now)
    expect(Either.isLeft(badTtl) && badTtl.left).toContain("ttl: must be a positive whole number of seconds")
    const badThread = composeMessage(
      { sender: "capauth:me@skworld.io", recipient: "b", content: "x", threadId: "../x" },
      now
    )
    expect(Either.isLeft(badThread) && badThread.left).toMatch(/^thread_id: /)
  })

  it("gives each message its own id", () => {
    const ids = Array.from({ length: 100 }, () => {
      const r = composeMessage({ sender: "a", recipient: "b", content: "x" }, now)
      return Either.isRight(r) ? r.right.id : ""
    })
    expect(new Set(ids).size).toBe(100)
  })
})
