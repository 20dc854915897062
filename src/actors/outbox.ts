import { Clock, Effect } from "effect"
import { createActor, fromPromise, type InspectionEvent, type Observer } from "xstate"
import { sealCallSignal, sealReceipt } from "../adapters/envelope-codec.js"
import type { OwnKey } from "../adapters/openpgp-crypto.js"
import { storeError } from "../adapters/sqlite-database.js"
import type { ChatEvent } from "../domain/chat-event.js"
import { errorLine } from "../domain/error-line.js"
import type { CallSignal } from "../domain/call-signal.js"
import {
  type ConfigError,
  type IdentityMissing,
  InvalidInput,
  type KeyChanged,
  MissingRecipientKey,
  type PassphraseRequired,
  type StoreError
} from "../domain/errors.js"
import { uuidv7 } from "../domain/message-id.js"
import { MAX_RECEIPT_IDS } from "../domain/receipt.js"
import type { DeliveryQueries, DueEnvelope } from "../projections/delivery-queries.js"
import { type AttemptFailure, deliveryMachine } from "./delivery-machine.js"
import type { CheckedKey } from "./peer-pins.js"
import type { Router } from "./transport-router.js"

/** What one round of the outbox did. */
export interface DeliveryRound {
  readonly sent: number
  /** Failed an attempt and will be retried at their logged deadline. */
  readonly retrying: number
  /** Out of attempts: failed for good. */
  readonly failed: number
  readonly errors: ReadonlyArray<string>
}

type AttemptResult =
  | { readonly kind: "sent"; readonly transport: string }
  | { readonly kind: "retry"; readonly attempt: number; readonly nextAttemptAt: number; readonly reason: string }
  | { readonly kind: "failed"; readonly reason: string }

/** What the outbox needs from ChatSystem, which owns the store and its one write path. */
export interface OutboxContext {
  readonly delivery: DeliveryQueries
  /** Runs `f` in a write transaction. */
  readonly write: <A>(what: string, f: () => A) => Effect.Effect<A, StoreError>
  /** Appends events and folds them into the projections (inside `write`). */
  readonly commit: (events: ReadonlyArray<ChatEvent>, now: number) => void
  /** Drops an outbound message's sealed envelope once a transport has it (inside `write`). */
  readonly dropEnvelope: (messageId: string) => void
  readonly watched: { readonly inspect?: Observer<InspectionEvent> }
  readonly unlock: () => Effect.Effect<OwnKey, IdentityMissing | PassphraseRequired | ConfigError>
  /** The checked, pinned key of a peer (`peer-pins.ts`). */
  readonly keyFor: (uri: string, now: number) => Effect.Effect<
    { readonly found: CheckedKey } | { readonly missing: string },
    KeyChanged
  >
  readonly myUri: string
}

/**
 * What goes out: outbound messages through their delivery machines, the receipts we owe, and the
 * read marks that make us owe them. Part of ChatSystem (it writes only through ChatSystem's `write`).
 */
export const makeOutbox = (ctx: OutboxContext) => {
  /**
   * The delivery machine of one round, its transport call being the router: provided once per round (it
   * cost more than the attempt itself when provided per envelope). The envelopes are found by message id;
   * what took each one is noted in `took`.
   */
  const roundMachine = (due: ReadonlyArray<DueEnvelope>, router: Router, now: number, took: Map<string, string>) => {
    const byId = new Map(due.map((d) => [d.messageId, d]))
    return deliveryMachine.provide({
      actors: {
        deliver: fromPromise<void, { readonly messageId: string; readonly attempt: number }>(async ({ input }) => {
          const envelope = byId.get(input.messageId)!
          try {
            took.set(input.messageId, await router.deliver({
              envelopeId: envelope.envelopeId,
              recipient: envelope.recipient,
              text: envelope.envelope
            }))
          } catch (e) {
            throw { at: now, reason: errorLine(e) } satisfies AttemptFailure
          }
        })
      }
    })
  }

  /** One delivery attempt of one envelope, decided by its delivery machine. */
  const attempt = (machine: ReturnType<typeof roundMachine>, envelope: DueEnvelope, transports: number,
    retryBackoff: ReadonlyArray<number> | undefined, took: Map<string, string>): Promise<AttemptResult> => {
    const actor = createActor(machine, {
      ...ctx.watched,
      input: {
        messageId: envelope.messageId,
        transports,
        attempt: envelope.attempts,
        ...(retryBackoff === undefined ? {} : { retryBackoff })
      }
    })
    return new Promise((settle) => {
      actor.subscribe((snap) => {
        if (snap.matches("pending") || snap.matches("sending")) return
        actor.stop()
        const c = snap.context
        if (snap.matches("sent")) return settle({ kind: "sent", transport: took.get(envelope.messageId) ?? "" })
        if (snap.matches("backingOff") && c.nextAttemptAt !== null) {
          return settle({ kind: "retry", attempt: c.attempt, nextAttemptAt: c.nextAttemptAt, reason: c.lastError ?? "" })
        }
        settle({ kind: "failed", reason: c.lastError ?? "no transport took it" })
      })
      actor.start()
      actor.send({ type: "ATTEMPT" })
    })
  }

  /**
   * One round of the outbox: every pending envelope whose next attempt is due (or just those among
   * `only`) goes to the router; the outcomes are logged together — sent, a failed attempt with the
   * absolute time of the next, or failed for good.
   */
  const deliver = Effect.fn("Outbox.deliver")(function*(router: Router, options: {
    readonly only?: ReadonlyArray<string>
    readonly retryBackoff?: ReadonlyArray<number> | undefined
    readonly limit?: number
  } = {}) {
    const now = yield* Clock.currentTimeMillis
    const none: DeliveryRound = { sent: 0, retrying: 0, failed: 0, errors: [] }
    if (router.transports.length === 0) return none
    const due = yield* Effect.try({
      try: () => ctx.delivery.dueEnvelopes(now, options.limit ?? 500, options.only),
      catch: storeError("cannot read the outbox")
    })
    if (due.length === 0) return none
    const took = new Map<string, string>()
    const machine = roundMachine(due, router, now, took)
    const results: Array<AttemptResult> = []
    for (const envelope of due) {
      results.push(yield* Effect.promise(() =>
        attempt(machine, envelope, router.transports.length, options.retryBackoff, took)
      ))
    }
    return yield* ctx.write("cannot record deliveries", () => {
      const events: Array<ChatEvent> = []
      const round = { sent: 0, retrying: 0, failed: 0, errors: [] as Array<string> }
      results.forEach((r, i) => {
        const id = due[i]!.messageId
        // Another process (a CLI send and the daemon) may have delivered it meanwhile: log it once.
        if (ctx.delivery.settled(id)) return
        if (r.kind === "sent") {
          events.push({ _tag: "MessageSent", v: 1, message_id: id, at: now, transport: r.transport })
          round.sent += 1
          return
        }
        round.errors.push(r.reason)
        if (r.kind === "retry") {
          events.push({
            _tag: "DeliveryAttemptFailed",
            v: 1,
            message_id: id,
            at: now,
            attempt: r.attempt,
            reason: r.reason,
            next_attempt_at: r.nextAttemptAt
          })
          round.retrying += 1
        } else {
          events.push({ _tag: "MessageFailed", v: 1, message_id: id, at: now, reason: r.reason })
          round.failed += 1
        }
      })
      ctx.commit(events, now)
      // A transport has it now (or never will): the sealed copy is no longer needed.
      for (const [i, r] of results.entries()) if (r.kind !== "retry") ctx.dropEnvelope(due[i]!.messageId)
      return round satisfies DeliveryRound
    })
  })

  /**
   * Sends the receipts we owe: one signed envelope per peer and kind for up to MAX_RECEIPT_IDS messages.
   * What no transport takes stays owed and goes with the next round. Returns how many messages were
   * acknowledged.
   */
  const sendReceipts = Effect.fn("Outbox.sendReceipts")(function*(router: Router) {
    if (router.transports.length === 0) return 0
    // By peer and kind: a peer we cannot reach (its key gone) holds up nobody else's receipts.
    const groups = yield* Effect.try({
      try: () => ctx.delivery.owedGroups(),
      catch: storeError("cannot read the receipts owed")
    })
    if (groups.length === 0) return 0
    const now = yield* Clock.currentTimeMillis
    const me = yield* ctx.unlock()
    const events: Array<ChatEvent> = []
    for (const { peer, status } of groups) {
      const key = yield* ctx.keyFor(peer, now).pipe(Effect.catchTag("KeyChanged", () => Effect.succeed(undefined)))
      if (key === undefined || "missing" in key) continue
      const ids = yield* Effect.try({
        try: () => ctx.delivery.owedTo(peer, status, MAX_RECEIPT_IDS * 20),
        catch: storeError("cannot read the receipts owed")
      })
      for (let i = 0; i < ids.length; i += MAX_RECEIPT_IDS) {
        const chunk = ids.slice(i, i + MAX_RECEIPT_IDS)
        const envelopeId = uuidv7(now)
        const sealed = yield* Effect.promise(() =>
          sealReceipt({ from: ctx.myUri, to: peer, status, messageIds: chunk, at: now }, me, key.found.key, envelopeId)
        )
        const transport = yield* Effect.promise(() =>
          router.deliver({ envelopeId, recipient: peer, text: sealed.text }).catch(() => undefined)
        )
        if (transport === undefined) break
        events.push({ _tag: "ReceiptSent", v: 1, at: now, peer, status, message_ids: chunk, envelope_id: envelopeId,
          transport })
      }
    }
    if (events.length === 0) return 0
    yield* ctx.write("cannot record the receipts sent", () => ctx.commit(events, now))
    return events.reduce((n, e) => n + (e._tag === "ReceiptSent" ? e.message_ids.length : 0), 0)
  })

  /**
   * Seals a call signal for a peer and hands it to the first transport that takes it; answers with that
   * transport's name. Not logged and not retried: a signal is worth something for a minute, and the call
   * machine's deadline decides what happens when one never arrives.
   */
  const sendSignal = Effect.fn("Outbox.sendSignal")(function*(router: Router, to: string, callId: string,
    signal: CallSignal) {
    const now = yield* Clock.currentTimeMillis
    const me = yield* ctx.unlock()
    const key = yield* ctx.keyFor(to, now)
    // As for receipts: the registered key, checked against its pin; pinning is for messages to record.
    if ("missing" in key) return yield* new MissingRecipientKey({ recipient: to, reason: key.missing })
    const envelopeId = uuidv7(now)
    const sealed = yield* Effect.promise(() =>
      sealCallSignal({ from: ctx.myUri, to, callId, signal, at: now }, me, key.found.key, envelopeId)
    )
    const transport = yield* Effect.promise(() =>
      router.deliver({ envelopeId, recipient: to, text: sealed.text }).then(
        (name) => ({ name }),
        (e: unknown) => ({ error: errorLine(e) })
      )
    )
    if ("error" in transport) {
      return yield* new InvalidInput({ message: `no transport took the call signal for ${to}: ${transport.error}` })
    }
    return transport.name
  })

  /**
   * Marks inbound messages read the first time they are shown (inbox, history, watch, MCP): the log
   * records it, and a read receipt is owed to their senders. Returns how many were new.
   */
  /** `receipts` false: marked read here, with no read receipt owed to the senders. */
  const markRead = Effect.fn("Outbox.markRead")(function*(messageIds: ReadonlyArray<string>, receipts = true) {
    if (messageIds.length === 0) return 0
    const unread = () => ctx.delivery.unread(messageIds)
    // Most listings show nothing new and never take the write lock.
    if (unread().length === 0) return 0
    const now = yield* Clock.currentTimeMillis
    return yield* ctx.write("cannot record messages read", () => {
      const ids = unread()
      ctx.commit(ids.map((message_id) => ({ _tag: "MessageRead", v: 1, message_id, at: now, ...(receipts ? {} : { receipt: false as const }) })), now)
      return ids.length
    })
  })

  /** When something next falls due: the earliest retry or TTL deadline (a daemon sleeps until then). */
  const nextDeadline = () =>
    Effect.try({
      try: () => {
        const times = [ctx.delivery.nextRetryAt(), ctx.delivery.nextExpiryAt()].filter((t): t is number => t !== undefined)
        return times.length === 0 ? undefined : Math.min(...times)
      },
      catch: storeError("cannot read the deadlines")
    })

  return { deliver, sendReceipts, sendSignal, markRead, nextDeadline }
}
