import { Effect } from "effect"
import { InvalidInput } from "../../domain/errors.js"
import { agentTool } from "./agent-tool.js"
import * as schema from "./tool-schemas.js"

/**
 * Tools whose capabilities are not built yet, registered now with their final schemas so that agents and
 * their hosts can be configured once. Each answers with a tool error saying so — never a pretend success.
 */
const notYet = (what: string, meanwhile: string) =>
  Effect.fail(new InvalidInput({ message: `not available yet: ${what} is not in this version of skchat; ${meanwhile}` }))

const directMeanwhile = "send_message reaches the peer over the configured transports meanwhile"

export const laterTools = [
  agentTool({
    name: "create_group",
    title: "Create a group",
    description: "Create a group chat with registered peers. (Not available yet in this version.)",
    schema: schema.createGroup,
    annotations: { openWorldHint: true },
    run: () => notYet("group chat", "message each member with send_message meanwhile")
  }),
  agentTool({
    name: "webrtc_status",
    title: "Direct connections",
    description: "Direct WebRTC connections to peers and their state. (Not available yet in this version.)",
    schema: schema.webrtcStatus,
    annotations: { readOnlyHint: true, openWorldHint: false },
    run: () => notYet("direct WebRTC connections", directMeanwhile)
  }),
  agentTool({
    name: "initiate_call",
    title: "Connect directly to a peer",
    description: "Open a direct WebRTC data channel to a peer. (Not available yet in this version.)",
    schema: schema.initiateCall,
    annotations: { openWorldHint: true },
    run: () => notYet("direct WebRTC connections", directMeanwhile)
  }),
  agentTool({
    name: "accept_call",
    title: "Accept a direct connection",
    description: "Accept a peer's incoming WebRTC call. (Not available yet in this version.)",
    schema: schema.acceptCall,
    annotations: { openWorldHint: true },
    run: () => notYet("direct WebRTC connections", directMeanwhile)
  }),
  agentTool({
    name: "send_file_p2p",
    title: "Send a file directly",
    description: "Send a file to a peer over a direct connection, sealed and checked. (Not available yet in this version.)",
    schema: schema.sendFileP2p,
    annotations: { openWorldHint: true },
    run: () => notYet("file transfer", "send_message carries text only meanwhile")
  })
]
