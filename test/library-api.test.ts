import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { InvalidInput } from "../src/domain/errors.js"
import { openHistory } from "../src/entrypoints/chat-history.js"
import * as skchat from "../src/index.js"
import { provisionStore } from "./support/identities.js"
import { filesUnder, makeTempHome, type TempHome } from "./support/temp-home.js"

const ME = "capauth:me@skworld.io"
const BOB = "capauth:bob@skworld.io"
const ALICE = "capauth:alice@skworld.io"

let temp: TempHome
beforeEach(async () => {
  temp = makeTempHome()
  await provisionStore(temp, ME)
})
afterEach(() => temp.remove())

const open = () => openHistory({ home: temp.home, dataDir: temp.dataDir, identity: ME })

/** A message as the Python skchat writes it (INTEROP.md), replying with the legacy `reply_to` alias. */
const pythonReply = (replyTo: string) => ({
  id: "84a69dd0-5b8e-4c3f-9d2a-1f0e9c8b7a65",
  sender: BOB,
  recipient: ME,
  content: "sounds good, shipping the *release* tonight",
  content_type: "markdown",
  timestamp: "2026-11-24T22:54:46.838490Z",
  thread_id: "release",
  reply_to: replyTo,
  reactions: [],
  EDIT_WINDOW_SECONDS: 86400
})

describe("openHistory, the library face", () => {
  it("sends, stores, lists, searches and closes", async () => {
    const history = await open()
    try {
      expect(history.identity.uri).toBe(ME)

      const sent = await history.send({ recipient: BOB, content: "shall we ship the release?", threadId: "release" })
      expect(sent.sender).toBe(ME)
      expect(sent.recipient).toBe(BOB)
      expect(sent.thread_id).toBe("release")
      expect(sent.delivery_status).toBe("pending")

      const storedId = await history.storeMessage(pythonReply(sent.id))
      expect(storedId).toBe("84a69dd0-5b8e-4c3f-9d2a-1f0e9c8b7a65")
      await history.storeMessage({
        id: "from-alice",
        sender: ALICE,
        recipient: ME,
        content: "unrelated note about lunch",
        timestamp: "2026-11-24T23:00:00Z"
      })

      const inbox = await history.inbox()
      // Newest first.
      expect(inbox.map((m) => m.id)).toEqual(["from-alice", storedId])
      const reply = inbox[1]!
      expect(reply.reply_to_id).toBe(sent.id)
      expect(reply.content_type).toBe("text/markdown")
      expect(reply.timestamp).toBe("2026-11-24T22:54:46.838490Z")
      expect(reply.direction).toBe("in")
      expect(reply).not.toHaveProperty("EDIT_WINDOW_SECONDS")
      expect(await history.inbox(10, "release")).toEqual([reply])

      const conversation = await history.conversation(BOB)
      expect(conversation.map((m) => m.id).sort()).toEqual([sent.id, storedId].sort())
      expect(conversation.find((m) => m.id === sent.id)?.direction).toBe("out")

      expect((await history.search("release")).map((m) => m.id).sort()).toEqual([sent.id, storedId].sort())
      expect((await history.search("lunch")).map((m) => m.id)).toEqual(["from-alice"])
      expect(await history.search("\"NEAR( -*")).toEqual([])

      const threads = await history.threads()
      expect(threads).toHaveLength(1)
      expect(threads[0]).toMatchObject({ id: "release", message_count: 2 })
      expect(threads[0]!.participants).toEqual([ME, BOB])

      // Storing the same wire message again is a no-op.
      await history.storeMessage(pythonReply(sent.id))
      expect(await history.inbox()).toHaveLength(2)
    } finally {
      await history.close()
    }
  })

  it("a second openHistory over the same data dir sees the same data", async () => {
    const first = await open()
    const sent = await first.send({ recipient: BOB, content: "persisted across opens" })
    await first.storeMessage(pythonReply(sent.id))
    const snapshot = {
      inbox: await first.inbox(),
      conversation: await first.conversation(BOB),
      search: await first.search("persisted"),
      threads: await first.threads()
    }
    await first.close()

    const second = await open()
    try {
      expect(await second.inbox()).toEqual(snapshot.inbox)
      expect(await second.conversation(BOB)).toEqual(snapshot.conversation)
      expect(await second.search("persisted")).toEqual(snapshot.search)
      expect(await second.threads()).toEqual(snapshot.threads)
      expect(snapshot.conversation).toHaveLength(2)
    } finally {
      await second.close()
    }
  })

  it("two histories open at once over one store see each other's writes", async () => {
    const a = await open()
    const b = await open()
    try {
      const sent = await a.send({ recipient: BOB, content: "written by a" })
      expect((await b.conversation(BOB)).map((m) => m.id)).toEqual([sent.id])
      const id = await b.storeMessage({ id: "via-b", sender: BOB, recipient: ME, content: "written by b",
        timestamp: "2026-11-24T22:00:00Z" })
      expect((await a.inbox()).map((m) => m.id)).toEqual([id])
    } finally {
      await a.close()
      await b.close()
    }
  })

  it("keeps its store under the data dir it was given", async () => {
    const history = await open()
    await history.send({ recipient: BOB, content: "where do I live" })
    await history.close()
    const files = filesUnder(temp.home)
    expect(files.some((f) => f.startsWith(temp.dataDir) && f.endsWith("skchat.db"))).toBe(true)
    // Everything it wrote is there; the only other files are the peer keys this test registered.
    expect(files.every((f) => f.startsWith(temp.dataDir) || f.startsWith(join(temp.home, ".skcapstone")))).toBe(true)
  })

  it("storeMessage with invalid input rejects with InvalidInput and a one-line message", async () => {
    const history = await open()
    try {
      const error = await history.storeMessage({
        id: "../escape",
        sender: "  ",
        recipient: BOB,
        content: "",
        timestamp: "2026-11-24T22:54:46",
        ttl: -1
      }).then(() => undefined, (e: unknown) => e)
      expect(error).toBeInstanceOf(InvalidInput)
      expect((error as InvalidInput)._tag).toBe("InvalidInput")
      const message = (error as InvalidInput).message
      expect(message).not.toContain("\n")
      expect(message).toContain("id:")
      expect(message).toContain("sender:")
      expect(message).toContain("timestamp:")
      expect(message).toContain("ttl:")
      // Nothing was stored.
      expect(await history.inbox()).toEqual([])
    } finally {
      await history.close()
    }
  })

  it("send with invalid input rejects with InvalidInput too", async () => {
    const history = await open()
    try {
      const error = await history.send({ recipient: BOB, content: "   " }).then(() => undefined, (e: unknown) => e)
      expect(error).toBeInstanceOf(InvalidInput)
      expect((error as InvalidInput).message).toBe("content: must not be empty")
      expect(await history.conversation(BOB)).toEqual([])
    } finally {
      await history.close()
    }
  })

  it("is exported from the package entry", () => {
    expect(skchat.openHistory).toBe(openHistory)
    expect(typeof skchat.decodeChatMessage).toBe("function")
    expect(typeof skchat.uuidv7).toBe("function")
    expect(skchat.InvalidInput).toBe(InvalidInput)
  })
})
