import { setup } from "xstate"

export interface ExpiryInput {
  readonly messageId: string
  /** Absolute unix-ms deadline, taken from the log (never a relative timer: see DESIGN.md). */
  readonly deadline: number
  /** The host's clock reading when the actor starts; the delay is `deadline - now`. */
  readonly now: number
}

/**
 * One TTL message's life: `live` until its deadline, then `expired`, whose entry runs the host's
 * `purge` action (append MessageExpired, shred the key, delete the projected text). Restarting a
 * process re-creates the actor from the deadline in the log, so no timer state is ever persisted.
 */
export const expiryMachine = setup({
  types: {
    context: {} as { readonly messageId: string; readonly deadline: number; readonly startedAt: number },
    input: {} as ExpiryInput,
    events: {} as { readonly type: "CLOCK"; readonly now: number }
  },
  guards: {
    deadlinePassed: ({ context }) => context.startedAt >= context.deadline,
    clockPastDeadline: ({ context, event }) => event.now >= context.deadline
  },
  delays: {
    untilDeadline: ({ context }) => Math.max(0, context.deadline - context.startedAt)
  },
  actions: {
    // Provided by the host (ChatSystem); the machine only decides when.
    purge: () => {}
  }
}).createMachine({
  id: "expiry",
  context: ({ input }) => ({ messageId: input.messageId, deadline: input.deadline, startedAt: input.now }),
  initial: "live",
  states: {
    live: {
      always: { guard: "deadlinePassed", target: "expired" },
      after: { untilDeadline: { target: "expired" } },
      on: { CLOCK: { guard: "clockPastDeadline", target: "expired" } }
    },
    expired: { type: "final", entry: "purge" }
  }
})
