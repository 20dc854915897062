import { randomUUID } from "node:crypto"
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import type { Chatter } from "./shared-folder.js"

/** Envelopes as a legacy (Python) SKComm node writes them: unsigned, plain JSON, into a peer's inbox folder. */

/** A chat message as a legacy SKComm node sends it (INTEROP.md), timestamped now so it is not expired. */
export const legacyChatMessage = (from: Pick<Chatter, "uri">, to: Pick<Chatter, "uri">, content: string) =>
  JSON.stringify({
    id: randomUUID(),
    sender: from.uri,
    recipient: to.uri,
    content,
    content_type: "text/markdown",
    timestamp: new Date().toISOString(),
    thread_id: null,
    reply_to_id: null,
    ttl: null,
    delivery_status: "pending",
    encrypted: false,
    metadata: {},
    attachments: []
  })

/** Writes an unsigned legacy SKComm envelope into `to`'s inbox as `<uuid>.skc.json`; returns its id. */
export const writeLegacyEnvelope = (
  from: Pick<Chatter, "uri">,
  to: Pick<Chatter, "uri" | "inbox">,
  content: string,
  compressed: boolean
): string => {
  const envelopeId = randomUUID()
  const envelope = {
    skcomm_version: "1.0.0",
    envelope_id: envelopeId,
    sender: from.uri,
    recipient: to.uri,
    payload: { content, content_type: "text", encrypted: false, compressed, signature: null },
    routing: { mode: "failover", preferred_transports: [], retry_max: 5, retry_backoff: [5, 15, 60, 300, 900],
      ttl: 86400, ack_requested: true },
    metadata: { thread_id: null, in_reply_to: null, urgency: "normal", created_at: new Date().toISOString(),
      expires_at: null, attempt: 0, delivered_via: null }
  }
  mkdirSync(to.inbox, { recursive: true })
  writeFileSync(join(to.inbox, `${envelopeId}.skc.json`), JSON.stringify(envelope, null, 2))
  return envelopeId
}
