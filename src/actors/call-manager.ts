import { type DirectChannel, releaseDirectPeers } from "../adapters/direct-peer.js"
import { type InboundItem, PassedOver, type Transport } from "../adapters/transport.js"
import type { CallSignal } from "../domain/call-signal.js"
import type { ChatEvent } from "../domain/chat-event.js"
import { errorLine } from "../domain/error-line.js"
import { InvalidInput } from "../domain/errors.js"
import { uuidv7 } from "../domain/message-id.js"
import type { WebrtcSettings } from "../domain/webrtc-settings.js"
import { type CallSession, openCallSession } from "./call-session.js"
import { type ControlFrame, type DirectLink, openDirectLink } from "./direct-link.js"

/** What the daemon gives the call manager: how to reach the log, the transports and its own receive path. */
export interface CallManagerHost {
  readonly me: string
  readonly settings: WebrtcSettings
  /** Seals a signal for the peer and hands it to a transport. */
  readonly sendSignal: (peer: string, callId: string, signal: CallSignal) => Promise<void>
  readonly record: (events: ReadonlyArray<ChatEvent>) => Promise<void>
  /** Envelopes that came over a channel, received like a transport's items (consumed once committed). */
  readonly receive: (items: ReadonlyArray<InboundItem>) => Promise<void>
  readonly log: (line: string) => void
  /** A call's channel came up (`link`) or went down (undefined): file transfers resume or pause on it. */
  readonly onLink?: (peer: string, link: DirectLink | undefined) => void
  readonly onControl?: (peer: string, frame: ControlFrame) => void
  /** A channel the peer opened for a file transfer. */
  readonly onExtraChannel?: (peer: string, channel: DirectChannel) => void
  /** The peer's current call connected, or ended with `outcome`. */
  readonly onConnected?: (peer: string) => void
  readonly onEnded?: (peer: string, outcome: CallOutcome) => void
}

export type CallOutcome = ReturnType<typeof outcomeOf>

/** A call as the daemon holds it now (`live` in `call status`). */
export interface LiveCall {
  readonly peer: string
  readonly call_id: string | null
  readonly state: string
}

interface Entry {
  readonly peer: string
  session: CallSession
  /** The call id recorded as started (a glare switches it to the peer's). */
  logged: string | null
  /** The connection attempt last seen (a failed handshake is made again: logged, not recorded). */
  attempt: number
  connected: boolean
  ended: boolean
  link: DirectLink | undefined
}

const outcomeOf = (state: string, reason: string | null) =>
  state === "timedOut"
    ? "timed_out" as const
    : state === "failed"
    ? "failed" as const
    : reason === "the peer hung up"
    ? "remote_hung_up" as const
    : "hung_up" as const

/**
 * The daemon's direct calls, one session per peer (call-session.ts), and the `direct` transport they make:
 * while a call is connected, envelopes to that peer go over its channel first. Lifecycle facts go to the
 * log in order (CallStarted, CallConnected, CallEnded); signals to each peer go out in order too.
 */
export const makeCallManager = (host: CallManagerHost) => {
  const calls = new Map<string, Entry>()

  // One chain for log writes (a call's end never lands before its start) and one per peer for signals (a
  // hang-up never overtakes its offer).
  let records: Promise<void> = Promise.resolve()
  const record = (...events: ReadonlyArray<ChatEvent>) => {
    records = records.then(() => host.record(events)).catch((e) => host.log(`error: cannot record a call event: ${errorLine(e)}`))
  }
  const signalChains = new Map<string, Promise<void>>()
  const sendSignal = (peer: string, callId: string, signal: CallSignal) => {
    const chain = (signalChains.get(peer) ?? Promise.resolve())
      .then(() => host.sendSignal(peer, callId, signal))
      .catch((e) => host.log(`cannot send the ${signal.kind} of call ${callId} to ${peer}: ${errorLine(e)}`))
    signalChains.set(peer, chain)
  }

  const inbound: Array<InboundItem> = []
  let draining = false
  const drain = async () => {
    if (draining) return
    draining = true
    try {
      while (inbound.length > 0) {
        await host.receive(inbound.splice(0, 200)).catch((e) => host.log(`error: ${errorLine(e)}`))
      }
    } finally {
      draining = false
    }
  }

  /** Never throws: XState rethrows an observer's error outside any handler, which would end the daemon. */
  const onState = (entry: Entry, state: string, reason: string | null) => {
    try {
      // The session reports its first state while it is being opened, before there is anything to record.
      if (entry.session !== undefined) recordState(entry, state, reason)
    } catch (e) {
      host.log(`error: call with ${entry.peer}: ${errorLine(e)}`)
    }
  }

  const recordState = (entry: Entry, state: string, reason: string | null) => {
    const at = Date.now()
    const callId = entry.session.callId()
    if (callId !== null && entry.logged !== callId) {
      if (entry.logged !== null) {
        record({ _tag: "CallEnded", v: 1, at, call_id: entry.logged, outcome: "superseded",
          reason: "both sides called at once; the other call stands" })
      }
      entry.logged = callId
      const ours = entry.session.role() === "caller"
      record({ _tag: "CallStarted", v: 1, at, call_id: callId, peer: entry.peer, direction: ours ? "out" : "in" })
      if (!ours) {
        host.log(`incoming call ${callId} from ${entry.peer}${state === "negotiating.answering" ? " (ringing: `skchat call accept`)" : ""}`)
      }
    }
    if (entry.session.attempt() !== entry.attempt) {
      entry.attempt = entry.session.attempt()
      host.log(`call ${callId} with ${entry.peer}: the connection failed before it was made; trying again (attempt ${entry.attempt + 1})`)
    }
    if (state === "connected" && !entry.connected && callId !== null) {
      entry.connected = true
      record({ _tag: "CallConnected", v: 1, at, call_id: callId })
      host.log(`call ${callId} with ${entry.peer} connected`)
      host.onConnected?.(entry.peer)
    }
    if ((state === "closed" || state === "failed" || state === "timedOut") && !entry.ended) {
      entry.ended = true
      const current = calls.get(entry.peer) === entry
      if (current) calls.delete(entry.peer)
      entry.link?.close()
      // A call replaced by a newer one (the peer called again) must not take the newer one's link down.
      if (entry.link !== undefined && (current || calls.get(entry.peer) === undefined)) host.onLink?.(entry.peer, undefined)
      entry.link = undefined
      if (callId !== null) {
        const outcome = outcomeOf(state, reason)
        record({ _tag: "CallEnded", v: 1, at, call_id: callId, outcome, reason })
        host.log(`call ${callId} with ${entry.peer} ended: ${outcome.replaceAll("_", " ")}${reason === null ? "" : ` (${reason})`}`)
        host.onEnded?.(entry.peer, outcome)
      }
    }
  }

  const open = (peer: string, now: number): Entry => {
    const entry: Entry = { peer, session: undefined as unknown as CallSession, logged: null, attempt: 0, connected: false,
      ended: false, link: undefined }
    const { settings } = host
    entry.session = openCallSession({
      me: host.me,
      peer,
      now,
      autoAccept: settings.autoAccept,
      negotiationMs: settings.negotiationMs,
      ...(settings.bindAddress === undefined ? {} : { bindAddress: settings.bindAddress }),
      iceServers: settings.iceServers,
      sendSignal: (callId, signal) => sendSignal(peer, callId, signal),
      onState: (state, reason) => onState(entry, state, reason),
      onChannel: (channel) => {
        const link = openDirectLink(peer, channel, {
          onEnvelope: (text, committed) => {
            const bytes = Buffer.from(text, "utf8")
            inbound.push({ source: `direct:${peer}`, bytes, size: bytes.byteLength, consume: () => committed() })
            void drain()
          },
          onControl: (frame) => host.onControl?.(peer, frame),
          onBye: () => {
            const callId = entry.session.callId()
            if (callId !== null) entry.session.receive(callId, { kind: "hangup", reason: null }, Date.now())
          }
        })
        channel.onClose(() => entry.session.drop("the direct channel closed"))
        entry.link = link
        host.onLink?.(peer, link)
      },
      onExtraChannel: (channel) => host.onExtraChannel?.(peer, channel)
    })
    calls.set(peer, entry)
    return entry
  }

  const live = (peer: string) => {
    const entry = calls.get(peer)
    return entry === undefined || entry.ended ? undefined : entry
  }

  const describe = (entry: Entry): LiveCall => ({
    peer: entry.peer,
    call_id: entry.session.callId(),
    state: entry.session.state()
  })

  /** The direct transport: the channel of a connected call with the recipient, else passed over. */
  const transport: Transport = {
    name: "direct",
    priority: 0,
    watchPaths: [],
    send: async (envelope) => {
      const link = live(envelope.recipient)?.link
      if (link === undefined) throw new PassedOver(`no direct call with ${envelope.recipient}`)
      try {
        await link.sendEnvelope(envelope.text)
      } catch (e) {
        // Not a failure of the route: the envelope goes by the next transport, the call decides its own fate.
        throw new PassedOver(errorLine(e))
      }
    },
    poll: async () => []
  }

  return {
    transport,
    /** Starts a call (non-blocking: negotiation goes on here); a call already under way is returned as is. */
    call: (peer: string, now: number): LiveCall => {
      const existing = live(peer)
      // Calling someone whose call is ringing here answers it (two people calling each other a moment apart).
      if (existing !== undefined && existing.session.state() === "negotiating.answering") existing.session.accept(now)
      if (existing !== undefined) return describe(existing)
      const entry = open(peer, now)
      entry.session.call(uuidv7(now), now)
      return describe(entry)
    },
    accept: (peer: string, now: number): LiveCall => {
      const entry = live(peer)
      if (entry === undefined || entry.session.state() !== "negotiating.answering") {
        throw new InvalidInput({ message: `no incoming call from ${peer} is waiting to be accepted` })
      }
      entry.session.accept(now)
      return describe(entry)
    },
    hangUp: (peer: string): LiveCall => {
      const entry = live(peer)
      if (entry === undefined) throw new InvalidInput({ message: `there is no call with ${peer}` })
      entry.link?.sayBye()
      entry.session.hangUp()
      return describe(entry)
    },
    /** A signal from a peer (verified and addressed to us: ChatSystem.receive checked it). */
    signal: (from: string, callId: string, signal: CallSignal, now: number) => {
      let entry = live(from)
      if (entry !== undefined && signal.kind === "offer" && entry.session.state() === "connected" &&
        entry.session.callId() !== callId) {
        // They called again while we still hold the old call (their side restarted, say): the new one counts.
        entry.session.drop("the peer started a new call", 0)
        entry = undefined
      }
      if (entry === undefined) {
        if (signal.kind !== "offer") return
        entry = open(from, now)
      }
      entry.session.receive(callId, signal, now)
    },
    link: (peer: string) => live(peer)?.link,
    /** Is a call with `peer` under way (negotiating, ringing or connected)? */
    inCall: (peer: string) => live(peer) !== undefined,
    /** Opens another channel on the call with `peer` (file transfers). */
    openChannel: (peer: string, label: string) => {
      const entry = live(peer)
      return entry === undefined || !entry.connected
        ? Promise.reject(new Error(`no direct call with ${peer} is connected`))
        : entry.session.openChannel(label)
    },
    live: (): ReadonlyArray<LiveCall> => [...calls.values()].filter((e) => !e.ended).map(describe),
    tick: (now: number) => {
      for (const entry of calls.values()) entry.session.tick(now)
    },
    /**
     * Shutdown: every call is hung up (the peers are told), its end recorded, and node-datachannel released
     * so that the process can exit.
     */
    stop: async () => {
      for (const entry of [...calls.values()]) {
        entry.link?.sayBye()
        entry.session.hangUp()
      }
      await Promise.all([...signalChains.values()])
      await records
      for (const entry of calls.values()) entry.session.stop()
      calls.clear()
      await releaseDirectPeers()
    }
  }
}

export type CallManager = ReturnType<typeof makeCallManager>
