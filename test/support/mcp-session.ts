import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js"
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js"
import { join } from "node:path"
import { expect } from "vitest"
import type * as z from "zod"
import type * as tools from "../../src/entrypoints/mcp/tool-schemas.js"
import { isAlive, waitGone } from "./daemon-process.js"
import { cliBin, repoRoot } from "./temp-home.js"

/** The MCP server as an MCP host configures it: a plain `node <entry>` command. */
export const mcpBin = join(repoRoot, "bin", "skchat-mcp.cjs")

/** What the tools answer, as their output schemas say. */
type Output<T extends { readonly output: z.ZodRawShape }> = z.infer<z.ZodObject<T["output"]>>
export type AgentMessage = z.infer<typeof tools.agentMessageSchema>
export type Listing = Output<typeof tools.getInbox>
export type WaitResult = Output<typeof tools.waitForMessages>
export type SendResult = Output<typeof tools.sendMessage>
export type WhoAmI = Output<typeof tools.whoami>

/** A real `skchat mcp` child process driven by the MCP SDK's own Client over stdio. */
export interface McpSession {
  readonly client: Client
  readonly pid: number
  /** Everything the server wrote on stderr so far. */
  readonly stderr: () => string
  /** Closes the client (stdin ends) and waits until the server process is gone. */
  readonly close: () => Promise<void>
}

const open = new Set<McpSession>()

/**
 * Starts the server on the data dir of `env` (its HOME and SKCHAT_HOME), as `skchat mcp` or, with
 * `entry: "bin"`, as `node bin/skchat-mcp.cjs`.
 */
export const startMcp = async (
  env: NodeJS.ProcessEnv,
  options: { readonly entry?: "skchat mcp" | "bin" } = {}
): Promise<McpSession> => {
  const args = options.entry === "bin" ? [mcpBin] : [cliBin, "mcp"]
  const transport = new StdioClientTransport({
    command: process.execPath,
    args,
    env: env as Record<string, string>,
    stderr: "pipe"
  })
  let errors = ""
  transport.stderr?.on("data", (chunk: Buffer) => {
    errors += chunk.toString("utf8")
  })
  const client = new Client({ name: "skchat-tests", version: "1.0.0" })
  await client.connect(transport)
  const pid = transport.pid
  if (pid === null) throw new Error("the MCP server did not start")
  const session: McpSession = {
    client,
    pid,
    stderr: () => errors,
    close: async () => {
      open.delete(session)
      await client.close()
      await waitGone(pid, 15_000)
    }
  }
  open.add(session)
  return session
}

/** afterEach: closes every session a test left open and checks no server outlives it. */
export const closeAllMcp = async (): Promise<void> => {
  const left = [...open]
  await Promise.all(left.map((s) => s.close().catch(() => {})))
  for (const s of left) expect(isAlive(s.pid), `MCP server ${s.pid} still running`).toBe(false)
}

/** The text of a tool result (all its text parts). */
export const textOf = (r: CallToolResult): string =>
  r.content.map((c) => (c.type === "text" ? c.text : "")).join("\n")

/** Calls a tool that must succeed; returns its structured result (and the text). */
export const callOk = async <A = Record<string, unknown>>(
  s: McpSession,
  name: string,
  args: Record<string, unknown> = {}
): Promise<A & { readonly _text: string }> => {
  const r = await s.client.callTool({ name, arguments: args }, undefined, { timeout: 90_000 }) as CallToolResult
  expect(r.isError ?? false, `${name} failed: ${textOf(r)}\nserver stderr:\n${s.stderr()}`).toBe(false)
  expect(r.structuredContent, `${name} returned no structuredContent`).toBeDefined()
  return { ...(r.structuredContent as A), _text: textOf(r) }
}

/** Calls a tool that must fail as a tool error (never a protocol error or a crash); returns its one line. */
export const callError = async (s: McpSession, name: string, args: Record<string, unknown> = {}): Promise<string> => {
  const r = await s.client.callTool({ name, arguments: args }, undefined, { timeout: 90_000 }) as CallToolResult
  expect(r.isError, `${name} was expected to fail but returned: ${JSON.stringify(r.structuredContent)}`).toBe(true)
  const text = textOf(r)
  expect(text).not.toMatch(/^\s+at /m)
  return text
}
