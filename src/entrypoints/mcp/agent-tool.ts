import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js"
import type { CallToolResult, ToolAnnotations } from "@modelcontextprotocol/sdk/types.js"
import { Effect, Exit } from "effect"
import type * as z from "zod"
import { type AgentRuntime, type AgentServices, failureLine } from "./agent-runtime.js"

/** A tool's answer: the structured result (matching its output schema) and a short text for a model. */
export interface ToolReply<O> {
  readonly structured: O
  readonly text: string
}

export interface AgentTool {
  readonly name: string
  readonly register: (server: McpServer, runtime: AgentRuntime) => void
}

type Args<I extends z.ZodRawShape> = z.infer<z.ZodObject<I>>

/**
 * One MCP tool over the store. Whatever fails (bad input the schema let through, an unknown peer, the store)
 * comes back as a tool error (`isError`) with one line an agent can act on; the server never goes down with it.
 */
export const agentTool = <I extends z.ZodRawShape, O extends z.ZodRawShape>(spec: {
  readonly name: string
  readonly title: string
  readonly description: string
  readonly schema: { readonly input: I; readonly output: O }
  readonly annotations?: ToolAnnotations
  readonly run: (args: Args<I>) => Effect.Effect<ToolReply<Args<O>>, unknown, AgentServices>
}): AgentTool => ({
  name: spec.name,
  register: (server, runtime) => {
    server.registerTool(spec.name, {
      title: spec.title,
      description: spec.description,
      inputSchema: spec.schema.input,
      outputSchema: spec.schema.output,
      ...(spec.annotations === undefined ? {} : { annotations: spec.annotations })
    }, (async (args: Args<I>, extra: { signal: AbortSignal }): Promise<CallToolResult> => {
      const exit = await runtime.run(Effect.suspend(() => spec.run(args)), extra.signal)
      return Exit.isSuccess(exit)
        ? {
          content: [{ type: "text", text: exit.value.text }],
          structuredContent: exit.value.structured as Record<string, unknown>
        }
        : { content: [{ type: "text", text: failureLine(exit.cause) }], isError: true }
    }) as never)
  }
})
