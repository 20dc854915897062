import { Either } from "effect"
import { type ChatMessage, decodeChatMessage } from "./chat-message.js"
import { uuidv7 } from "./message-id.js"
import { isoFromMillis } from "./timestamp.js"
import { formatParseError } from "./validation-message.js"

export interface ComposeInput {
  readonly sender: string
  readonly recipient: string
  readonly content: string
  readonly contentType?: string | undefined
  readonly threadId?: string | undefined
  readonly replyToId?: string | undefined
  readonly ttl?: number | undefined
  /** False only for a deliberate plaintext send (it is then marked so wherever it is shown). */
  readonly encrypted?: boolean | undefined
  readonly metadata?: Readonly<Record<string, unknown>> | undefined
  /** INTEROP.md's `attachments` (a file transfer's offer: file-attachment.ts). */
  readonly attachments?: ReadonlyArray<unknown> | undefined
}

/** A new outbound message: fresh UUIDv7 id, `now` as timestamp, validated like any wire message. */
export const composeMessage = (input: ComposeInput, nowMillis: number): Either.Either<ChatMessage, string> =>
  decodeChatMessage({
    id: uuidv7(nowMillis),
    sender: input.sender,
    recipient: input.recipient,
    content: input.content,
    content_type: input.contentType ?? "text/plain",
    timestamp: isoFromMillis(nowMillis),
    thread_id: input.threadId ?? null,
    reply_to_id: input.replyToId ?? null,
    ttl: input.ttl ?? null,
    encrypted: input.encrypted ?? true,
    metadata: input.metadata ?? {},
    attachments: input.attachments ?? []
  }).pipe(Either.mapLeft(formatParseError))

/** When a TTL message stops existing: its own timestamp plus the TTL. */
export const expiresAtMillis = (timestampMs: number, ttl: number | null): number | null =>
  ttl === null ? null : timestampMs + ttl * 1000
