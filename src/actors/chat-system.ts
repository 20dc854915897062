import { Clock, Effect, Either } from "effect"
import { createHash } from "node:crypto"
import { availableParallelism } from "node:os"
import { createActor } from "xstate"
import { ActorInspector } from "../adapters/actor-inspector.js"
import { SkchatConfig } from "../adapters/config-file.js"
import { makeContentVault } from "../adapters/content-vault.js"
import {
  type Duplicate,
  isRedelivery,
  openEnvelope,
  type Opened,
  type OpenedReceipt,
  type OpenedSignal,
  type Refused,
  sealEnvelope
} from "../adapters/envelope-codec.js"
import { type ChainCheck, makeEventLog } from "../adapters/event-log.js"
import { IdentityKeys } from "../adapters/identity-keys.js"
import type { PeerKey } from "../adapters/openpgp-crypto.js"
import { LocalIdentity } from "../adapters/local-identity.js"
import { PeerRegistry } from "../adapters/peer-registry.js"
import { quarantine } from "../adapters/quarantine.js"
import { SkchatPaths } from "../adapters/skchat-paths.js"
import { SqliteDatabase, storeError } from "../adapters/sqlite-database.js"
import type { ChatEvent } from "../domain/chat-event.js"
import { canonicalJson } from "../domain/canonical-json.js"
import { advanceStatus } from "../domain/delivery-progress.js"
import type { DeliveryStatus } from "../domain/delivery-status.js"
import type { ChatMessage } from "../domain/chat-message.js"
import { type ComposeInput, composeMessage } from "../domain/compose-message.js"
import { type Rejection, rejection } from "../domain/envelope-rejection.js"
import {
  ConfigError,
  IdempotencyKeyUsed,
  InvalidInput,
  KeyChanged,
  LogDamaged,
  MissingRecipientKey,
  type StoreError
} from "../domain/errors.js"
import { uuidv7 } from "../domain/message-id.js"
import { recordOf } from "../domain/message-record.js"
import type { ReceiptStatus } from "../domain/receipt.js"
import { timestampMillis } from "../domain/timestamp.js"
import { makeDeliveryQueries } from "../projections/delivery-queries.js"
import { makeDirectQueries } from "../projections/direct-queries.js"
import { BULK_LOADED_TYPES } from "../projections/projection.js"
import { makeProjector } from "../projections/projector.js"
import { expiryMachine } from "./expiry-machine.js"
import { makeOutbox } from "./outbox.js"
import { type CheckedKey, makePeerPins } from "./peer-pins.js"
import { makeTickBatch } from "./tick-batch.js"

export type SendInput = Omit<ComposeInput, "sender" | "encrypted"> & {
  /** Send unencrypted on purpose (still signed); the message is marked so. Never the default. */
  readonly plaintext?: boolean | undefined
  /**
   * Makes a retried send (an agent whose call timed out) send once: a key already in the log fails with
   * IdempotencyKeyUsed naming the message it made, whichever process made it.
   */
  readonly idempotencyKey?: string | undefined
}

/** What an idempotency key promises: the same recipient, text and options. */
const requestDigest = (input: SendInput): string =>
  createHash("sha256").update(canonicalJson({
    recipient: input.recipient,
    content: input.content,
    content_type: input.contentType ?? null,
    thread_id: input.threadId ?? null,
    reply_to_id: input.replyToId ?? null,
    ttl: input.ttl ?? null,
    metadata: input.metadata ?? null,
    attachments: input.attachments ?? null,
    plaintext: input.plaintext === true
  })).digest("hex")

export interface SendResult {
  readonly message: ChatMessage
  readonly envelopeId: string
  /** The sealed envelope as a transport will carry it. */
  readonly envelope: string
}

/** An envelope as a transport hands it over: its bytes (at most the size limit + 1) and real size. */
export interface Incoming {
  readonly bytes: Uint8Array
  readonly size?: number
  /** Already refused by the transport (not a regular file, say): recorded and quarantined as such. */
  readonly refused?: Rejection
}

/** What became of one incoming envelope. */
export type ReceiveOutcome =
  | { readonly status: "accepted"; readonly message: ChatMessage; readonly verified: boolean }
  /** Already in the log (redelivered): nothing changes. */
  | { readonly status: "duplicate"; readonly envelopeId: string; readonly messageId: string | null }
  /** A signed receipt for messages we sent; `updated` of them moved on. */
  | { readonly status: "receipt"; readonly from: string; readonly receipt: ReceiptStatus; readonly updated: number }
  /**
   * A signed call signal from a registered peer, for whoever negotiates that call. Not logged: an SDP or
   * candidate is worth nothing after the minute it lives; the call's lifecycle is what the log keeps.
   */
  | {
    readonly status: "signal"
    readonly from: string
    readonly callId: string
    readonly signal: OpenedSignal["signal"]
    readonly envelopeId: string
  }
  | {
    readonly status: "rejected"
    readonly reason: Refused["reason"]
    readonly detail: string
    /** Where the raw envelope was quarantined (null when it was dropped: an expired TTL message). */
    readonly file: string | null
  }

/**
 * A refused envelope: kept in the quarantine folder (unless `keep` is false: an expired TTL message must
 * not outlive its TTL there) and recorded in the log with the reason and what its header claimed.
 */
const refusal = (
  why: { readonly reason: Refused["reason"]; readonly detail: string },
  claimed: { readonly id: string | null; readonly sender: string | null },
  raw: Uint8Array,
  size: number,
  quarantineDir: string,
  at: number
): { readonly event: ChatEvent; readonly outcome: ReceiveOutcome } => {
  const sha256 = createHash("sha256").update(raw).digest("hex")
  const file = why.reason === "expired" ? null : quarantine(quarantineDir, raw, sha256, at)
  return {
    event: {
      _tag: "EnvelopeRejected",
      v: 1,
      at,
      reason: why.reason,
      detail: why.detail,
      claimed_id: claimed.id,
      claimed_sender: claimed.sender,
      sha256,
      // The envelope's real size; an oversized one's quarantined copy holds only the prefix that was read.
      size,
      file
    },
    outcome: { status: "rejected", reason: why.reason, detail: why.detail, file }
  }
}

/** Envelope size limit when config.yml sets none: far above any chat message, far below harm. */
export const DEFAULT_MAX_ENVELOPE_BYTES = 1024 * 1024

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
    const keys = yield* IdentityKeys
    const registry = yield* PeerRegistry
    const config = yield* SkchatConfig
    const paths = yield* SkchatPaths
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

    const pins = makePeerPins(db, registry)
    const delivery = makeDeliveryQueries(db)
    const envelopeRow = db.prepare("SELECT data ->> '$.payload_digest' AS digest FROM events WHERE envelope_id = ?")
    const envelopeSeen = (id: string): { payloadDigest: string | null } | undefined => {
      const row = envelopeRow.get(id) as { digest: string | null } | undefined
      return row === undefined ? undefined : { payloadDigest: row.digest }
    }
    const messageKnown = db.prepare("SELECT 1 FROM events WHERE message_id = ?").pluck()
    const keyRow = db.prepare(`SELECT message_id AS messageId, data ->> '$.request_digest' AS digest
      FROM events WHERE idempotency_key = ?`)
    /** The message an idempotency key already made, as the error that says so; undefined when the key is new. */
    const keyUsed = (key: string, digest: string): IdempotencyKeyUsed | undefined => {
      const row = keyRow.get(key) as { messageId: string; digest: string | null } | undefined
      return row === undefined
        ? undefined
        : new IdempotencyKeyUsed({ key, messageId: row.messageId, sameRequest: row.digest === digest })
    }
    const insertOutbound = db.prepare(
      "INSERT INTO outbound_envelopes (message_id, envelope_id, recipient, envelope) VALUES (?, ?, ?, ?)"
    )
    const deleteOutbound = db.prepare("DELETE FROM outbound_envelopes WHERE message_id = ?")
    const selectOutbound = db.prepare("SELECT envelope FROM outbound_envelopes WHERE message_id = ?").pluck()

    const write = <A>(what: string, f: () => A): Effect.Effect<A, StoreError> =>
      Effect.try({ try: () => db.transaction(f).immediate(), catch: storeError(what) })

    /** A write that may find a peer's key changed under the lock (another process pinned it meanwhile). */
    const writePinned = <A>(what: string, f: () => A): Effect.Effect<A, StoreError | KeyChanged> =>
      Effect.try({
        try: () => db.transaction(f).immediate(),
        catch: (e) => (e instanceof KeyChanged ? e : storeError(what)(e))
      })

    const commit = (events: ReadonlyArray<ChatEvent>, now: number) => projector.apply(log.append(events, now))

    /**
     * Group commit for sends: the writes of sends in flight together (an agent's burst) go into one
     * transaction, each in its own savepoint, so one that fails (a key changed meanwhile) fails alone.
     * A commit's fixed cost (the WAL frames of the log head, checkpoints and index pages) is paid once.
     */
    const commitTogether = makeTickBatch<() => void, KeyChanged | StoreError | undefined>(async (writes) => {
      const failures = new Map<number, KeyChanged>()
      try {
        db.transaction(() => {
          writes.forEach((w, i) => {
            try {
              db.transaction(w)()
            } catch (e) {
              if (!(e instanceof KeyChanged)) throw e
              failures.set(i, e)
            }
          })
        }).immediate()
      } catch (e) {
        return writes.map(() => storeError("cannot store the message")(e))
      }
      return writes.map((_, i) => failures.get(i))
    })

    /**
     * Events recording one message: a new thread first, when an outbound message names one we lack and
     * that `creating` (the threads this batch already creates) does not hold yet.
     */
    const eventsFor = (message: ChatMessage, direction: "in" | "out", verified: boolean, now: number,
      creating: Set<string> = new Set(),
      envelope: {
        id: string
        signer: string | null
        digest?: string
        /** A send's idempotency key and request digest, recorded with the composed message. */
        idempotency?: { idempotency_key: string; request_digest: string } | undefined
      } | undefined = undefined):
      Array<ChatEvent> => {
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
      const record = recordOf(message, vault.seal)
      const ts = timestampMillis(message.timestamp)
      const sealed = envelope === undefined ? {} : { envelope_id: envelope.id }
      events.push(
        direction === "out"
          ? { _tag: "MessageComposed", v: 1, message: record, ts, ...sealed, ...envelope?.idempotency }
          : {
            _tag: "MessageReceived",
            v: 1,
            message: record,
            ts,
            verified,
            ...sealed,
            ...(envelope?.signer ? { signer: envelope.signer } : {}),
            ...(envelope?.digest === undefined ? {} : { payload_digest: envelope.digest })
          }
      )
      return events
    }

    const directionOf = (message: ChatMessage): "in" | "out" => (message.sender === identity.uri ? "out" : "in")

    /**
     * Composes, seals and records a message. Fails closed: no registered key for the recipient is an
     * error unless `plaintext` was asked for, and even then the message is signed.
     */
    const send = Effect.fn("ChatSystem.send")(function*(input: SendInput) {
      const now = yield* Clock.currentTimeMillis
      const { plaintext, idempotencyKey, ...fields } = input
      const idempotency = idempotencyKey === undefined
        ? undefined
        : { idempotency_key: idempotencyKey, request_digest: requestDigest(input) }
      if (idempotency !== undefined) {
        const used = yield* Effect.try({
          try: () => keyUsed(idempotency.idempotency_key, idempotency.request_digest),
          catch: storeError("cannot read the log")
        })
        if (used !== undefined) return yield* used
      }
      const composed = composeMessage({ ...fields, sender: identity.uri, encrypted: plaintext !== true }, now)
      if (Either.isLeft(composed)) return yield* new InvalidInput({ message: composed.left })
      const message = composed.right
      const { maxBytes } = yield* securitySettings
      // A peer refuses an envelope over its size limit; ours is the best guess at theirs. The envelope is
      // always larger than the text, so an oversized text is refused before any sealing work.
      const tooLarge = (what: string, bytes: number) =>
        new InvalidInput({
          message: `the message is too large: ${what} ${bytes} bytes, over the ${maxBytes}-byte limit ` +
            "(skchat.security.max_envelope_bytes) peers accept; send a shorter message or split it"
        })
      const textBytes = Buffer.byteLength(message.content, "utf8")
      if (textBytes > maxBytes) return yield* tooLarge("its text alone is", textBytes)
      const me = yield* keys.unlock()
      const recipient = yield* pins.keyFor(message.recipient, now)
      if ("missing" in recipient && plaintext !== true) {
        return yield* new MissingRecipientKey({ recipient: message.recipient, reason: recipient.missing })
      }
      const checked = "found" in recipient ? recipient.found : undefined
      const envelopeId = uuidv7(now)
      const sealed = yield* Effect.promise(() => sealEnvelope(message, me, checked?.key, envelopeId))
      const sealedBytes = Buffer.byteLength(sealed.text, "utf8")
      if (sealedBytes > maxBytes) return yield* tooLarge("its sealed envelope would be", sealedBytes)
      let repeated: IdempotencyKeyUsed | undefined
      const failure = yield* commitTogether(() => {
        // Asked again under the write lock: a retry may have raced this send from another process.
        repeated = idempotency === undefined
          ? undefined
          : keyUsed(idempotency.idempotency_key, idempotency.request_digest)
        if (repeated !== undefined) return
        const events = checked === undefined ? [] : pins.firstUseEvents(message.recipient, checked)
        events.push(...eventsFor(message, "out", true, now, new Set(), { id: envelopeId, signer: null, idempotency }))
        commit(events, now)
        insertOutbound.run(message.id, envelopeId, message.recipient, sealed.text)
      })
      if (failure !== undefined) return yield* failure
      if (repeated !== undefined) return yield* repeated
      return {
        message,
        envelopeId,
        envelope: sealed.text
      } satisfies SendResult
    })

    /**
     * Pins a peer's key (`peers add`). A URI already pinned to another key is refused: the user removes
     * the peer first, after checking the new key with them. Returns false when it was already pinned.
     */
    const addPeer = Effect.fn("ChatSystem.addPeer")(function*(peer: { uri: string; name: string; fingerprint: string }) {
      const now = yield* Clock.currentTimeMillis
      return yield* writePinned("cannot record the peer", () => {
        const events = pins.addEvents(peer, now)
        commit(events, now)
        return events.length > 0
      })
    })

    /** Unpins a peer's key (`peers remove`), so a new key for that URI can be added. */
    const removePeer = Effect.fn("ChatSystem.removePeer")(function*(uri: string) {
      const now = yield* Clock.currentTimeMillis
      return yield* write("cannot record the peer's removal", () => {
        const events = pins.removeEvents(uri, now)
        commit(events, now)
        return events.length > 0
      })
    })

    /** The key pinned for a peer URI, if any. */
    const pinnedKey = (uri: string) =>
      Effect.try({ try: () => pins.pinned(uri), catch: storeError("cannot read the pinned keys") })
    /** URIs pinned under a peer name (a peer whose file was deleted by hand can still be removed). */
    const pinnedUrisNamed = (name: string) =>
      Effect.try({ try: () => pins.urisNamed(name), catch: storeError("cannot read the pinned keys") })

    /** The sealed envelope of an outbound message still waiting to go (undefined once expired). */
    const outboundEnvelope = (messageId: string) =>
      Effect.try({
        try: () => selectOutbound.get(messageId) as string | undefined,
        catch: storeError("cannot read the outbox")
      })

    /** `skchat.security` from config.yml; a value of the wrong kind is an error, never silently ignored. */
    const securitySettings = Effect.suspend(() => {
      const max = config.get("security", "max_envelope_bytes") ?? DEFAULT_MAX_ENVELOPE_BYTES
      const acceptUnsigned = config.get("security", "accept_unsigned") ?? false
      if (typeof max !== "number" || !Number.isInteger(max) || max <= 0) {
        return Effect.fail(new ConfigError({
          message: `${config.file}: skchat.security.max_envelope_bytes must be a positive whole number of bytes`
        }))
      }
      if (typeof acceptUnsigned !== "boolean") {
        return Effect.fail(new ConfigError({
          message: `${config.file}: skchat.security.accept_unsigned must be true or false`
        }))
      }
      return Effect.succeed({ maxBytes: max, acceptUnsigned })
    })

    /** `skchat.privacy.read_receipts` (default true): whether senders learn that we read their messages. */
    const readReceipts = Effect.suspend(() => {
      const on = config.get("privacy", "read_receipts") ?? true
      return typeof on === "boolean"
        ? Effect.succeed(on)
        : Effect.fail(new ConfigError({ message: `${config.file}: skchat.privacy.read_receipts must be true or false` }))
    })

    /**
     * Opens incoming envelopes (crypto first, outside any transaction) and records the outcome of each
     * in one transaction: the message, the receipt's status changes, or the refusal with its reason and
     * the envelope quarantined. The caller may consume its transport items once this has returned.
     */
    const receive = Effect.fn("ChatSystem.receive")(function*(items: ReadonlyArray<Uint8Array | Incoming>) {
      const now = yield* Clock.currentTimeMillis
      const me = yield* keys.unlock()
      const { acceptUnsigned, maxBytes } = yield* securitySettings
      const incoming = items.map((i) =>
        i instanceof Uint8Array
          ? { bytes: i, size: i.byteLength, refused: undefined }
          : { bytes: i.bytes, size: i.size ?? i.bytes.byteLength, refused: i.refused }
      )
      const senders = new Map<string, CheckedKey>()
      // One lookup per sender per batch: a burst is mostly from a few peers.
      const senderKeys = new Map<string, Promise<Either.Either<PeerKey, Rejection>>>()
      const senderKey = (uri: string) => {
        let key = senderKeys.get(uri)
        if (key === undefined) {
          key = Effect.runPromise(pins.keyFor(uri, now).pipe(
            Effect.map((r) => {
              if ("missing" in r) return Either.left(rejection("unknown_sender", r.missing))
              senders.set(uri, r.found)
              return Either.right(r.found.key)
            }),
            Effect.catchTag("KeyChanged", (e) => Effect.succeed(Either.left(rejection("key_changed", e.message))))
          ))
          senderKeys.set(uri, key)
        }
        return key
      }
      const opened: Array<Opened | OpenedReceipt | OpenedSignal | Duplicate | Refused> = []
      for (const item of incoming) {
        if (item.refused !== undefined) {
          opened.push({ ...item.refused, claimedId: null, claimedSender: null })
          continue
        }
        opened.push(yield* Effect.promise(() =>
          openEnvelope(item.bytes, {
            me,
            myUri: identity.uri,
            maxBytes,
            acceptUnsigned,
            now,
            seen: envelopeSeen,
            senderKey
          }, item.size)
        ))
      }
      // Crypto is done; the outcomes are recorded in one transaction (refused envelopes quarantined first).
      return yield* write("cannot store received messages", () => {
        const events: Array<ChatEvent> = []
        const outcomes: Array<ReceiveOutcome> = []
        const creating = new Set<string>()
        const batch = new Set<string>()
        // Outbound statuses as this batch's receipts leave them (two receipts for one message in a batch).
        const statuses = new Map<string, DeliveryStatus>()
        const refuse = (item: { bytes: Uint8Array; size: number }, why: Rejection,
          claimed: { id: string | null; sender: string | null }) => {
          const { event, outcome } = refusal(why, claimed, item.bytes, item.size, paths.quarantineDir, now)
          events.push(event)
          outcomes.push(outcome)
        }
        opened.forEach((o, i) => {
          const raw = incoming[i]!
          if (o._tag === "Duplicate") {
            outcomes.push({ status: "duplicate", envelopeId: o.envelopeId, messageId: null })
            return
          }
          if (o._tag === "Signal") {
            outcomes.push({ status: "signal", from: o.sender, callId: o.callId, signal: o.signal, envelopeId: o.envelopeId })
            return
          }
          if (o._tag === "Receipt") {
            let updated = 0
            for (const id of o.messageIds) {
              const current = statuses.get(id) ?? delivery.outboundStatus(id, o.sender) as DeliveryStatus | undefined
              if (current === undefined) continue
              const next = advanceStatus(current, o.status)
              if (next === current) continue
              statuses.set(id, next)
              updated += 1
              events.push({ _tag: o.status === "read" ? "MessageRead" : "MessageDelivered", v: 1, message_id: id, at: now })
            }
            outcomes.push({ status: "receipt", from: o.sender, receipt: o.status, updated })
            return
          }
          if (o._tag !== "Opened") return refuse(raw, o, { id: o.claimedId, sender: o.claimedSender })
          const m = o.message
          const claimed = { id: o.envelopeId, sender: m.sender }
          // Checked again under the write lock: another process may have taken it meanwhile.
          const seen = envelopeSeen(o.envelopeId)
          if (batch.has(o.envelopeId) || (seen !== undefined && isRedelivery(seen, o.payloadDigest))) {
            outcomes.push({ status: "duplicate", envelopeId: o.envelopeId, messageId: m.id })
            return
          }
          if (seen !== undefined) {
            return refuse(raw, rejection("replay", `envelope ${o.envelopeId} was already received with another payload`),
              claimed)
          }
          if (messageKnown.get(m.id) !== undefined || batch.has(m.id)) {
            outcomes.push({ status: "duplicate", envelopeId: o.envelopeId, messageId: m.id })
            return
          }
          const sender = senders.get(m.sender)
          if (o.verified && sender !== undefined) {
            try {
              events.push(...pins.firstUseEvents(m.sender, sender))
            } catch (e) {
              // Another process pinned a different key for this sender meanwhile: refuse this one only.
              if (!(e instanceof KeyChanged)) throw e
              return refuse(raw, rejection("key_changed", e.message), claimed)
            }
            senders.set(m.sender, { ...sender, pin: undefined })
          }
          batch.add(o.envelopeId).add(m.id)
          events.push(...eventsFor(m, "in", o.verified, now, creating,
            { id: o.envelopeId, signer: o.signer, digest: o.payloadDigest }))
          outcomes.push({ status: "accepted", message: m, verified: o.verified })
        })
        commit(events, now)
        return outcomes
      })
    })

    const outbox = makeOutbox({
      delivery,
      write,
      commit,
      dropEnvelope: (messageId) => deleteOutbound.run(messageId),
      watched,
      unlock: () => keys.unlock(),
      keyFor: pins.keyFor,
      myUri: identity.uri
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
        // The envelope of a TTL message is readable with our own key: it goes with the content key.
        for (const id of purge) {
          vault.shred(id)
          deleteOutbound.run(id)
        }
        return purge.length
      })
      yield* Effect.try({
        try: () => db.pragma("wal_checkpoint(TRUNCATE)"),
        catch: storeError("cannot checkpoint the store")
      })
      return expired
    })

    /** Brings lagging projections up to the log's head by folding only the tail they missed. */
    const catchUp = Effect.fn("ChatSystem.catchUp")(function*() {
      return yield* write("cannot bring the projections up to date", () =>
        projector.catchUp((seq) => log.readAfter(seq), log.head().seq))
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

    /**
     * Facts about calls and transfers (call-manager.ts, file-transfers.ts): appended as they are, at the
     * time they carry.
     */
    const direct = makeDirectQueries(db)
    const record = Effect.fn("ChatSystem.record")(function*(events: ReadonlyArray<ChatEvent>) {
      if (events.length === 0) return
      const now = yield* Clock.currentTimeMillis
      yield* write("cannot record the call or transfer", () => commit(events, now))
    })

    return {
      identity,
      /** Unlocks our key now (asking for its passphrase if need be): a daemon fails at start, not later. */
      unlockKey: () => Effect.asVoid(keys.unlock()),
      send,
      receive,
      deliver: outbox.deliver,
      sendReceipts: outbox.sendReceipts,
      sendSignal: outbox.sendSignal,
      markRead: (messageIds: ReadonlyArray<string>) =>
        Effect.flatMap(readReceipts, (receipts) => outbox.markRead(messageIds, receipts)),
      nextDeadline: outbox.nextDeadline,
      /** The configured envelope size limit (transports read no more than this of a file). */
      maxEnvelopeBytes: Effect.map(securitySettings, (s) => s.maxBytes),
      outboundEnvelope,
      addPeer,
      removePeer,
      pinnedKey,
      pinnedUrisNamed,
      recordAll,
      expireDue,
      catchUp,
      rebuild,
      verify,
      head: () => log.head(),
      record,
      direct
    } as const
  })
}) {}
