import { Cause, Clock, Effect, Either, Exit, Layer, ManagedRuntime } from "effect"
import { ChatSystem, type ReceiveOutcome, type SendInput, type SendResult } from "../actors/chat-system.js"
import { type ChatMessage, decodeChatMessage } from "../domain/chat-message.js"
import { InvalidInput } from "../domain/errors.js"
import { formatParseError } from "../domain/validation-message.js"
import { ChatQueries } from "../projections/chat-queries.js"
import type { MessageView, RejectionView, ThreadView } from "../projections/message-queries.js"
import { storeLayers } from "./store-layers.js"

/**
 * The library face of skchat, shaped like the Python `ChatHistory`: store a message, search, read a
 * conversation. Writes still go through ChatSystem, so a library user's store is the same event log
 * the CLI reads.
 */
export class ChatHistory extends Effect.Service<ChatHistory>()("skchat/ChatHistory", {
  effect: Effect.gen(function*() {
    const chat = yield* ChatSystem
    const queries = yield* ChatQueries
    const now = Clock.currentTimeMillis

    /** Stores a message in wire form (validated like one from a peer). Already-stored ids are skipped. */
    const storeMessage = (message: ChatMessage | Readonly<Record<string, unknown>>) =>
      Effect.gen(function*() {
        const decoded = decodeChatMessage(message)
        if (Either.isLeft(decoded)) return yield* new InvalidInput({ message: formatParseError(decoded.left) })
        yield* chat.recordAll([decoded.right])
        return decoded.right.id
      })

    /** Reads expire due TTL messages first, so nothing past its deadline is ever returned. */
    const read = <A>(f: (now: number) => A) =>
      Effect.zipRight(chat.expireDue(), Effect.map(now, f))

    return {
      identity: chat.identity,
      send: (input: SendInput) => Effect.map(chat.send(input), (r) => r.message),
      /** Sends and returns the sealed envelope too (what a transport will carry). */
      sendSealed: (input: SendInput) => chat.send(input),
      /** Opens envelope files' bytes: each accepted, a duplicate, or rejected with a reason. */
      receive: (envelopes: ReadonlyArray<Uint8Array | string>) =>
        chat.receive(envelopes.map((e) => (typeof e === "string" ? new TextEncoder().encode(e) : e))),
      rejections: (limit = 20) => read(() => queries.rejections(limit)),
      /** The sealed envelope of a sent message still waiting for a transport (undefined once gone). */
      outboundEnvelope: (messageId: string) => chat.outboundEnvelope(messageId),
      storeMessage,
      storeMessages: (messages: ReadonlyArray<ChatMessage>) => chat.recordAll(messages),
      inbox: (limit = 20, threadId?: string) => read((t) => queries.inbox(t, limit, { threadId })),
      conversation: (participant: string, limit = 30) => read((t) => queries.conversation(t, participant, limit)),
      search: (query: string, limit = 10) => read((t) => queries.search(t, query, limit)),
      threads: (limit = 20) => read(() => queries.threads(limit)),
      outbox: (limit = 100) => read((t) => queries.outbox(t, limit)),
      get: (id: string) => read((t) => queries.byId(t, id))
    }
  })
}) {}

export interface HistoryOptions {
  /** The skchat data dir (default: `$SKCHAT_HOME`, else `~/.skchat`). */
  readonly dataDir?: string
  /** The home directory the skcapstone identity and peers are read from (default: `$HOME`). */
  readonly home?: string
  /** Who "I" am (default: resolved as the CLI does). */
  readonly identity?: string
}

/** Every layer a ChatHistory needs, over the store the options name. */
export const historyLayer = (options: HistoryOptions = {}) => {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...(options.home === undefined ? {} : { HOME: options.home }),
    ...(options.dataDir === undefined ? {} : { SKCHAT_HOME: options.dataDir }),
    ...(options.identity === undefined ? {} : { SKCHAT_IDENTITY: options.identity })
  }
  return ChatHistory.Default.pipe(Layer.provideMerge(storeLayers(env).store))
}

/** Promise API for plain JavaScript/TypeScript callers. Call `close()` when done. */
export const openHistory = async (options: HistoryOptions = {}) => {
  const runtime = ManagedRuntime.make(historyLayer(options))
  // Rejects with the error itself (InvalidInput, StoreError, ...), not Effect's FiberFailure wrapper,
  // so callers can test its type and show its message.
  const run = async <A, E>(effect: Effect.Effect<A, E, ChatHistory>): Promise<A> => {
    const exit = await runtime.runPromiseExit(effect)
    if (Exit.isSuccess(exit)) return exit.value
    throw Cause.squash(exit.cause)
  }
  const history = await run(ChatHistory)
  return {
    identity: history.identity,
    send: (input: SendInput): Promise<ChatMessage> => run(history.send(input)),
    sendSealed: (input: SendInput): Promise<SendResult> => run(history.sendSealed(input)),
    receive: (envelopes: ReadonlyArray<Uint8Array | string>): Promise<ReadonlyArray<ReceiveOutcome>> =>
      run(history.receive(envelopes)),
    rejections: (limit?: number): Promise<ReadonlyArray<RejectionView>> => run(history.rejections(limit)),
    outboundEnvelope: (messageId: string): Promise<string | undefined> => run(history.outboundEnvelope(messageId)),
    storeMessage: (message: ChatMessage | Readonly<Record<string, unknown>>): Promise<string> =>
      run(history.storeMessage(message)),
    inbox: (limit?: number, threadId?: string): Promise<ReadonlyArray<MessageView>> =>
      run(history.inbox(limit, threadId)),
    conversation: (participant: string, limit?: number): Promise<ReadonlyArray<MessageView>> =>
      run(history.conversation(participant, limit)),
    search: (query: string, limit?: number): Promise<ReadonlyArray<MessageView>> => run(history.search(query, limit)),
    threads: (limit?: number): Promise<ReadonlyArray<ThreadView>> => run(history.threads(limit)),
    close: (): Promise<void> => runtime.dispose()
  }
}
