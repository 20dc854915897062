import { Clock, Effect, Either } from "effect"
import { availableParallelism } from "node:os"
import { createActor } from "xstate"
import { ActorInspector } from "../adapters/actor-inspector.js"
import { type ContentVault, makeContentVault } from "../adapters/content-vault.js"
import { type ChainCheck, makeEventLog } from "../adapters/event-log.js"
import { LocalIdentity } from "../adapters/local-identity.js"
import { SqliteDatabase, storeError } from "../adapters/sqlite-database.js"
import type { ChatEvent } from "../domain/chat-event.js"
import type { ChatMessage } from "../domain/chat-message.js"
import { type ComposeInput, composeMessage } from "../domain/compose-message.js"
import { InvalidInput, LogDamaged, type StoreError } from "../domain/errors.js"
import type { MessageRecord } from "../domain/message-record.js"
import { timestampMillis } from "../domain/timestamp.js"
import { BULK_LOADED_TYPES } from "../projections/projection.js"
import { makeProjector } from "../projections/projector.js"
import { deliveryMachine } from "./delivery-machine.js"
import { expiryMachine } from "./expiry-machine.js"

export type SendInput = Omit<ComposeInput, "sender">

export interface SendResult {
  readonly message: ChatMessage
  /** The delivery machine's state after the send: `pending` while no transport is configured. */
  readonly delivery: string
}

/**
 * The log keeps TTL content sealed under a shreddable key; everything else as it is. Built field by
 * field (a validated ChatMessage is already plain JSON): a schema encode here cost more than the append.
 */
const toRecord = (m: ChatMessage, vault: ContentVault): MessageRecord => ({
  id: m.id,
  sender: m.sender,
  recipient: m.recipient,
  content_type: m.content_type,
  timestamp: m.timestamp,
  thread_id: m.thread_id,
  reply_to_id: m.reply_to_id,
  ttl: m.ttl,
  delivery_status: m.delivery_status,
  encrypted: m.encrypted,
  metadata: m.metadata,
  attachments: m.attachments,
  body: m.ttl === null ? { _tag: "Plain", text: m.content } : vault.seal(m.id, m.content)
})

/**
 * The one writer. Every change to the store is a list of events appended here, folded into the
 * projections in the same SQLite write transaction (BEGIN IMMEDIATE, so concurrent processes queue on
 * the busy timeout instead of failing). Entrypoints send it commands and read projections.
 */
export class ChatSystem extends Effect.Service<ChatSystem>()("skchat/ChatSystem", {
  effect: Effect.gen(function*() {
    const { db } = yield* SqliteDatabase
    const identity = yield* LocalIdentity
    const { inspect } = yield* ActorInspector
    // Actors report to the Stately inspector when a developer asked for it (SKCHAT_INSPECT).
    const watched = inspect === undefined ? {} : { inspect }
    const log = makeEventLog(db)
    const vault = makeContentVault(db)
    const projector = makeProjector(db, { openBody: vault.open })
    const threadExists = db.prepare("SELECT 1 FROM threads WHERE id = ?").pluck()
    // One query per batch: which of these message ids the log already holds.
    const knownAmong = db.prepare(
      "SELECT message_id FROM events WHERE message_id IN (SELECT value FROM json_each(?))"
    ).pluck()
    const dueForExpiry = db.prepare(`SELECT e.message_id AS id, m.expires_at AS deadline
      FROM messages m JOIN events e ON e.seq = m.rowid
      WHERE m.expires_at IS NOT NULL AND m.expires_at <= ? ORDER BY m.expires_at`)

    const write = <A>(what: string, f: () => A): Effect.Effect<A, StoreError> =>
      Effect.try({ try: () => db.transaction(f).immediate(), catch: storeError(what) })

    const commit = (events: ReadonlyArray<ChatEvent>, now: number) => projector.apply(log.append(events, now))

    /**
     * Events recording one message: a new thread first, when an outbound message names one we lack and
     * that `creating` (the threads this batch already creates) does not hold yet.
     */
    const eventsFor = (message: ChatMessage, direction: "in" | "out", verified: boolean, now: number,
      creating: Set<string> = new Set()): Array<ChatEvent> => {
      const events: Array<ChatEvent> = []
      if (
        direction === "out" && message.thread_id !== null && !creating.has(message.thread_id) &&
        threadExists.get(message.thread_id) === undefined
      ) {
        creating.add(message.thread_id)
        events.push({
          _tag: "ThreadCreated",
          v: 1,
          thread_id: message.thread_id,
          title: message.thread_id,
          participants: [message.sender, message.recipient],
          at: now
        })
      }
      const record = toRecord(message, vault)
      const ts = timestampMillis(message.timestamp)
      events.push(
        direction === "out"
          ? { _tag: "MessageComposed", v: 1, message: record, ts }
          : { _tag: "MessageReceived", v: 1, message: record, ts, verified }
      )
      return events
    }

    const directionOf = (message: ChatMessage): "in" | "out" => (message.sender === identity.uri ? "out" : "in")

    /** Runs the delivery machine for a freshly composed message. No transports yet: it stays pending. */
    const startDelivery = (messageId: string): string => {
      const actor = createActor(deliveryMachine, { ...watched, input: { messageId, transports: 0 } }).start()
      actor.send({ type: "ATTEMPT" })
      const state = String(actor.getSnapshot().value)
      actor.stop()
      return state
    }

    const send = Effect.fn("ChatSystem.send")(function*(input: SendInput) {
      const now = yield* Clock.currentTimeMillis
      const composed = composeMessage({ ...input, sender: identity.uri }, now)
      if (Either.isLeft(composed)) return yield* new InvalidInput({ message: composed.left })
      const message = composed.right
      yield* write("cannot store the message", () => commit(eventsFor(message, "out", true, now), now))
      return { message, delivery: startDelivery(message.id) } satisfies SendResult
    })

    /**
     * Stores already-built messages (the library's store_message, bulk import). Direction follows the
     * sender; ids already stored are skipped, so ingest is idempotent. One transaction for the batch.
     */
    const recordAll = Effect.fn("ChatSystem.recordAll")(function*(
      messages: ReadonlyArray<ChatMessage>,
      options: { readonly verified?: boolean } = {}
    ) {
      const now = yield* Clock.currentTimeMillis
      return yield* write("cannot store messages", () => {
        const events: Array<ChatEvent> = []
        const seen = new Set<string>(knownAmong.all(JSON.stringify(messages.map((m) => m.id))) as Array<string>)
        const known = seen.size
        const creating = new Set<string>()
        for (const m of messages) {
          if (seen.has(m.id)) continue
          seen.add(m.id)
          events.push(...eventsFor(m, directionOf(m), options.verified ?? false, now, creating))
        }
        commit(events, now)
        return seen.size - known
      })
    })

    /**
     * Asks each due TTL message's expiry machine whether it is over; those that are get a
     * MessageExpired event, their key shredded and their text deleted, all in one transaction.
     * Then the WAL is checkpointed and truncated so no copy of the text survives there either.
     */
    const expireDue = Effect.fn("ChatSystem.expireDue")(function*() {
      const now = yield* Clock.currentTimeMillis
      const dueAt = () => dueForExpiry.all(now) as Array<{ id: string; deadline: number }>
      // Most commands find nothing due and never take the write lock.
      if (dueAt().length === 0) return 0
      const expired = yield* write("cannot expire messages", () => {
        const purge: Array<string> = []
        // Asked again under the lock: another process may have expired them meanwhile.
        for (const { id, deadline } of dueAt()) {
          const machine = expiryMachine.provide({ actions: { purge: () => purge.push(id) } })
          const actor = createActor(machine, { ...watched, input: { messageId: id, deadline, now } }).start()
          actor.stop()
        }
        commit(purge.map((message_id) => ({ _tag: "MessageExpired", v: 1, message_id, at: now })), now)
        for (const id of purge) vault.shred(id)
        return purge.length
      })
      yield* Effect.try({
        try: () => db.pragma("wal_checkpoint(TRUNCATE)"),
        catch: storeError("cannot checkpoint the store")
      })
      return expired
    })

    const rebuild = Effect.fn("ChatSystem.rebuild")(function*() {
      return yield* write("cannot rebuild projections", () => {
        const { seq } = log.head()
        projector.rebuild(log.readExcept(BULK_LOADED_TYPES), seq, { openBody: vault.snapshotOpen() }, {
          searchInBackground: availableParallelism() > 1
        })
        return seq
      })
    })

    /** The hash chain, then the projections' checkpoints against the head (a cut-off log shows there too). */
    const verify = Effect.fn("ChatSystem.verify")(function*() {
      const check: ChainCheck = yield* Effect.try({ try: () => log.verify(), catch: storeError("cannot read the log") })
      if (!check.ok) return yield* new LogDamaged({ seq: check.seq, reason: check.reason })
      const ahead = projector.checkpoints().find((c) => c.seq > check.events)
      if (ahead !== undefined) {
        return yield* new LogDamaged({
          seq: check.events + 1,
          reason: `log truncated: projection "${ahead.name}" had applied up to ${ahead.seq}`
        })
      }
      return check.events
    })

    return { identity, send, recordAll, expireDue, rebuild, verify, head: () => log.head() } as const
  })
}) {}
