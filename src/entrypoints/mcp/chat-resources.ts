import { type McpServer, ResourceTemplate } from "@modelcontextprotocol/sdk/server/mcp.js"
import {
  ErrorCode,
  McpError,
  type ReadResourceResult,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema
} from "@modelcontextprotocol/sdk/types.js"
import { Clock, Effect, Exit } from "effect"
import { ChatSystem } from "../../actors/chat-system.js"
import { ChatQueries } from "../../projections/chat-queries.js"
import type { MessageView } from "../../projections/message-queries.js"
import { agentMessage, readers } from "./agent-message.js"
import { type AgentRuntime, type AgentServices, failureLine } from "./agent-runtime.js"

export const INBOX_URI = "skchat://inbox"
export const threadUri = (threadId: string) => `skchat://thread/${encodeURIComponent(threadId)}`

/** How many messages a resource holds: the newest. */
const RESOURCE_MESSAGES = 50

/** Messages as a resource's JSON: the same agent shape (and trust marks) as the tools'. Reading marks nothing read. */
const messagesJson = (uri: string, rows: (now: number) => ReadonlyArray<MessageView> | undefined) =>
  Effect.gen(function*() {
    yield* Effect.flatMap(ChatSystem, (chat) => chat.expireDue())
    const found = rows(yield* Clock.currentTimeMillis)
    if (found === undefined) return undefined
    const reader = yield* readers
    const result: ReadResourceResult = {
      contents: [{
        uri,
        mimeType: "application/json",
        text: JSON.stringify({ messages: found.map((m) => agentMessage(m, reader)) }, null, 2)
      }]
    }
    return result
  })

const read = async (
  runtime: AgentRuntime,
  uri: string,
  effect: Effect.Effect<ReadResourceResult | undefined, unknown, AgentServices>
) => {
  const exit = await runtime.run(effect)
  if (Exit.isFailure(exit)) throw new McpError(ErrorCode.InternalError, failureLine(exit.cause))
  if (exit.value === undefined) throw new McpError(ErrorCode.InvalidParams, `no such resource: ${uri}`)
  return exit.value
}

/**
 * `skchat://inbox` (the newest received messages) and `skchat://thread/{id}` (one thread, both
 * directions), both newest first. A client may subscribe to either: `notifyArrivals` then sends
 * `notifications/resources/updated` for the subscribed ones new messages touch. That is a hint only;
 * wait_for_messages is how an agent reliably learns of new mail.
 */
export const registerChatResources = (server: McpServer, runtime: AgentRuntime) => {
  server.registerResource("inbox", INBOX_URI, {
    title: "Inbox",
    description: "The newest received messages (JSON, with each message's signature status and trust notice)",
    mimeType: "application/json"
  }, (uri) =>
    read(runtime, uri.href, Effect.flatMap(ChatQueries, (queries) =>
      messagesJson(uri.href, (now) => queries.inbox(now, RESOURCE_MESSAGES)))))

  server.registerResource("thread", new ResourceTemplate("skchat://thread/{id}", {
    list: async () => {
      const exit = await runtime.run(Effect.map(ChatQueries, (q) => q.threads(200)))
      if (Exit.isFailure(exit)) throw new McpError(ErrorCode.InternalError, failureLine(exit.cause))
      return {
        resources: exit.value.map((t) => ({
          uri: threadUri(t.id),
          name: t.title,
          description: `${t.message_count} message(s) with ${t.participants.join(", ")}`,
          mimeType: "application/json"
        }))
      }
    }
  }), {
    title: "Thread",
    description: "One thread's messages, both directions (JSON)",
    mimeType: "application/json"
  }, (uri, variables) => {
    const id = decodeURIComponent(String(variables["id"] ?? ""))
    return read(runtime, uri.href, Effect.flatMap(ChatQueries, (queries) =>
      messagesJson(uri.href, (now) => {
        const rows = queries.thread(now, id, RESOURCE_MESSAGES)
        return rows.length === 0 && !queries.hasThread(id) ? undefined : rows
      })))
  })

  const subscribed = new Set<string>()
  server.server.setRequestHandler(SubscribeRequestSchema, (request) => {
    subscribed.add(request.params.uri)
    return {}
  })
  server.server.setRequestHandler(UnsubscribeRequestSchema, (request) => {
    subscribed.delete(request.params.uri)
    return {}
  })

  /** New messages arrived: tell the client about the subscribed resources they changed. */
  const notifyArrivals = (arrivals: ReadonlyArray<MessageView>) =>
    Effect.promise(async () => {
      const touched = new Set([INBOX_URI, ...arrivals.flatMap((m) => (m.thread_id === null ? [] : [threadUri(m.thread_id)]))])
      for (const uri of touched) {
        if (subscribed.has(uri)) await server.server.sendResourceUpdated({ uri }).catch(() => {})
      }
    })
  return { notifyArrivals }
}
