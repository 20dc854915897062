import { Effect } from "effect"
import type { LiveCall } from "../../actors/call-manager.js"
import { askDaemon } from "../../adapters/daemon-socket.js"
import { PeerRegistry } from "../../adapters/peer-registry.js"
import { SkchatPaths } from "../../adapters/skchat-paths.js"
import { ChatQueries } from "../../projections/chat-queries.js"
import type { CallView } from "../../projections/direct-queries.js"
import { requestDaemon } from "../daemon-request.js"
import { startTransfer } from "../start-transfer.js"
import { agentTool } from "./agent-tool.js"
import * as schema from "./tool-schemas.js"

/**
 * Direct calls and file transfer for agents (issue #6): the same requests the CLI's `call` and `send-file`
 * make. Calls live in the daemon, so calling needs one running; a file goes over the transports without.
 */

const resolvePeer = (nameOrUri: string) => Effect.flatMap(PeerRegistry, (peers) => peers.resolve(nameOrUri))

type CallState = "offering" | "answering" | "connecting" | "connected" | "closed" | "failed" | "timed_out"

/** The daemon's state name for a call, as the tools' schema spells it. */
const stateOf = (live: string | undefined, logged: CallView["state"] | undefined): CallState => {
  if (live !== undefined && live.startsWith("negotiating.")) return live.slice("negotiating.".length) as CallState
  if (live === "timedOut") return "timed_out"
  if (live === "connected" || live === "closed" || live === "failed") return live
  if (logged === "connected") return "connected"
  if (logged === "ringing") return "answering"
  if (logged === "calling") return "offering"
  return "closed"
}

const callReply = (call: LiveCall) => ({
  structured: { call_id: call.call_id ?? "", peer: call.peer, state: stateOf(call.state, undefined) },
  text: `call ${call.call_id ?? ""} with ${call.peer}: ${stateOf(call.state, undefined)}`
})

const onCall = (verb: string) => (args: { readonly peer: string }) =>
  Effect.gen(function*() {
    const peer = yield* resolvePeer(args.peer)
    const { dataDir } = yield* SkchatPaths
    return callReply(yield* requestDaemon<LiveCall>(dataDir, `${verb} ${peer}`))
  })

export const directTools = [
  agentTool({
    name: "webrtc_status",
    title: "Direct connections",
    description: "Direct WebRTC calls with peers not ended yet, and their state. While a call is connected, messages " +
      "to that peer travel over it.",
    schema: schema.webrtcStatus,
    annotations: { readOnlyHint: true, openWorldHint: false },
    run: (args) =>
      Effect.gen(function*() {
        const only = args.peer === undefined ? undefined : yield* resolvePeer(args.peer)
        const { dataDir } = yield* SkchatPaths
        const live = (yield* Effect.promise(() => askDaemon(dataDir, "calls"))) as ReadonlyArray<LiveCall> | undefined
        const connections = (yield* ChatQueries).openCalls()
          .filter((c) => only === undefined || c.peer === only)
          .map((c) => ({
            peer: c.peer,
            call_id: c.call_id,
            direction: c.direction,
            state: stateOf(live?.find((l) => l.call_id === c.call_id)?.state, c.state),
            since: c.connected_at ?? c.started_at
          }))
        return {
          structured: { connections, daemon_running: live !== undefined },
          text: connections.length === 0
            ? "no direct calls"
            : connections.map((c) => `${c.peer}: ${c.state} (call ${c.call_id}, since ${c.since})`).join("\n")
        }
      })
  }),
  agentTool({
    name: "initiate_call",
    title: "Connect directly to a peer",
    description: "Call a peer over a direct WebRTC data channel (needs `skchat daemon` running). Returns at once; " +
      "the daemon negotiates. Check webrtc_status for `connected`.",
    schema: schema.initiateCall,
    annotations: { openWorldHint: true },
    run: onCall("call")
  }),
  agentTool({
    name: "accept_call",
    title: "Accept a direct connection",
    description: "Accept a peer's incoming call (webrtc_status shows it as `answering`).",
    schema: schema.acceptCall,
    annotations: { openWorldHint: true },
    run: onCall("call-accept")
  }),
  agentTool({
    name: "send_file_p2p",
    title: "Send a file",
    description: "Send a file to a peer: over a connected direct call when there is one, else as sealed chunks over " +
      "the transports. Each chunk is sealed; the receiver checks the whole file's sha256 and finds it in its files " +
      "folder. Returns once the transfer has started.",
    schema: schema.sendFileP2p,
    annotations: { openWorldHint: true },
    run: (args) =>
      Effect.gen(function*() {
        const peer = yield* resolvePeer(args.peer)
        const { dataDir } = yield* SkchatPaths
        const { progress: p } = yield* startTransfer(dataDir, peer, args.path, args.description)
        return {
          structured: {
            transfer_id: p.transfer_id,
            message_id: p.message_id,
            peer: p.peer,
            file_name: p.name,
            size: p.size,
            sha256: p.sha256,
            state: p.state,
            route: p.route
          },
          text: `sending ${p.name} (${p.size} bytes, sha256 ${p.sha256}) to ${p.peer} (${p.route}); transfer ${p.transfer_id}`
        }
      })
  })
]
