import { askDaemon } from "./daemon-socket.js"
import { PassedOver, type Transport } from "./transport.js"

/** The daemon's answer to `relay`: the envelope went over the call's channel, or it did not. */
export interface RelayReply {
  readonly ok?: boolean
  readonly passed?: string
}

/**
 * The direct route as seen from a process other than the daemon (a CLI command, the MCP server): calls and
 * their channels live in the daemon, so an envelope for a peer whose call the log shows connected is handed
 * to it over its socket. Anything else (no such call, no daemon, the channel refused it) is passed over,
 * and the envelope goes by the next transport.
 */
export const daemonRelay = (dataDir: string, connected: (recipient: string) => boolean): Transport => ({
  name: "direct",
  priority: 0,
  watchPaths: [],
  send: async (envelope) => {
    if (!connected(envelope.recipient)) throw new PassedOver(`no direct call with ${envelope.recipient}`)
    const reply = await askDaemon(dataDir, `relay ${JSON.stringify(envelope)}`, 15_000) as RelayReply | undefined
    if (reply?.ok !== true) throw new PassedOver(reply?.passed ?? "no daemon holds the call")
  },
  poll: async () => []
})
