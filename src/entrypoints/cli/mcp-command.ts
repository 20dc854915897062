import { Command } from "@effect/cli"
import { Effect } from "effect"

/**
 * `skchat mcp`: the MCP server for agents, on stdin/stdout. Loaded only when asked for: the MCP SDK and
 * zod stay out of every other command's start-up.
 */
export const mcpCommand = Command.make("mcp", {}, () =>
  Effect.promise(() => import("../mcp/mcp-server.js").then((m) => m.runMcpServer(process.env)))
).pipe(Command.withDescription(
  "run the MCP server on stdin/stdout so an AI agent (Claude Code, Cursor, ...) can chat (see README: MCP)"
))
