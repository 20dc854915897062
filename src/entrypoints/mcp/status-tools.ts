import { Effect } from "effect"
import { IdentityKeys } from "../../adapters/identity-keys.js"
import { LocalIdentity } from "../../adapters/local-identity.js"
import { PeerRegistry } from "../../adapters/peer-registry.js"
import { SkchatPaths } from "../../adapters/skchat-paths.js"
import { formatFingerprint } from "../../domain/safety-number.js"
import { daemonStatusOf } from "../daemon.js"
import { peerKeyState } from "../peer-key-state.js"
import { agentTool } from "./agent-tool.js"
import * as schema from "./tool-schemas.js"

const text = (v: unknown): string | null =>
  v === undefined || v === null ? null : typeof v === "string" ? v : JSON.stringify(v)

export const statusTools = [
  agentTool({
    name: "list_peers",
    title: "List peers",
    description: "The registered peers you can message: name, capauth URI, type (human or agent), the " +
      "fingerprint computed from their key and whether that key is pinned.",
    schema: schema.listPeers,
    annotations: { readOnlyHint: true, openWorldHint: false },
    run: () =>
      Effect.gen(function*() {
        const { peers, unreadable } = (yield* PeerRegistry).list()
        const listed = yield* Effect.forEach(peers, (p) =>
          Effect.map(peerKeyState(p), (key) => ({
            name: p.fileName,
            display_name: p.name,
            uri: p.uri,
            entity_type: p.entity_type ?? null,
            handle: p.handle ?? null,
            trust_level: text(p.trust_level),
            fingerprint: key.fingerprint,
            key_state: key.state
          })))
        const lines = listed.map((p) =>
          `${p.name} <${p.uri}> ${p.entity_type ?? ""} · key ${
            p.fingerprint === null ? "none" : formatFingerprint(p.fingerprint)
          } (${p.key_state})`
        )
        return {
          structured: { peers: listed, unreadable: [...unreadable] },
          text: [
            listed.length === 0 ? "No registered peers." : `${listed.length} peer(s):`,
            ...lines,
            ...unreadable.map((u) => `skipped ${u.file}: ${u.reason}`)
          ].join("\n")
        }
      })
  }),

  agentTool({
    name: "whoami",
    title: "Who am I",
    description: "Your identity: capauth URI, key fingerprint, and the data dir this server uses.",
    schema: schema.whoami,
    annotations: { readOnlyHint: true, openWorldHint: false },
    run: () =>
      Effect.gen(function*() {
        const identity = yield* LocalIdentity
        const record = yield* Effect.flatMap(IdentityKeys, (keys) => keys.record())
        const { dataDir } = yield* SkchatPaths
        const structured = {
          uri: identity.uri,
          source: identity.source,
          initialized: record !== undefined,
          fingerprint: record?.fingerprint ?? null,
          passphrase_protected: record?.passphrase_protected ?? null,
          data_dir: dataDir
        }
        return {
          structured,
          text: `${identity.uri} (from ${identity.source}); key ${
            record === undefined ? "none yet: run `skchat init`" : formatFingerprint(record.fingerprint)
          }; data dir ${dataDir}`
        }
      })
  }),

  agentTool({
    name: "daemon_status",
    title: "Daemon status",
    description: "Whether the skchat daemon runs for this data dir, and what it has done. Without one, this " +
      "server takes in and sends mail itself while it runs.",
    schema: schema.daemonStatus,
    annotations: { readOnlyHint: true, openWorldHint: false },
    run: () =>
      Effect.gen(function*() {
        const { dataDir } = yield* SkchatPaths
        const reply = yield* Effect.promise(() => daemonStatusOf(dataDir))
        if (reply === undefined) {
          return {
            structured: { running: false },
            text: "The daemon is not running (this server takes in and sends mail itself meanwhile)."
          }
        }
        const structured = {
          running: true,
          pid: reply.pid,
          started_at: reply.started_at,
          interval: reply.interval,
          log_file: reply.log_file,
          transports: [...reply.transports],
          received: reply.received,
          rejected: reply.rejected,
          sent: reply.sent,
          last_error: reply.last_error
        }
        return {
          structured,
          text: `The daemon is running (pid ${reply.pid}, since ${reply.started_at}; transports ${
            reply.transports.join(", ") || "none"
          }; received ${reply.received}, sent ${reply.sent}, rejected ${reply.rejected}` +
            `${reply.last_error === null ? "" : `; last error: ${reply.last_error}`}).`
        }
      })
  })
]
