import { Ajv } from "ajv"
import { createHash } from "node:crypto"
import { readdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { closeAllMcp, callError, callOk, type McpSession, startMcp } from "./support/mcp-session.js"
import { type ChattingPair, makeChattingPair } from "./support/shared-folder.js"
import { runCli } from "./support/temp-home.js"

/**
 * Every tool of the real `skchat mcp` server, driven with the MCP SDK's own Client over stdio: the list and
 * its schemas, then each tool's success path and its error paths (bad arguments, an unknown peer, oversized
 * input). Errors must come back as tool errors (isError) with one line, and the server must keep serving.
 * (Conversations between two servers: mcp-conversation.test.ts; alongside the daemon: mcp-alongside.test.ts.)
 */

const TIMEOUT = 120_000

const TOOLS = [
  "send_message",
  "get_inbox",
  "get_history",
  "search_messages",
  "list_threads",
  "mark_read",
  "wait_for_messages",
  "list_peers",
  "whoami",
  "daemon_status",
  "create_group",
  "webrtc_status",
  "initiate_call",
  "accept_call",
  "send_file_p2p"
]

let pair: ChattingPair
let bob: McpSession

beforeAll(async () => {
  pair = await makeChattingPair()
  bob = await startMcp(pair.bob.env)
}, TIMEOUT)

afterAll(async () => {
  await closeAllMcp()
  pair.remove()
}, TIMEOUT)

afterEach(() => {
  // Whatever a test did, the server is still up and answering.
  expect(bob.stderr()).not.toMatch(/^\s+at /m)
})

const envelopeFiles = (dir: string) => {
  try {
    return readdirSync(dir).filter((n) => n.endsWith(".skc.json"))
  } catch {
    return []
  }
}

const expectValidation = (text: string, field: string) => {
  expect(text).toMatch(/Input validation error/)
  expect(text).toContain(field)
}

describe("the tool list", () => {
  it("has every tool, each with an object input schema and an output schema that compile", async () => {
    const { tools } = await bob.client.listTools()
    expect(tools.map((t) => t.name).sort()).toEqual([...TOOLS].sort())
    const ajv = new Ajv({ strict: false })
    for (const tool of tools) {
      expect(tool.description, tool.name).toBeTruthy()
      expect(tool.inputSchema.type, tool.name).toBe("object")
      expect(tool.outputSchema?.type, tool.name).toBe("object")
      expect(() => ajv.compile(tool.inputSchema), tool.name).not.toThrow()
      expect(() => ajv.compile(tool.outputSchema!), tool.name).not.toThrow()
    }
    const send = tools.find((t) => t.name === "send_message")!
    expect(send.inputSchema.required?.sort()).toEqual(["message", "recipient"])
    expect(Object.keys(send.inputSchema.properties ?? {}).sort()).toEqual(
      ["idempotency_key", "message", "recipient", "reply_to", "thread_id", "ttl"]
    )
    const wait = tools.find((t) => t.name === "wait_for_messages")!
    expect((wait.inputSchema.properties?.["timeout_seconds"] as { maximum?: number }).maximum).toBe(50)
  }, TIMEOUT)
})

describe("each tool", () => {
  it("whoami: our URI and fingerprint, matching the CLI", async () => {
    const me = await callOk<{ uri: string; fingerprint: string; initialized: boolean; data_dir: string }>(bob, "whoami")
    const cli = JSON.parse((await runCli(["whoami", "--json"], pair.bob.env)).stdout) as { uri: string }
    expect(me).toMatchObject({ uri: pair.bob.uri, initialized: true, data_dir: pair.bob.dataDir })
    expect(cli.uri).toBe(me.uri)
    expect(me.fingerprint).toMatch(/^[0-9a-f]{40}$/)
    expect(me._text).toContain(pair.bob.uri)
  }, TIMEOUT)

  it("list_peers: the registered peer with its computed fingerprint", async () => {
    const { peers } = await callOk<{ peers: Array<Record<string, unknown>> }>(bob, "list_peers")
    expect(peers).toHaveLength(1)
    expect(peers[0]).toMatchObject({ name: "alice", uri: pair.alice.uri, key_state: expect.stringMatching(/pinned/) })
    expect(peers[0]!["fingerprint"]).toMatch(/^[0-9a-f]{40}$/)
  }, TIMEOUT)

  it("daemon_status: not running", async () => {
    const status = await callOk<{ running: boolean }>(bob, "daemon_status")
    expect(status.running).toBe(false)
    expect(status._text).toMatch(/not running/)
  }, TIMEOUT)

  it("send_message: stored and handed to the file transport; bad arguments, unknown peer and oversized text fail", async () => {
    const before = envelopeFiles(pair.bob.outbox).length
    const sent = await callOk<{ message_id: string; delivery_status: string; recipient: string; repeated: boolean }>(
      bob,
      "send_message",
      { recipient: "alice", message: "from the agent", thread_id: "agents" }
    )
    expect(sent).toMatchObject({ recipient: pair.alice.uri, delivery_status: "sent", repeated: false })
    expect(envelopeFiles(pair.bob.outbox).length).toBe(before + 1)

    expect(await callError(bob, "send_message", { recipient: "alcie", message: "hi" }))
      .toMatch(/unknown recipient "alcie".*Did you mean: alice/)
    expectValidation(await callError(bob, "send_message", { recipient: "alice" }), "message")
    expectValidation(await callError(bob, "send_message", { recipient: "alice", message: "" }), "message")
    expectValidation(await callError(bob, "send_message", { recipient: "alice", message: "hi", ttl: -5 }), "ttl")
    expectValidation(await callError(bob, "send_message", { recipient: "x".repeat(600), message: "hi" }), "recipient")
    // Over the schema's bound: refused before anything is read into the store.
    expectValidation(await callError(bob, "send_message", { recipient: "alice", message: "x".repeat(1_048_577) }),
      "message")
    // Within it, but its envelope would exceed what peers accept (max_envelope_bytes, 1 MiB by default).
    expect(await callError(bob, "send_message", { recipient: "alice", message: "y".repeat(1_000_000) }))
      .toMatch(/too large.*max_envelope_bytes/)
    // Nothing of the failed sends was stored or sent.
    expect(envelopeFiles(pair.bob.outbox).length).toBe(before + 1)
    const history = JSON.parse((await runCli(["history", "alice", "--json"], pair.bob.env)).stdout) as Array<unknown>
    expect(history).toHaveLength(1)
  }, TIMEOUT)

  it("get_inbox, get_history, search_messages, list_threads, mark_read over a received message", async () => {
    expect((await runCli(["send", "bob", "the deploy is done", "-t", "ops"], pair.alice.env)).code).toBe(0)
    // No daemon: the server takes the envelope in itself.
    const waited = await callOk<{ count: number }>(bob, "wait_for_messages", { timeout_seconds: 40, from: "alice" })
    expect(waited.count).toBe(1)

    const inbox = await callOk<{ messages: Array<{ id: string; content: string; trust: { signature: string } }> }>(
      bob,
      "get_inbox",
      { limit: 5 }
    )
    expect(inbox.messages.map((m) => m.content)).toContain("the deploy is done")
    const id = inbox.messages.find((m) => m.content === "the deploy is done")!.id
    expect(inbox.messages[0]!.trust.signature).toBe("verified")
    const threadOnly = await callOk<{ count: number }>(bob, "get_inbox", { thread_id: "no-such-thread" })
    expect(threadOnly.count).toBe(0)
    expectValidation(await callError(bob, "get_inbox", { limit: 0 }), "limit")
    expectValidation(await callError(bob, "get_inbox", { limit: 501 }), "limit")
    expectValidation(await callError(bob, "get_inbox", { unread_only: "yes" }), "unread_only")

    const history = await callOk<{ participant: string; messages: Array<{ direction: string }> }>(
      bob,
      "get_history",
      { participant: "alice" }
    )
    expect(history.participant).toBe(pair.alice.uri)
    expect(new Set(history.messages.map((m) => m.direction))).toEqual(new Set(["in", "out"]))
    expect(await callError(bob, "get_history", { participant: "nobody" })).toMatch(/unknown recipient "nobody"/)
    expectValidation(await callError(bob, "get_history", {}), "participant")

    const found = await callOk<{ count: number; messages: Array<{ id: string }> }>(bob, "search_messages",
      { query: "deploy" })
    expect(found.messages.map((m) => m.id)).toEqual([id])
    expect((await callOk<{ count: number }>(bob, "search_messages", { query: "nothingmatchesthis" })).count).toBe(0)
    expectValidation(await callError(bob, "search_messages", { query: "q".repeat(1001) }), "query")
    expectValidation(await callError(bob, "search_messages", { query: "" }), "query")

    const { threads } = await callOk<{ threads: Array<{ id: string; participants: Array<string> }> }>(
      bob,
      "list_threads"
    )
    expect(threads.map((t) => t.id).sort()).toEqual(["agents", "ops"])
    expectValidation(await callError(bob, "list_threads", { limit: "all" }), "limit")

    const marked = await callOk<{ marked_read: number; already_read: Array<string>; not_found: Array<string> }>(
      bob,
      "mark_read",
      { message_ids: [id, "not-a-message"] }
    )
    expect(marked).toMatchObject({ marked_read: 0, already_read: [id], not_found: ["not-a-message"] })
    expect(await callError(bob, "mark_read", { message_ids: ["nope-1", "nope-2"] })).toMatch(/no received message/)
    expectValidation(await callError(bob, "mark_read", { message_ids: [] }), "message_ids")
    expectValidation(
      await callError(bob, "mark_read", { message_ids: Array.from({ length: 501 }, (_, i) => `id-${i}`) }),
      "message_ids"
    )
  }, TIMEOUT)

  it("wait_for_messages: times out empty-handed; bad timeout and unknown sender fail", async () => {
    const r = await callOk<{ timed_out: boolean; count: number }>(bob, "wait_for_messages", { timeout_seconds: 0.5 })
    expect(r).toMatchObject({ timed_out: true, count: 0 })
    expectValidation(await callError(bob, "wait_for_messages", { timeout_seconds: 51 }), "timeout_seconds")
    expectValidation(await callError(bob, "wait_for_messages", { timeout_seconds: -1 }), "timeout_seconds")
    expect(await callError(bob, "wait_for_messages", { timeout_seconds: 1, from: "mallory" }))
      .toMatch(/unknown recipient "mallory"/)
  }, TIMEOUT)

  it("the tool not built yet says so; the direct tools answer without a daemon; bad arguments are validation errors", async () => {
    expect(await callError(bob, "create_group", { name: "ops", members: ["alice"] })).toMatch(/^not available yet: /)
    expect(await callOk<{ connections: Array<unknown>; daemon_running: boolean }>(bob, "webrtc_status", {}))
      .toMatchObject({ connections: [], daemon_running: false })
    // Calls are made by the daemon: without one, a clear error.
    expect(await callError(bob, "initiate_call", { peer: "alice" })).toMatch(/^no daemon is running for .*skchat daemon start/)
    expect(await callError(bob, "accept_call", { peer: "alice" })).toMatch(/^no daemon is running/)
    // A file needs no daemon: it goes as sealed chunks over the transports, from the server itself.
    const file = join(pair.bob.home, "notes.txt")
    writeFileSync(file, "a file for alice\n")
    const sent = await callOk<{ transfer_id: string; file_name: string; size: number; sha256: string; route: string }>(
      bob, "send_file_p2p", { peer: "alice", path: file, description: "the notes" })
    expect(sent).toMatchObject({ file_name: "notes.txt", size: 17, route: "transport",
      sha256: createHash("sha256").update("a file for alice\n").digest("hex") })
    expect(await callError(bob, "send_file_p2p", { peer: "alice", path: join(pair.bob.home, "missing") }))
      .toMatch(/^cannot read .*missing/)
    expect(await callError(bob, "send_file_p2p", { peer: "mallory", path: file })).toMatch(/unknown recipient "mallory"/)
    expectValidation(await callError(bob, "create_group", { name: "ops" }), "members")
    expectValidation(await callError(bob, "initiate_call", {}), "peer")
    expectValidation(await callError(bob, "accept_call", { peer: 7 }), "peer")
    expectValidation(await callError(bob, "send_file_p2p", { peer: "alice" }), "path")
    expectValidation(await callError(bob, "webrtc_status", { peer: "" }), "peer")
  }, TIMEOUT)

  it("an unknown tool is an error, and the server still serves", async () => {
    expect(await callError(bob, "no_such_tool", {})).toMatch(/no_such_tool/)
    expect((await callOk<{ uri: string }>(bob, "whoami")).uri).toBe(pair.bob.uri)
  }, TIMEOUT)
})
