import { and, assign, setup } from "xstate"
import { DEFAULT_NEGOTIATION_MS } from "../domain/webrtc-settings.js"

/**
 * One direct (WebRTC) call with one peer, as negotiation goes: the machine decides, the host does the I/O
 * through the actions it provides (sending signals as sealed envelopes, opening and closing the peer
 * connection, recording the call's events in the log).
 *
 *   idle ─CALL→ negotiating.offering ─ANSWER→ negotiating.connecting ─CONNECTED→ connected
 *   idle ─OFFER→ negotiating.answering ─ACCEPT (or auto-accept at once)→ negotiating.connecting
 *   any live state ─HANGUP / REMOTE_HANGUP→ closed, ─FAILED→ failed; negotiating past the deadline → timedOut
 *
 * Glare (both sides call at once): each side holds its own offer and receives the other's. Both resolve it
 * the same way without talking: the offer of the side whose URI sorts first stands; the other side drops its
 * own offer and answers. Deadlines are absolute times in the context (from the log on resume): XState does
 * not re-arm `after` timers restored from a snapshot, so a `CLOCK` event re-checks them too.
 *
 * Attempts: a connection that fails before it connects is made again, up to `CALL_ATTEMPTS` times within the
 * one deadline. node-datachannel loses a handshake now and then on a loaded machine (its DTLS can check the
 * peer's certificate a moment before the peer's description is in place), and a call must not fail for it.
 * The caller starts over with a fresh offer numbered `attempt + 1`; the callee, whose connection failed,
 * asks for that (`RETRY` on the caller's side) and answers the newer offer. Signals of an older attempt are
 * ignored.
 */

export interface CallInput {
  readonly me: string
  readonly peer: string
  /** The host's clock when the actor starts. */
  readonly now: number
  /** How long negotiation may take before the call times out (ms). */
  readonly negotiationMs?: number
  /** Accept an incoming offer at once (registered peers, by config). */
  readonly autoAccept?: boolean
}

/** How many connections a call makes before a failure to connect ends it. */
export const CALL_ATTEMPTS = 3

export type CallEvent =
  | { readonly type: "CALL"; readonly callId: string; readonly now: number }
  /** `attempt`: which of the caller's connections the offer is for (0 when not given). */
  | { readonly type: "OFFER"; readonly callId: string; readonly now: number; readonly attempt?: number }
  | { readonly type: "ACCEPT"; readonly now: number }
  | { readonly type: "ANSWER"; readonly callId: string; readonly attempt?: number }
  | { readonly type: "CONNECTED" }
  | { readonly type: "HANGUP" }
  | { readonly type: "REMOTE_HANGUP"; readonly callId: string }
  /** The connection failed; `attempt` names the one that did (a report about an older one is ignored). */
  | { readonly type: "FAILED"; readonly reason: string; readonly attempt: number }
  /** The peer's connection for `attempt` failed: it asks for a new offer. */
  | { readonly type: "RETRY"; readonly callId: string; readonly attempt: number }
  | { readonly type: "CLOCK"; readonly now: number }

export interface CallContext {
  readonly me: string
  readonly peer: string
  /** The call being negotiated or held: ours when we offered, theirs when we answer. */
  readonly callId: string | null
  readonly role: "caller" | "callee" | null
  /** Which connection of the call is being made (see `CALL_ATTEMPTS`). */
  readonly attempt: number
  readonly negotiationMs: number
  readonly autoAccept: boolean
  /** Absolute deadline of the negotiation in progress (null once connected or before it starts). */
  readonly deadline: number | null
  /** The clock reading the deadline's timer is measured from. */
  readonly clockAt: number
  readonly reason: string | null
}

export { DEFAULT_NEGOTIATION_MS }

/** The connection an event is about (signals from before attempts were numbered are about the first). */
const attemptOf = (event: CallEvent): number => ("attempt" in event ? event.attempt ?? 0 : 0)

/** Whose offer stands when both sides call at once: the one from the URI that sorts first (both agree). */
export const offerWins = (offerer: string, other: string): boolean => offerer < other

export const callMachine = setup({
  types: {
    context: {} as CallContext,
    input: {} as CallInput,
    events: {} as CallEvent
  },
  actions: {
    // Provided by the host; the machine only decides when.
    sendOffer: () => {},
    sendAnswer: () => {},
    sendHangup: () => {},
    /** Close the failed connection and ask the caller for a new offer (`retry` for the attempt in hand). */
    askRetry: () => {},
    /** Close the peer connection and its channels (node-datachannel must be cleaned up). */
    release: () => {},
    /** A negotiation starts (or restarts, when glare turns us into the answerer): its deadline from `now`. */
    negotiate: assign(({ context, event }, params: { readonly role: "caller" | "callee" }) => {
      const now = "now" in event ? event.now : context.clockAt
      return {
        callId: "callId" in event ? event.callId : context.callId,
        role: params.role,
        attempt: attemptOf(event),
        deadline: now + context.negotiationMs,
        clockAt: now,
        reason: null
      }
    }),
    /** Glare lost: we answer their offer, within the deadline already running. */
    yieldToTheirs: assign(({ event }) => ({
      callId: "callId" in event ? event.callId : null,
      role: "callee" as const,
      attempt: attemptOf(event)
    })),
    /** The caller starts its next connection. */
    nextAttempt: assign(({ context }) => ({ attempt: context.attempt + 1, reason: null })),
    /** The callee follows the caller to its newer offer. */
    takeAttempt: assign(({ event }) => ({ attempt: attemptOf(event) })),
    fail: assign(({ event }) => ({ reason: "reason" in event ? event.reason : null, deadline: null })),
    settle: assign((_, params: { readonly reason: string | null }) => ({ reason: params.reason, deadline: null }))
  },
  guards: {
    autoAccept: ({ context }) => context.autoAccept,
    inCall: ({ context }) => context.callId !== null,
    ourCall: ({ context, event }) => "callId" in event && event.callId === context.callId,
    /** A signal or report about the connection in hand (not an older attempt's). */
    thisAttempt: ({ context, event }) =>
      ("callId" in event ? event.callId === context.callId : context.callId !== null) &&
      attemptOf(event) === context.attempt,
    /** A newer offer for the call in hand (the caller made a new connection). */
    newerOffer: ({ context, event }) =>
      event.type === "OFFER" && event.callId === context.callId && attemptOf(event) > context.attempt,
    /** Another connection may still be made. */
    attemptsLeft: ({ context }) => context.attempt + 1 < CALL_ATTEMPTS,
    caller: ({ context }) => context.role === "caller",
    /** In glare: their offer stands over ours. */
    theirOfferWins: ({ context }) => offerWins(context.peer, context.me),
    pastDeadline: ({ context, event }) =>
      event.type === "CLOCK" && context.deadline !== null && event.now >= context.deadline
  },
  delays: {
    untilDeadline: ({ context }) => (context.deadline === null ? 0 : Math.max(0, context.deadline - context.clockAt))
  }
}).createMachine({
  id: "call",
  context: ({ input }) => ({
    me: input.me,
    peer: input.peer,
    callId: null,
    role: null,
    attempt: 0,
    negotiationMs: input.negotiationMs ?? DEFAULT_NEGOTIATION_MS,
    autoAccept: input.autoAccept ?? false,
    deadline: null,
    clockAt: input.now,
    reason: null
  }),
  initial: "idle",
  states: {
    idle: {
      on: {
        CALL: { target: "negotiating.offering", actions: [{ type: "negotiate", params: { role: "caller" } }, "sendOffer"] },
        OFFER: [
          {
            guard: "autoAccept",
            target: "negotiating.connecting",
            actions: [{ type: "negotiate", params: { role: "callee" } }, "sendAnswer"]
          },
          { target: "negotiating.answering", actions: { type: "negotiate", params: { role: "callee" } } }
        ]
      }
    },
    // One deadline for the whole negotiation, however it moves between these.
    negotiating: {
      after: { untilDeadline: { target: "timedOut" } },
      on: {
        // A connection that failed before connecting is made again while attempts are left: the caller
        // offers anew, the callee asks it to. With none left the call fails, and the peer is told.
        FAILED: [
          {
            guard: and(["thisAttempt", "attemptsLeft", "caller"]),
            target: ".offering",
            reenter: true,
            actions: ["nextAttempt", "sendOffer"]
          },
          { guard: and(["thisAttempt", "attemptsLeft"]), actions: "askRetry" },
          { guard: "thisAttempt", target: "failed", actions: ["fail", "sendHangup"] }
        ],
        RETRY: [
          {
            guard: and(["thisAttempt", "attemptsLeft", "caller"]),
            target: ".offering",
            reenter: true,
            actions: ["nextAttempt", "sendOffer"]
          },
          {
            guard: and(["thisAttempt", "caller"]),
            target: "failed",
            actions: [assign({ reason: "the direct connection failed on the peer's side", deadline: null }), "sendHangup"]
          }
        ]
      },
      initial: "offering",
      states: {
        offering: {
          on: {
            ANSWER: { guard: and(["ourCall", "thisAttempt"]), target: "connecting" },
            // Glare: both called. Theirs stands (we answer it, dropping ours) or ours does (theirs is ignored:
            // they answer ours).
            OFFER: { guard: "theirOfferWins", target: "connecting", actions: ["yieldToTheirs", "sendAnswer"] }
          }
        },
        answering: {
          on: {
            ACCEPT: { target: "connecting", actions: "sendAnswer" },
            // Still ringing: the newer offer is the one to answer.
            OFFER: { guard: "newerOffer", actions: "takeAttempt" }
          }
        },
        connecting: {
          on: {
            CONNECTED: { target: "#call.connected", actions: { type: "settle", params: { reason: null } } },
            OFFER: { guard: "newerOffer", actions: ["takeAttempt", "sendAnswer"] }
          }
        }
      }
    },
    connected: {},
    closed: { type: "final", entry: "release" },
    failed: { type: "final", entry: "release" },
    // The other side is told, so it stops ringing or offering now rather than at its own deadline.
    timedOut: {
      type: "final",
      entry: ["sendHangup", "release", { type: "settle", params: { reason: "negotiation timed out" } }]
    }
  },
  // In any live state: a local hang-up ends the call (telling the peer), so does theirs; a failure ends it; a
  // clock past the deadline while negotiating (a resumed actor, whose timer was not re-armed) times it out.
  on: {
    HANGUP: { guard: "inCall", target: ".closed", actions: ["sendHangup", { type: "settle", params: { reason: "hung up" } }] },
    REMOTE_HANGUP: { guard: "ourCall", target: ".closed", actions: { type: "settle", params: { reason: "the peer hung up" } } },
    FAILED: { guard: "thisAttempt", target: ".failed", actions: "fail" },
    CLOCK: { guard: "pastDeadline", target: ".timedOut" }
  }
})
