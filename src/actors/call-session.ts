import { type Actor, createActor } from "xstate"
import { type DirectChannel, type DirectPeer, openDirectPeer } from "../adapters/direct-peer.js"
import type { CallSignal } from "../domain/call-signal.js"
import { errorLine } from "../domain/error-line.js"
import { callMachine } from "./call-machine.js"

/**
 * One call with one peer, end to end on this side: the call machine decides, this wires its decisions to a
 * direct peer connection and to the host's signal carrier (sealed envelopes over the transports). Signals
 * for a call other than the one in hand (the losing offer of a glare, a stale call) are dropped; candidates
 * that arrive before the connection they belong to exists wait for it.
 */
export interface CallSessionOptions {
  readonly me: string
  readonly peer: string
  readonly now: number
  readonly autoAccept?: boolean
  readonly negotiationMs?: number
  readonly bindAddress?: string
  readonly iceServers?: ReadonlyArray<string>
  /** Carries a signal to the peer (the host seals it for them). */
  readonly sendSignal: (callId: string, signal: CallSignal) => void
  /** The call's state changed (`negotiating.offering`, `connected`, `closed`, ...). */
  readonly onState?: (state: string, reason: string | null) => void
  /** The data channel is open (on both sides once connected). */
  readonly onChannel?: (channel: DirectChannel) => void
  /** Another channel the peer opened on this call (file transfers). */
  readonly onExtraChannel?: (channel: DirectChannel) => void
}

export interface CallSession {
  readonly call: (callId: string, now: number) => void
  readonly accept: (now: number) => void
  readonly hangUp: () => void
  /** The connection is gone (its channel closed under it): the call fails with `reason`, after a grace. */
  readonly drop: (reason: string, graceMs?: number) => void
  /** A signal from the peer, for call `callId`. */
  readonly receive: (callId: string, signal: CallSignal, now: number) => void
  /** A clock reading: times the negotiation out if its deadline passed (an actor resumed without its timer). */
  readonly tick: (now: number) => void
  readonly state: () => string
  readonly callId: () => string | null
  /** Which connection of the call is being made (0 first; see call-machine.ts's `CALL_ATTEMPTS`). */
  readonly attempt: () => number
  /** `caller` when the call in hand is ours, `callee` when it is the peer's (also after losing a glare). */
  readonly role: () => "caller" | "callee" | null
  readonly channel: () => DirectChannel | undefined
  /** Opens another channel on the call's connection (file transfers); rejects when there is none. */
  readonly openChannel: (label: string) => Promise<DirectChannel>
  /** Ends everything without telling the peer (shutdown). */
  readonly stop: () => void
}

/** How long a lost connection waits for the peer's hang-up before the call counts as failed. */
export const DROP_GRACE_MS = 1000

/** The channel every call opens first: sealed envelopes travel on it. */
export const CALL_CHANNEL = "skchat"

const stateName = (value: unknown): string =>
  typeof value === "string"
    ? value
    : Object.entries(value as Record<string, unknown>).map(([k, v]) => `${k}.${stateName(v)}`).join(",")

export const openCallSession = (options: CallSessionOptions): CallSession => {
  let peer: DirectPeer | undefined
  let channel: DirectChannel | undefined
  /** The newest offer we may be asked to answer, and candidates that came before their connection (or their
   * offer), by call and attempt. */
  let theirOffer: { readonly callId: string; readonly attempt: number; readonly sdp: string } | undefined
  const early = new Map<string, Array<{ readonly candidate: string; readonly mid: string }>>()
  const keyOf = (callId: string, attempt: number) => `${callId}#${attempt}`
  const keepEarly = (key: string, candidate: { readonly candidate: string; readonly mid: string }) => {
    const waiting = early.get(key) ?? []
    // Bounded: a peer cannot make us hold on to an endless stream of candidates for calls that never come.
    if (waiting.length >= 64 || (!early.has(key) && early.size >= 4)) return
    waiting.push(candidate)
    early.set(key, waiting)
  }
  let actor: Actor<typeof callMachine>
  /** The peer's description is applied: candidates can be added (libdatachannel refuses them before). */
  let described = false

  /** Applies the peer's description and the candidates that waited for it; a bad one fails the attempt. */
  const takeTheirDescription = (connection: DirectPeer, type: "offer" | "answer", sdp: string) => {
    const { callId, attempt } = actor.getSnapshot().context
    try {
      connection.signal({ kind: "description", type, sdp })
      described = true
      for (const c of early.get(keyOf(callId!, attempt)) ?? []) connection.signal({ kind: "candidate", ...c })
      early.clear()
    } catch (e) {
      actor.send({ type: "FAILED", attempt, reason: `the peer's ${type} was refused: ${errorLine(e)}` })
    }
  }

  const currentCall = () => actor.getSnapshot().context.callId
  const currentAttempt = () => actor.getSnapshot().context.attempt

  /**
   * The connection went without a word: the call fails, after a moment. A peer that hangs up closes its
   * connection right after telling us (a `bye` on the channel, a sealed hang-up over the transports), and
   * the close can overtake what it said: within the grace, the hang-up wins.
   */
  const drop = (reason: string, graceMs = DROP_GRACE_MS) => {
    const failed = { type: "FAILED", reason, attempt: currentAttempt() } as const
    if (graceMs <= 0) return actor.send(failed)
    setTimeout(() => actor.send(failed), graceMs).unref()
  }

  const connect = (callId: string, attempt: number) => {
    peer?.close()
    channel = undefined
    described = false
    const opened = openDirectPeer({
      name: `${options.me}->${options.peer}`,
      ...(options.bindAddress === undefined ? {} : { bindAddress: options.bindAddress }),
      ...(options.iceServers === undefined ? {} : { iceServers: options.iceServers }),
      onSignal: (s) => {
        // A connection replaced meanwhile (glare, a new attempt) says nothing more.
        if (peer !== opened) return
        options.sendSignal(callId, s.kind === "description" ? { kind: s.type, sdp: s.sdp, attempt } : { ...s, attempt })
      },
      onState: (state) => {
        if (peer !== opened) return
        if (state === "connected") actor.send({ type: "CONNECTED" })
        if (state === "failed" || state === "disconnected" || state === "closed") {
          const reason = `the direct connection ${state === "failed" ? "failed" : "was lost"}`
          // Before it connected, nothing the peer said can be overtaken: the attempt fails now (and is made
          // again); a connected call waits for the peer's hang-up a moment.
          if (actor.getSnapshot().matches("negotiating")) actor.send({ type: "FAILED", attempt, reason })
          else drop(reason)
        }
      },
      onChannel: (c) => {
        if (peer !== opened) return
        if (c.label !== CALL_CHANNEL) return options.onExtraChannel?.(c)
        channel = c
        options.onChannel?.(c)
      }
    })
    peer = opened
    return opened
  }

  actor = createActor(callMachine.provide({
    actions: {
      sendOffer: ({ context }) => {
        const opened = connect(context.callId!, context.attempt)
        opened.openChannel(CALL_CHANNEL).then((c) => {
          if (peer !== opened) return
          channel = c
          options.onChannel?.(c)
        }, () => {
          // Closed before it opened: the machine hears of it from the connection's state.
        })
      },
      sendAnswer: ({ context }) => {
        const opened = connect(context.callId!, context.attempt)
        if (theirOffer?.callId === context.callId && theirOffer.attempt === context.attempt) {
          takeTheirDescription(opened, "offer", theirOffer.sdp)
        }
      },
      sendHangup: ({ context }) => options.sendSignal(context.callId!, { kind: "hangup", reason: null }),
      askRetry: ({ context }) => {
        peer?.close()
        peer = undefined
        options.sendSignal(context.callId!, { kind: "retry", attempt: context.attempt })
      },
      release: () => {
        peer?.close()
        peer = undefined
      }
    }
  }), {
    input: {
      me: options.me,
      peer: options.peer,
      now: options.now,
      ...(options.autoAccept === undefined ? {} : { autoAccept: options.autoAccept }),
      ...(options.negotiationMs === undefined ? {} : { negotiationMs: options.negotiationMs })
    }
  })
  actor.subscribe((snapshot) => options.onState?.(stateName(snapshot.value), snapshot.context.reason))
  actor.start()

  return {
    call: (callId, now) => actor.send({ type: "CALL", callId, now }),
    accept: (now) => actor.send({ type: "ACCEPT", now }),
    hangUp: () => actor.send({ type: "HANGUP" }),
    drop,
    receive: (callId, signal, now) => {
      switch (signal.kind) {
        case "offer": {
          // Kept first: answering (at once on auto-accept, glare or a newer attempt, else on accept) applies
          // it. Kept only if the machine takes it up: an offer it ignores must not replace the one it holds.
          const previous = theirOffer
          const attempt = signal.attempt ?? 0
          theirOffer = { callId, attempt, sdp: signal.sdp }
          actor.send({ type: "OFFER", callId, now, attempt })
          if (currentCall() !== callId || currentAttempt() !== attempt) theirOffer = previous
          return
        }
        case "answer": {
          const attempt = signal.attempt ?? 0
          if (callId !== currentCall() || attempt !== currentAttempt() || peer === undefined || described) return
          takeTheirDescription(peer, "answer", signal.sdp)
          actor.send({ type: "ANSWER", callId, attempt })
          return
        }
        case "candidate": {
          const attempt = signal.attempt ?? 0
          if (callId === currentCall() && attempt === currentAttempt() && peer !== undefined && described) {
            try {
              peer.signal({ kind: "candidate", candidate: signal.candidate, mid: signal.mid })
            } catch {
              // One unusable candidate is not the end of the call: ICE tries the others.
            }
          } else {
            keepEarly(keyOf(callId, attempt), { candidate: signal.candidate, mid: signal.mid })
          }
          return
        }
        case "retry":
          actor.send({ type: "RETRY", callId, attempt: signal.attempt })
          return
        case "hangup":
          actor.send({ type: "REMOTE_HANGUP", callId })
      }
    },
    tick: (now) => actor.send({ type: "CLOCK", now }),
    state: () => stateName(actor.getSnapshot().value),
    callId: currentCall,
    attempt: currentAttempt,
    role: () => actor.getSnapshot().context.role,
    channel: () => channel,
    openChannel: (label) =>
      peer === undefined ? Promise.reject(new Error("the call has no connection")) : peer.openChannel(label),
    stop: () => {
      actor.stop()
      peer?.close()
      peer = undefined
    }
  }
}
