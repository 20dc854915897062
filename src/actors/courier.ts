import { Effect, type Exit, Runtime } from "effect"
import { join } from "node:path"
import { daemonRelay } from "../adapters/daemon-relay.js"
import { isChunkFile } from "../adapters/file-chunk.js"
import { makePartialFiles } from "../adapters/partial-files.js"
import { SkchatPaths } from "../adapters/skchat-paths.js"
import { Transports } from "../adapters/transport-config.js"
import type { Disposal, InboundItem, Transport } from "../adapters/transport.js"
import type { CallSignal } from "../domain/call-signal.js"
import type { ChatMessage } from "../domain/chat-message.js"
import { errorLine } from "../domain/error-line.js"
import type { StoreError } from "../domain/errors.js"
import { ChatSystem, type ReceiveOutcome } from "./chat-system.js"
import { fileAttachmentOf } from "../domain/file-attachment.js"
import { type DirectRoutes, makeFileTransfers } from "./file-transfers.js"
import type { DeliveryRound } from "./outbox.js"
import { makeTickBatch } from "./tick-batch.js"
import { makeRouter } from "./transport-router.js"

/** Envelopes read and recorded per transaction: a crash re-reads at most this many (as duplicates). */
const RECEIVE_BATCH = 200

/** A refused envelope as `receive --json` and the daemon's log report it. */
export interface RejectedItem {
  readonly source: string
  readonly reason: string
  readonly detail: string
  readonly file: string | null
}

/** A call signal as a pass over the transports hands it on. */
export interface ReceivedSignal {
  readonly from: string
  readonly callId: string
  readonly signal: CallSignal
}

/** What one pass over the transports brought in. */
export interface ReceiveSummary {
  readonly accepted: ReadonlyArray<ChatMessage>
  readonly unverified: number
  readonly duplicates: number
  /** Receipts that arrived, and how many of our messages they moved on. */
  readonly receipts: number
  readonly statusUpdates: number
  /** Signed call signals that arrived, for the call they belong to. */
  readonly signals: ReadonlyArray<ReceivedSignal>
  readonly rejected: ReadonlyArray<RejectedItem>
  /** Messages we acknowledged to their senders this pass. */
  readonly receiptsSent: number
  /** Transports that could not be read or items that could not be consumed (one line each). */
  readonly errors: ReadonlyArray<string>
}

/**
 * What happens to a transport item once its outcome is in the log. An ordinary message is archived; a
 * TTL message, a duplicate, a receipt, a call signal and a refused envelope (kept in quarantine) are
 * deleted, so no copy of an ephemeral message outlives it.
 */
const disposalOf = (outcome: ReceiveOutcome): Disposal =>
  outcome.status === "accepted" && outcome.message.ttl === null ? "archive" : "delete"

/**
 * Moves envelopes between ChatSystem and the configured transports: polls them, records what arrived,
 * consumes each item only after its outcome is committed, sends the receipts owed and works the outbox.
 * The CLI runs it once (`receive`, `send`); the daemon runs it whenever something arrives or falls due.
 */
export class Courier extends Effect.Service<Courier>()("skchat/Courier", {
  effect: Effect.gen(function*() {
    const chat = yield* ChatSystem
    const setup = yield* Transports
    const { dataDir } = yield* SkchatPaths
    // A direct call's channel goes first. Outside the daemon (which holds the calls and puts its own
    // `direct` transport here) envelopes for a peer in a connected call are relayed to the daemon.
    let direct: Transport = daemonRelay(dataDir, (peer) => chat.direct.openCallWith(peer)?.state === "connected")
    const directRoute: Transport = {
      name: "direct",
      priority: 0,
      watchPaths: [],
      send: (envelope) => direct.send(envelope),
      poll: async () => []
    }
    const router = makeRouter([directRoute, ...setup.transports])

    const newTally = () => ({
      accepted: [] as Array<ChatMessage>,
      unverified: 0,
      duplicates: 0,
      receipts: 0,
      statusUpdates: 0,
      signals: [] as Array<ReceivedSignal>,
      rejected: [] as Array<RejectedItem>,
      errors: [] as Array<string>
    })

    const receiveFrom = (all: ReadonlyArray<InboundItem>, tally: ReturnType<typeof newTally>) =>
      Effect.gen(function*() {
        // A file transfer's chunks (the fallback route) go to their transfer, after the envelopes of the same
        // batch: the message offering the file comes first by name, and must be taken in before its chunks.
        let consumed = 0
        const isChunk = (item: InboundItem) => item.refused === undefined && isChunkFile(item.bytes)
        const items = all.filter((item) => !isChunk(item))
        const chunks = all.filter(isChunk)
        const takeChunks = Effect.promise(async () => {
          let dropped = 0
          for (const item of chunks) if (!transfers.chunkFile(item.bytes, undefined)) dropped += 1
          // Which chunks arrived is on disk before the files they came in are gone.
          if (chunks.length > 0) await transfers.flush()
          for (const item of chunks) {
            try {
              item.consume("delete")
              consumed += 1
            } catch (e) {
              tally.errors.push(`cannot consume ${item.source}: ${errorLine(e)}`)
            }
          }
          if (dropped > 0) tally.errors.push(`${dropped} file chunk(s) for no transfer under way here (or that did not open), dropped`)
        })
        const outcomes = yield* chat.receive(items)
        outcomes.forEach((o, i) => {
          const item = items[i]!
          try {
            item.consume(disposalOf(o))
            consumed += 1
          } catch (e) {
            tally.errors.push(`cannot consume ${item.source}: ${errorLine(e)}`)
          }
          switch (o.status) {
            case "accepted":
              tally.accepted.push(o.message)
              transfers.offered(o.message)
              if (!o.verified) tally.unverified += 1
              return
            case "duplicate":
              tally.duplicates += 1
              return
            case "receipt":
              tally.receipts += 1
              tally.statusUpdates += o.updated
              return
            case "signal":
              tally.signals.push({ from: o.from, callId: o.callId, signal: o.signal })
              return
            case "rejected":
              tally.rejected.push({ source: item.source, reason: o.reason, detail: o.detail, file: o.file })
          }
        })
        yield* takeChunks
        return consumed
      })

    /**
     * Polls every transport until it has nothing more, then sends the receipts owed (unless `receipts` is
     * false: the daemon holds them back while a burst is still arriving, to answer it with a few envelopes).
     */
    const receive = Effect.fn("Courier.receive")(function*(options: { readonly receipts?: boolean } = {}) {
      const maxBytes = yield* chat.maxEnvelopeBytes
      const tally = newTally()
      for (const transport of setup.transports) {
        for (;;) {
          const items = yield* Effect.promise(() =>
            transport.poll(maxBytes, RECEIVE_BATCH).then(
              (x) => x,
              (e) => {
                tally.errors.push(`${transport.name}: ${errorLine(e)}`)
                return [] as ReadonlyArray<InboundItem>
              }
            )
          )
          if (items.length === 0) break
          const consumed = yield* receiveFrom(items, tally)
          // A full batch means more may wait; one that could not be consumed would come back forever.
          if (items.length < RECEIVE_BATCH || consumed < items.length) break
        }
      }
      // A file completed by this pass is checked and recorded before the pass ends (a CLI exits after it).
      yield* Effect.promise(() => transfers.settled())
      const receiptsSent = options.receipts === false ? 0 : yield* chat.sendReceipts(router)
      return { ...tally, receiptsSent } satisfies ReceiveSummary
    })

    /** One round of the outbox (or of the messages in `only`, say the one just sent). */
    const deliver = (only?: ReadonlyArray<string>) =>
      chat.deliver(router, { ...(only === undefined ? {} : { only }), retryBackoff: setup.retryBackoff })

    /**
     * Delivers one just-sent message, together with whatever else was sent meanwhile: concurrent senders
     * (an agent with many messages in flight) share one outbox round, one query and one commit, instead
     * of one each. Answers with the round its message went out in.
     */
    const run = Runtime.runPromiseExit(yield* Effect.runtime<never>())
    const deliverTogether = makeTickBatch<string, Exit.Exit<DeliveryRound, StoreError>>(async (ids) => {
      const round = await run(deliver(ids))
      return ids.map(() => round)
    })
    const deliverSoon = (messageId: string) => Effect.flatten(deliverTogether(messageId))

    let log: (line: string) => void = () => {}
    const runPromise = Runtime.runPromise(yield* Effect.runtime<never>())
    const transfers = makeFileTransfers({
      me: chat.identity.uri,
      files: makePartialFiles(join(dataDir, "files")),
      storeOffer: (to, content, attachment) =>
        runPromise(Effect.map(chat.send({ recipient: to, content, attachments: [attachment] }), (r) => r.message.id)),
      deliver: (messageId) => runPromise(Effect.map(deliverSoon(messageId), (round) => round.sent > 0)),
      route: (envelope) => router.deliver(envelope),
      record: (events) => runPromise(chat.record(events)),
      sending: (peer) => chat.direct.sendingTo(peer),
      offerOf: (messageId) => fileAttachmentOf({ attachments: chat.direct.attachmentsOf(messageId) }),
      isCompleted: (transferId) => chat.direct.transfer(transferId)?.state === "completed",
      log: (line) => log(line)
    })

    /** Items that came another way (a direct call's channel): recorded, then consumed, like a transport's. */
    const receiveItems = Effect.fn("Courier.receiveItems")(function*(items: ReadonlyArray<InboundItem>) {
      const tally = newTally()
      yield* receiveFrom(items, tally)
      return { ...tally, receiptsSent: 0 } satisfies ReceiveSummary
    })

    return {
      transports: setup.transports,
      receive,
      receiveItems,
      /**
       * This process holds the calls (the daemon): their channels become the direct transport (in place of
       * the relay to a daemon) and carry file transfers, which report to the daemon's log.
       */
      holdCalls: (calls: { readonly transport: Transport; readonly log: (line: string) => void } & DirectRoutes) => {
        direct = calls.transport
        log = calls.log
        transfers.useDirect(calls)
      },
      /** File transfers: sending, and receiving what arrives (chunks over channels, offers and chunk files). */
      transfers,
      deliver,
      deliverSoon,
      sendReceipts: () => chat.sendReceipts(router),
      /** A call signal to a peer, over the first transport that takes it (see Outbox.sendSignal). */
      sendSignal: (to: string, callId: string, signal: CallSignal) => chat.sendSignal(router, to, callId, signal)
    } as const
  })
}) {}
