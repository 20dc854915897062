import { assign, fromPromise, setup } from "xstate"
import { SKCOMM_RETRY_BACKOFF } from "../domain/envelope.js"

export interface DeliveryInput {
  readonly messageId: string
  /** How many transports are configured. None: the message waits in the outbox as `pending`. */
  readonly transports: number
  /** Attempts already made (and failed). */
  readonly attempt?: number
  /** Seconds to wait after the 1st, 2nd, ... failure; the last entry repeats (SKComm's routing.retry_backoff). */
  readonly retryBackoff?: ReadonlyArray<number>
  readonly maxAttempts?: number
  /**
   * Resuming after a restart: the retry deadline recorded in the log, and the host's clock now. The
   * machine waits `nextAttemptAt - now` (XState does not restore `after` timers from a snapshot).
   */
  readonly nextAttemptAt?: number
  readonly now?: number
}

/** What a failed attempt reports: when it failed (the retry deadline is computed from it) and why. */
export interface AttemptFailure {
  readonly at: number
  readonly reason: string
}


interface DeliveryContext {
  readonly messageId: string
  readonly transports: number
  readonly attempt: number
  readonly maxAttempts: number
  readonly retryBackoff: ReadonlyArray<number>
  /** Absolute time of the next attempt while backing off; written to the log by the host. */
  readonly nextAttemptAt: number | null
  /** The clock reading the retry delay is measured from: the failure's time, or `now` on resume. */
  readonly clockAt: number | null
  readonly lastError: string | null
}

const backoffMs = (schedule: ReadonlyArray<number>, attempt: number): number =>
  1000 * (schedule[Math.min(attempt - 1, schedule.length - 1)] ?? 900)

/**
 * An outbound message's delivery: queued in the outbox until a transport can take it, retried with
 * backoff, then sent, delivered and read as receipts arrive (or failed for good).
 * `deliver` is the host's transport call; it rejects with an AttemptFailure.
 */
export const deliveryMachine = setup({
  types: {
    context: {} as DeliveryContext,
    input: {} as DeliveryInput,
    events: {} as
      | { readonly type: "ATTEMPT" }
      | { readonly type: "DELIVERED" }
      | { readonly type: "READ" }
  },
  actors: {
    deliver: fromPromise<void, { readonly messageId: string; readonly attempt: number }>(() =>
      Promise.reject({ at: 0, reason: "no transport provided" } satisfies AttemptFailure)
    )
  },
  guards: {
    hasTransport: ({ context }) => context.transports > 0,
    attemptsLeft: ({ context }) => context.attempt < context.maxAttempts,
    resumingRetry: ({ context }) => context.transports > 0 && context.nextAttemptAt !== null
  },
  delays: {
    retryDelay: ({ context }) =>
      context.nextAttemptAt === null || context.clockAt === null
        ? 0
        : Math.max(0, context.nextAttemptAt - context.clockAt)
  }
}).createMachine({
  id: "delivery",
  context: ({ input }) => ({
    messageId: input.messageId,
    transports: input.transports,
    attempt: input.attempt ?? 0,
    retryBackoff: input.retryBackoff ?? SKCOMM_RETRY_BACKOFF,
    maxAttempts: input.maxAttempts ?? (input.retryBackoff ?? SKCOMM_RETRY_BACKOFF).length + 1,
    nextAttemptAt: input.nextAttemptAt ?? null,
    clockAt: input.nextAttemptAt === undefined ? null : input.now ?? input.nextAttemptAt,
    lastError: null
  }),
  initial: "pending",
  states: {
    pending: {
      always: { guard: "resumingRetry", target: "backingOff" },
      on: { ATTEMPT: { guard: "hasTransport", target: "sending" } }
    },
    sending: {
      entry: assign({ attempt: ({ context }) => context.attempt + 1 }),
      invoke: {
        src: "deliver",
        input: ({ context }) => ({ messageId: context.messageId, attempt: context.attempt }),
        onDone: { target: "sent" },
        onError: [
          {
            guard: "attemptsLeft",
            target: "backingOff",
            actions: assign(({ context, event }) => {
              const failure = event.error as AttemptFailure
              return {
                lastError: failure.reason,
                clockAt: failure.at,
                nextAttemptAt: failure.at + backoffMs(context.retryBackoff, context.attempt)
              }
            })
          },
          {
            target: "failed",
            actions: assign({ lastError: ({ event }) => (event.error as AttemptFailure).reason })
          }
        ]
      }
    },
    backingOff: {
      after: { retryDelay: { target: "sending" } },
      on: { ATTEMPT: { target: "sending" } }
    },
    sent: {
      on: { DELIVERED: { target: "delivered" }, READ: { target: "read" } }
    },
    delivered: {
      on: { READ: { target: "read" } }
    },
    read: { type: "final" },
    failed: { type: "final" }
  }
})
