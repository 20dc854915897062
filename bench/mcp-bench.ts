/**
 * Issue #5's figures (the issue names none; the goals are ours): the MCP server as an agent's host drives
 * it, a real `skchat mcp` child process and the SDK's Client over stdio. Start-up until the tools are
 * listed; send_message round trips (sealed, handed to the file transport); and how soon a waiting
 * wait_for_messages returns once a peer's message lands in the inbox folder, with no daemon running (the
 * server takes the mail in itself).
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js"
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js"
import { Effect, ManagedRuntime } from "effect"
import { join } from "node:path"
import { performance } from "node:perf_hooks"
import { fileURLToPath } from "node:url"
import { ChatSystem } from "../src/actors/chat-system.js"
import { Courier } from "../src/actors/courier.js"
import { storeLayers } from "../src/entrypoints/store-layers.js"
import { makeChattingPair } from "../test/support/shared-folder.js"

const root = fileURLToPath(new URL("..", import.meta.url))

type Report = (line: string) => void

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const connect = async (env: NodeJS.ProcessEnv) => {
  const client = new Client({ name: "skchat-bench", version: "1.0.0" })
  await client.connect(new StdioClientTransport({
    command: process.execPath,
    args: [join(root, "bin", "skchat-mcp.cjs")],
    env: env as Record<string, string>,
    stderr: "inherit"
  }))
  return client
}

const call = async (client: Client, name: string, args: Record<string, unknown>) => {
  const r = await client.callTool({ name, arguments: args }) as CallToolResult
  if (r.isError) throw new Error(`${name}: ${JSON.stringify(r.content)}`)
  return r.structuredContent as Record<string, unknown>
}

export const mcpBenchmarks = async (options: { readonly quick: boolean; readonly report: Report }) => {
  const { quick, report } = options
  const pair = await makeChattingPair()
  const alice = ManagedRuntime.make(storeLayers(pair.alice.env).mail)
  try {
    // 1. Start-up: spawn until tools/list has answered, median of 5.
    const starts: Array<number> = []
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now()
      const client = await connect(pair.bob.env)
      await client.listTools()
      starts.push(performance.now() - t0)
      await client.close()
    }
    starts.sort((a, b) => a - b)
    report(`| MCP server start-up until tools/list answers (spawn included; median of 5) | ` +
      `${percentile(starts, 0.5).toFixed(0)} ms | ≤ 1 s |`)

    const bob = await connect(pair.bob.env)
    try {
      // 2. send_message round trips, one after another, then 16 in flight.
      const n = quick ? 100 : 500
      await call(bob, "send_message", { recipient: "alice", message: "warm-up" })
      const times: Array<number> = []
      for (let i = 0; i < n; i++) {
        const t0 = performance.now()
        await call(bob, "send_message", { recipient: "alice", message: `round trip ${i}` })
        times.push(performance.now() - t0)
      }
      times.sort((a, b) => a - b)
      const t0 = performance.now()
      await Promise.all(Array.from({ length: 16 }, async (_, lane) => {
        for (let i = lane; i < n; i += 16) await call(bob, "send_message", { recipient: "alice", message: `burst ${i}` })
      }))
      const rate = n / ((performance.now() - t0) / 1000)
      report(`| MCP send_message (sealed, handed to the file transport), ${n} calls one after another | ` +
        `p50 ${percentile(times, 0.5).toFixed(1)} ms, p95 ${percentile(times, 0.95).toFixed(1)} ms; ` +
        `${Math.round(rate)} calls/s with 16 in flight | p95 ≤ 50 ms |`)

      // 3. wait_for_messages wake-up: bob's agent waits; alice's message lands in the shared folder; the
      // time from alice's envelope being written to bob's call returning with it. No daemon: the server
      // takes the mail in itself, woken by the folder's notification.
      const chat = await alice.runPromise(ChatSystem)
      const courier = await alice.runPromise(Courier)
      await call(bob, "get_inbox", { limit: 1 })
      const rounds = quick ? 20 : 100
      const wakes: Array<number> = []
      for (let i = 0; i < rounds; i++) {
        const waiting = call(bob, "wait_for_messages", { timeout_seconds: 30 })
        // Let the call reach its wait before the message goes.
        await sleep(50)
        const sent = await alice.runPromise(Effect.flatMap(
          chat.send({ recipient: pair.bob.uri, content: `wake ${i}` }),
          (r) => courier.deliverSoon(r.message.id)
        ))
        const written = performance.now()
        if (sent.sent !== 1) throw new Error("alice's message was not handed to the transport")
        const got = await waiting
        if (got["count"] !== 1) throw new Error(`expected one message, got ${JSON.stringify(got)}`)
        wakes.push(performance.now() - written)
      }
      wakes.sort((a, b) => a - b)
      report(`| MCP wait_for_messages wake-up: from the envelope written into the inbox folder to the waiting call ` +
        `returning it, no daemon (${rounds} rounds) | p50 ${percentile(wakes, 0.5).toFixed(0)} ms, p95 ` +
        `${percentile(wakes, 0.95).toFixed(0)} ms | p95 ≤ 100 ms |`)
    } finally {
      await bob.close()
    }
  } finally {
    await alice.dispose()
    pair.remove()
  }
}
