import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { LATEST_PROTOCOL_VERSION } from "@modelcontextprotocol/sdk/types.js"
import { afterEach, describe, expect, it } from "vitest"
import { generateKeyPair } from "../src/adapters/openpgp-crypto.js"
import { sleep } from "./support/cli-wait.js"
import { DaemonReaper, eventually, isAlive, waitGone } from "./support/daemon-process.js"
import { installIdentity, registerPeer } from "./support/identities.js"
import {
  callError,
  callOk,
  closeAllMcp,
  type Listing,
  type McpSession,
  mcpBin,
  type SendResult,
  startMcp,
  type WaitResult,
  type WhoAmI
} from "./support/mcp-session.js"
import { type Chatter, type ChattingPair, makeChattingPair } from "./support/shared-folder.js"
import { type CliResult, makeTempHome, runCli, type TempHome } from "./support/temp-home.js"

/**
 * The MCP server (`skchat mcp`, or `node bin/skchat-mcp.cjs` as an MCP host starts it) on a data dir that
 * the daemon and the CLI use at the same time, and the server's life as a process: how it starts without
 * an identity, what it does with bad input, how it ends (stdin closed, SIGTERM), and that its stdout carries
 * nothing but the protocol. Real processes, real files, real keys; afterEach stops every server and daemon
 * a test started and fails if any is left.
 */

const TEST_TIMEOUT_MS = 150_000

const reaper = new DaemonReaper()
const pairs: Array<ChattingPair> = []
const homes: Array<TempHome> = []
const rawServers: Array<RawServer> = []

afterEach(async () => {
  const strays = rawServers.splice(0).filter((s) => isAlive(s.pid))
  for (const s of strays) s.child.kill("SIGKILL")
  for (const s of strays) await waitGone(s.pid, 15_000).catch(() => {})
  await closeAllMcp()
  const left = await reaper.reap()
  for (const pair of pairs.splice(0)) pair.remove()
  for (const home of homes.splice(0)) home.remove()
  expect(strays.map((s) => s.pid), "MCP servers left running by the test").toEqual([])
  expect(left, "daemon processes left running after the test").toEqual([])
})

const newPair = async (): Promise<ChattingPair> => {
  const pair = await makeChattingPair()
  pairs.push(pair)
  return pair
}

// ---- what the tools and the CLI return ----------------------------------------------------------------






interface CliMessage {
  readonly id: string
  readonly sender: string
  readonly recipient: string
  readonly content: string
  readonly delivery_status: string
  readonly verified: boolean
  readonly direction: "in" | "out"
}

/** Every output a test saw (CLI runs, tool results), to check none of them ever mentions a busy store. */
const seen: Array<string> = []
const BUSY = /SQLITE_BUSY|database is locked/i

const cli = async (who: Pick<Chatter, "env">, ...args: ReadonlyArray<string>): Promise<CliResult> => {
  const r = await runCli(args, who.env)
  seen.push(r.stdout, r.stderr)
  return r
}

const cliOk = async (who: Pick<Chatter, "env">, ...args: ReadonlyArray<string>): Promise<CliResult> => {
  const r = await cli(who, ...args)
  expect(r.code, `skchat ${args.join(" ")} → exit ${r.code}\n${r.stdout}\n${r.stderr}`).toBe(0)
  return r
}

const cliJson = async <A>(who: Pick<Chatter, "env">, ...args: ReadonlyArray<string>): Promise<A> =>
  JSON.parse((await cliOk(who, ...args, "--json")).stdout) as A

const tool = async <A>(s: McpSession, name: string, args: Record<string, unknown> = {}) => {
  const r = await callOk<A>(s, name, args)
  seen.push(r._text)
  return r
}

/** `skchat send PEER TEXT --json` → the stored message's id. */
const cliSend = async (who: Chatter, to: string, text: string): Promise<string> =>
  (await cliJson<{ id: string }>(who, "send", to, text)).id

/** What `who` has of the conversation with `peer` after taking in what the transport holds. */
const receiveAndHistory = async (who: Chatter, peer: string): Promise<Array<CliMessage>> => {
  await cliJson(who, "receive")
  return await cliJson<Array<CliMessage>>(who, "history", peer, "-n", "1000")
}

const daemonLogOf = (c: Chatter) => join(c.dataDir, "daemon.log")

// ---- a server spawned directly, speaking raw JSON-RPC lines ----------------------------------------------

interface RawServer {
  readonly child: ChildProcessWithoutNullStreams
  readonly pid: number
  readonly stdout: () => string
  readonly stderr: () => string
  /** Writes one line (a string as is, anything else as JSON) to the server's stdin. */
  readonly write: (message: unknown) => void
  /** The response to request `id`, once it came. */
  readonly response: (id: number, timeoutMs?: number) => Promise<Record<string, unknown>>
  readonly exited: Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>
}

/** `node bin/skchat-mcp.cjs`, as an MCP host starts it, with nothing in between. */
const spawnRaw = (env: NodeJS.ProcessEnv): RawServer => {
  const child = spawn(process.execPath, [mcpBin], { env, stdio: ["pipe", "pipe", "pipe"] })
  if (child.pid === undefined) throw new Error("could not spawn the MCP server")
  let out = ""
  let err = ""
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    out += chunk
  })
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    err += chunk
  })
  // A server that is gone already makes a late write fail with EPIPE: that is the test's business, not a crash.
  child.stdin.on("error", () => {})
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => {
    child.on("exit", (code, signal) => done({ code, signal }))
  })
  const responseTo = (id: number): Record<string, unknown> | undefined => {
    for (const line of out.split("\n")) {
      if (line.trim() === "") continue
      try {
        const m = JSON.parse(line) as Record<string, unknown>
        if (m["id"] === id && ("result" in m || "error" in m)) return m
      } catch {
        // checked elsewhere
      }
    }
    return undefined
  }
  const server: RawServer = {
    child,
    pid: child.pid,
    stdout: () => out,
    stderr: () => err,
    write: (message) => {
      child.stdin.write(`${typeof message === "string" ? message : JSON.stringify(message)}\n`)
    },
    response: (id, timeoutMs = 30_000) =>
      eventually(`the server's response to request ${id} (stderr: ${err})`, () => responseTo(id), timeoutMs, 50),
    exited
  }
  rawServers.push(server)
  return server
}

const initialize = (id: number) => ({
  jsonrpc: "2.0",
  id,
  method: "initialize",
  params: { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: "raw-test", version: "1" } }
})
const initialized = { jsonrpc: "2.0", method: "notifications/initialized" }
const callTool = (id: number, name: string, args: Record<string, unknown> = {}) => ({
  jsonrpc: "2.0",
  id,
  method: "tools/call",
  params: { name, arguments: args }
})

/** Initialize handshake on a raw server; returns the initialize result. */
const handshake = async (s: RawServer, id = 1): Promise<Record<string, unknown>> => {
  s.write(initialize(id))
  const r = await s.response(id)
  expect(r["error"], JSON.stringify(r)).toBeUndefined()
  s.write(initialized)
  return r["result"] as Record<string, unknown>
}

/** A raw tool call's structured result (it must not be an error). */
const rawToolOk = async <A>(s: RawServer, id: number, name: string, args: Record<string, unknown> = {}): Promise<A> => {
  s.write(callTool(id, name, args))
  const r = await s.response(id)
  const result = r["result"] as { isError?: boolean; structuredContent?: A } | undefined
  expect(result?.isError ?? false, JSON.stringify(r)).toBe(false)
  expect(result?.structuredContent, JSON.stringify(r)).toBeDefined()
  return result!.structuredContent!
}

/** Resolves with how the process ended, or fails when it is still running after `ms`. */
const exitWithin = <A>(exited: Promise<A>, ms: number, what: string): Promise<A> =>
  Promise.race([
    exited,
    new Promise<never>((_, fail) => setTimeout(() => fail(new Error(`${what}: still running after ${ms} ms`)), ms).unref())
  ])

// ---- 1. server + daemon + CLI on one data dir --------------------------------------------------------------

describe("the MCP server beside the daemon and the CLI", () => {
  it("serves bob's data dir while his daemon takes in mail and his CLI reads and sends: nothing lost, duplicated or busy",
    async () => {
      seen.length = 0
      const { alice, bob } = await newPair()
      const started = await reaper.start(bob.env, ["-i", "60"])
      expect(started.code, started.stderr).toBe(0)
      const daemonPid = started.pid!
      expect(isAlive(daemonPid)).toBe(true)

      const server = await startMcp(bob.env)
      const status = await tool<{ running: boolean; pid: number; transports: Array<string> }>(server, "daemon_status")
      expect(status).toMatchObject({ running: true, pid: daemonPid, transports: ["file"] })

      // Bob's agent waits; alice sends; the daemon takes it in and the server, following the log, returns it.
      const waiting = tool<WaitResult>(server, "wait_for_messages", { timeout_seconds: 50 })
      const firstId = await cliSend(alice, "bob", "first from alice")
      const first = await waiting
      expect(first.timed_out).toBe(false)
      expect(first.messages.map((m) => [m.id, m.content])).toEqual([[firstId, "first from alice"]])
      expect(first.messages[0]).toMatchObject({
        direction: "in",
        from: alice.uri,
        from_name: "alice",
        trust: { signature: "verified", sender_registered: true }
      })
      expect(first.marked_read).toBe(1)
      // With a daemon running the server only follows the log: the daemon took the message in.
      await eventually("bob's daemon to count the message it took in", async () => {
        const s = await tool<{ received: number }>(server, "daemon_status")
        return s.received === 1
      }, 20_000, 200)
      expect(readFileSync(daemonLogOf(bob), "utf8")).toContain(`received ${firstId} from ${alice.uri}`)

      // Bob's CLI sees the same message, already read (the server marked it).
      const inbox = await cliJson<Array<CliMessage>>(bob, "inbox")
      expect(inbox).toEqual([
        expect.objectContaining({ id: firstId, sender: alice.uri, content: "first from alice", delivery_status: "read", verified: true })
      ])

      // Now everything at once: alice sends 5, bob's server and bob's CLI read them, and bob sends 10 from
      // the server and 5 from the CLI, all in parallel.
      const aliceTexts = Array.from({ length: 5 }, (_, i) => `alice burst ${i}`)
      const mcpTexts = Array.from({ length: 10 }, (_, i) => `bob via mcp ${i}`)
      const cliTexts = Array.from({ length: 5 }, (_, i) => `bob via cli ${i}`)

      const aliceSends = Promise.all(aliceTexts.map((t) => cliSend(alice, "bob", t)))
      const mcpSends = Promise.all(mcpTexts.map((t) => tool<SendResult>(server, "send_message", { recipient: "alice", message: t })))
      const cliSends = Promise.all(cliTexts.map((t) => cliSend(bob, "alice", t)))
      const hasAll = (contents: ReadonlyArray<string>) => aliceTexts.every((t) => contents.includes(t))
      const serverReads = eventually("bob's server to read alice's 5 messages", async () => {
        const r = await tool<Listing>(server, "get_inbox", { limit: 100 })
        return hasAll(r.messages.map((m) => m.content)) ? r : undefined
      }, 90_000, 200)
      const cliReads = eventually("bob's CLI to read alice's 5 messages", async () => {
        const r = await cliJson<Array<CliMessage>>(bob, "inbox", "-n", "100")
        return hasAll(r.map((m) => m.content)) ? r : undefined
      }, 90_000, 200)

      const [aliceIds, mcpResults, cliIds, serverInbox, cliInbox] = await Promise.all([
        aliceSends,
        mcpSends,
        cliSends,
        serverReads,
        cliReads
      ])

      // Both readers saw the same six messages from alice, each once.
      const fromAlice = new Map([[firstId, "first from alice"], ...aliceIds.map((id, i) => [id, aliceTexts[i]!] as const)])
      expect(fromAlice.size).toBe(6)
      const serverSaw = serverInbox.messages.filter((m) => m.direction === "in")
      expect(serverSaw).toHaveLength(6)
      expect(new Map(serverSaw.map((m) => [m.id, m.content]))).toEqual(fromAlice)
      for (const m of serverSaw) expect(m.trust.signature).toBe("verified")
      expect(cliInbox).toHaveLength(6)
      expect(new Map(cliInbox.map((m) => [m.id, m.content]))).toEqual(fromAlice)
      for (const m of cliInbox) expect(m.verified).toBe(true)

      // Bob's 15 sends each made one message; none failed.
      for (const r of mcpResults) {
        expect(r.repeated).toBe(false)
        expect(r.delivery_status, r.note).not.toBe("failed")
      }
      const sentByBob = new Map([
        ...mcpResults.map((r, i) => [r.message_id, mcpTexts[i]!] as const),
        ...cliIds.map((id, i) => [id, cliTexts[i]!] as const)
      ])
      expect(sentByBob.size).toBe(15)

      // Alice gets exactly those 15: every id, every text, once, all verified.
      const fromBob = await eventually("alice to receive bob's 15 messages", async () => {
        const rows = (await receiveAndHistory(alice, "bob")).filter((m) => m.direction === "in")
        return rows.length >= 15 ? rows : undefined
      }, 90_000, 300)
      const again = (await receiveAndHistory(alice, "bob")).filter((m) => m.direction === "in")
      expect(again).toHaveLength(15)
      expect(fromBob).toHaveLength(15)
      expect(new Map(fromBob.map((m) => [m.id, m.content]))).toEqual(sentByBob)
      for (const m of fromBob) expect(m).toMatchObject({ sender: bob.uri, verified: true })

      // Alice's receipts come back to bob (his daemon takes them in): all 15 delivered, or read already.
      await eventually("bob's 15 messages to be delivered", async () => {
        const h = await tool<Listing>(server, "get_history", { participant: "alice", limit: 100 })
        const out = h.messages.filter((m) => m.direction === "out")
        return out.length === 15 && out.every((m) => m.delivery_status === "delivered" || m.delivery_status === "read")
      }, 60_000, 300)

      const verify = await cliOk(bob, "admin", "verify")
      expect(verify.stdout).toMatch(/^ok/)
      expect((await tool<{ running: boolean; pid: number }>(server, "daemon_status")).pid).toBe(daemonPid)

      const everything = [...seen, server.stderr(), readFileSync(daemonLogOf(bob), "utf8")].join("\n")
      expect(everything).not.toMatch(BUSY)
    }, TEST_TIMEOUT_MS)

  it("sends read receipts through the daemon when one runs (the server itself cannot sign here)", async () => {
    seen.length = 0
    const { alice, bob } = await newPair()
    // Bob's key needs a passphrase that only his daemon is given: a read receipt that reaches alice can only
    // have been signed and sent by the daemon, not by the MCP server.
    const passphrase = "bob's daemon knows this"
    const keys = await generateKeyPair({ name: "bob", email: "bob@skworld.io" }, passphrase)
    await installIdentity(bob, "bob", bob.uri, { writeConfig: false, keys })
    const recordFile = join(bob.dataDir, "identity", "identity.json")
    writeFileSync(recordFile, JSON.stringify({ ...JSON.parse(readFileSync(recordFile, "utf8")), passphrase_protected: true }))
    await registerPeer(alice, "bob", bob.uri, keys)

    const started = await reaper.start(bob.env, ["-i", "60"], { SKCHAT_PASSPHRASE: passphrase })
    expect(started.code, started.stderr).toBe(0)
    const server = await startMcp(bob.env)
    expect(await tool<WhoAmI>(server, "whoami")).toMatchObject({ initialized: true, passphrase_protected: true })
    expect(await callError(server, "send_message", { recipient: "alice", message: "cannot sign" }))
      .toMatch(/passphrase/i)

    const id = await cliSend(alice, "bob", "please read me")
    // The daemon takes it in and acknowledges it: alice sees it delivered.
    await eventually("alice to see her message delivered", async () => {
      const mine = (await receiveAndHistory(alice, "bob")).find((m) => m.id === id)
      return mine?.delivery_status === "delivered"
    }, 60_000, 300)

    const look = await tool<Listing>(server, "get_inbox", { mark_read: false })
    expect(look.messages.map((m) => [m.id, m.delivery_status])).toEqual([[id, "delivered"]])
    expect(look.marked_read).toBe(0)

    const read = await tool<Listing>(server, "get_inbox", {})
    expect(read.messages.map((m) => m.id)).toEqual([id])
    expect(read.marked_read).toBe(1)
    const again = await tool<Listing>(server, "get_inbox", { unread_only: true })
    expect(again.count).toBe(0)

    await eventually("alice to see her message read", async () => {
      const mine = (await receiveAndHistory(alice, "bob")).find((m) => m.id === id)
      return mine?.delivery_status === "read"
    }, 60_000, 300)
    expect([...seen, server.stderr()].join("\n")).not.toMatch(BUSY)
  }, TEST_TIMEOUT_MS)
})

// ---- 3. the server as a process -------------------------------------------------------------------------

describe("the MCP server's life as a process", () => {
  it("started as `node bin/skchat-mcp.cjs` serves tools, and no bad call brings it down", async () => {
    const { bob } = await newPair()
    const server = await startMcp(bob.env, { entry: "bin" })
    const tools = (await server.client.listTools()).tools.map((t) => t.name)
    for (const name of ["send_message", "get_inbox", "wait_for_messages", "whoami", "daemon_status"]) {
      expect(tools).toContain(name)
    }
    expect(await tool<WhoAmI>(server, "whoami")).toMatchObject({ uri: bob.uri, initialized: true, data_dir: bob.dataDir })

    // A tool error, an unknown tool, arguments of the wrong type, a call with nothing to accept.
    expect(await callError(server, "send_message", { recipient: "nobody-we-know", message: "hi" }))
      .toMatch(/unknown recipient "nobody-we-know"/)
    expect(await callError(server, "no_such_tool", {})).toMatch(/no_such_tool/)
    expect(await callError(server, "send_message", { recipient: 5 })).toMatch(/recipient/)
    expect(await callError(server, "mark_read", { message_ids: ["not-a-message"] })).toMatch(/not-a-message/)
    expect(await callError(server, "accept_call", { peer: "alice" }))
      .toMatch(/no incoming call from capauth:alice@skworld\.io is waiting|no daemon is running/)

    expect(isAlive(server.pid)).toBe(true)
    expect(await tool<WhoAmI>(server, "whoami")).toMatchObject({ uri: bob.uri, initialized: true })
  }, TEST_TIMEOUT_MS)

  it("ignores malformed lines on stdin, still answers, and exits with 0 when stdin closes", async () => {
    const { bob } = await newPair()
    const s = spawnRaw(bob.env)
    s.write("this is not JSON")
    s.write("{\"jsonrpc\":\"2.0\",\"id\":")
    s.write("[1, 2, 3]")
    const init = await handshake(s, 1)
    expect(init).toMatchObject({ serverInfo: { name: "skchat" } })
    s.write("{ still not json")
    expect(await rawToolOk<WhoAmI>(s, 2, "whoami")).toMatchObject({ uri: bob.uri, initialized: true })
    s.write(callTool(3, "no_such_tool"))
    const unknown = await s.response(3)
    expect(JSON.stringify(unknown)).toMatch(/no_such_tool/)
    s.write("\u0000\u0001 binary junk \uFFFD")
    expect(await rawToolOk<WhoAmI>(s, 4, "whoami")).toMatchObject({ uri: bob.uri })
    expect(isAlive(s.pid)).toBe(true)

    s.child.stdin.end()
    const exit = await exitWithin(s.exited, 30_000, "the server after its stdin closed")
    expect(exit, s.stderr()).toEqual({ code: 0, signal: null })
    expect(isAlive(s.pid)).toBe(false)
  }, TEST_TIMEOUT_MS)

  it("exits with 0 when its host hangs up before saying anything", async () => {
    const { bob } = await newPair()
    const s = spawnRaw(bob.env)
    // Let it open the store and start following the log first.
    await sleep(1500)
    expect(isAlive(s.pid)).toBe(true)
    s.child.stdin.end()
    const exit = await exitWithin(s.exited, 30_000, "the server after its stdin closed")
    expect(exit, s.stderr()).toEqual({ code: 0, signal: null })
    expect(s.stdout()).toBe("")
  }, TEST_TIMEOUT_MS)

  it("stops cleanly on SIGTERM while a wait_for_messages call is in progress", async () => {
    const { alice, bob } = await newPair()
    const s = spawnRaw(bob.env)
    await handshake(s, 1)
    expect(await rawToolOk<{ running: boolean }>(s, 2, "daemon_status")).toEqual({ running: false })
    s.write(callTool(3, "wait_for_messages", { timeout_seconds: 50 }))
    // Still waiting a moment later: nothing has been sent.
    await sleep(1500)
    expect(s.stdout()).not.toMatch(/"id":3\b/)
    expect(isAlive(s.pid)).toBe(true)

    s.child.kill("SIGTERM")
    const exit = await exitWithin(s.exited, 30_000, "the server after SIGTERM")
    expect(exit, s.stderr()).toEqual({ code: 0, signal: null })
    await waitGone(s.pid, 15_000)
    expect(isAlive(s.pid)).toBe(false)

    // Nothing left behind: the store checks out, and a new server on it takes in and returns a message.
    expect((await cliOk(bob, "admin", "verify")).stdout).toMatch(/^ok/)
    const next = await startMcp(bob.env)
    const waiting = tool<WaitResult>(next, "wait_for_messages", { timeout_seconds: 50 })
    const id = await cliSend(alice, "bob", "after the restart")
    const got = await waiting
    expect(got.timed_out).toBe(false)
    expect(got.messages.map((m) => [m.id, m.content])).toEqual([[id, "after the restart"]])
  }, TEST_TIMEOUT_MS)
})

// ---- 4. no identity yet -----------------------------------------------------------------------------------

describe("the MCP server before `skchat init`", () => {
  it("starts, says it is not initialized, refuses to send, and sees `skchat init` run meanwhile", async () => {
    const home = makeTempHome()
    homes.push(home)
    const server = await startMcp(home.env)

    const before = await tool<WhoAmI>(server, "whoami")
    expect(before).toMatchObject({ initialized: false, fingerprint: null, data_dir: home.dataDir })
    expect(before._text).toContain("run `skchat init`")
    expect(await callError(server, "send_message", { recipient: "capauth:bob@skworld.io", message: "hi" }))
      .toMatch(/run `skchat init`/)
    // Reading works (there is nothing to read).
    expect(await tool<Listing>(server, "get_inbox")).toMatchObject({ count: 0, messages: [] })
    expect(await tool<{ running: boolean }>(server, "daemon_status")).toMatchObject({ running: false })

    const init = await cliOk(home, "init", "--name", "agent")
    const printed = /^fingerprint:\s+([0-9A-F ]+)$/m.exec(init.stdout)
    expect(printed, init.stdout).not.toBeNull()
    const fingerprint = printed![1]!.replaceAll(" ", "").toLowerCase()

    // The same server, not restarted, now finds the key.
    const after = await tool<WhoAmI>(server, "whoami")
    const cliUri = (JSON.parse((await cliOk(home, "whoami", "--json")).stdout) as { uri: string }).uri
    expect(after).toMatchObject({ uri: cliUri, initialized: true, fingerprint, passphrase_protected: false })
    expect(after._text).not.toContain("run `skchat init`")
    // Sending now gets past our own key: what stops it is the recipient's (never registered), as it should be.
    const refused = await callError(server, "send_message", { recipient: "capauth:bob@skworld.io", message: "hi" })
    expect(refused).not.toMatch(/skchat init/)
    expect(refused).toMatch(/no usable public key for capauth:bob@skworld\.io/)
    expect(isAlive(server.pid)).toBe(true)
  }, TEST_TIMEOUT_MS)
})

// ---- 5. stdout is protocol only ----------------------------------------------------------------------------

describe("the MCP server's stdout", () => {
  it("carries nothing but JSON-RPC 2.0 messages, one per line", async () => {
    const { alice, bob } = await newPair()
    const s = spawnRaw(bob.env)
    const init = await handshake(s, 1)
    expect(init).toMatchObject({ protocolVersion: LATEST_PROTOCOL_VERSION, serverInfo: { name: "skchat" } })

    s.write({ jsonrpc: "2.0", id: 2, method: "tools/list" })
    const list = await s.response(2)
    const names = ((list["result"] as { tools: Array<{ name: string }> }).tools).map((t) => t.name).sort()
    expect(names).toEqual([
      "accept_call",
      "create_group",
      "daemon_status",
      "get_history",
      "get_inbox",
      "initiate_call",
      "list_peers",
      "list_threads",
      "mark_read",
      "search_messages",
      "send_file_p2p",
      "send_message",
      "wait_for_messages",
      "webrtc_status",
      "whoami"
    ])

    // Work that touches the store, the transport and the key, and a failing call, must not leak to stdout
    // either.
    s.write({ jsonrpc: "2.0", id: 3, method: "resources/subscribe", params: { uri: "skchat://inbox" } })
    await s.response(3)
    s.write(callTool(4, "wait_for_messages", { timeout_seconds: 50 }))
    const id = await cliSend(alice, "bob", "for the stdout test")
    const waited = await s.response(4, 60_000)
    expect(JSON.stringify(waited)).toContain(id)
    s.write(callTool(5, "send_message", { recipient: "alice", message: "reply" }))
    await s.response(5)
    s.write(callTool(6, "send_message", { recipient: "nobody-we-know", message: "x" }))
    expect(JSON.stringify(await s.response(6))).toContain("\"isError\":true")

    s.child.stdin.end()
    const exit = await exitWithin(s.exited, 30_000, "the server after its stdin closed")
    expect(exit, s.stderr()).toEqual({ code: 0, signal: null })

    const out = s.stdout()
    expect(out.endsWith("\n")).toBe(true)
    const lines = out.split("\n").slice(0, -1)
    expect(lines.length).toBeGreaterThanOrEqual(6)
    const ids: Array<unknown> = []
    for (const line of lines) {
      let message: Record<string, unknown>
      try {
        message = JSON.parse(line) as Record<string, unknown>
      } catch {
        throw new Error(`a stdout line that is not JSON: ${JSON.stringify(line)}`)
      }
      expect(message["jsonrpc"], line).toBe("2.0")
      if ("id" in message) {
        expect("result" in message || "error" in message, line).toBe(true)
        ids.push(message["id"])
      } else {
        expect(typeof message["method"], line).toBe("string")
        expect(String(message["method"]), line).toMatch(/^notifications\//)
      }
    }
    expect(ids.sort()).toEqual([1, 2, 3, 4, 5, 6])
  }, TEST_TIMEOUT_MS)
})
