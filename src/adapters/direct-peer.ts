import { createRequire } from "node:module"
import type * as Ndc from "node-datachannel"

declare const __filename: string | undefined

/**
 * node-datachannel (a native addon) is loaded the first time a call needs it, not when the CLI starts: most
 * commands never make a call. Required from the bundle's own file in the CLI (CommonJS, no import.meta),
 * from this module elsewhere.
 */
let loaded: typeof Ndc | undefined
const ndc = (): typeof Ndc =>
  loaded ??= createRequire(typeof __filename === "string" ? __filename : import.meta.url)("node-datachannel") as typeof Ndc

/**
 * A direct WebRTC peer connection (node-datachannel) to one peer, for calls and file transfer (issue #6).
 * What it needs from the other side and what it has to tell it are `DirectSignal`s; carrying them (as
 * sealed envelopes over the ordinary transports) is the host's job. Network discipline: no ICE server is
 * contacted unless configured (host candidates only by default), and the connection can be bound to one
 * address (127.0.0.1 in tests and benchmarks).
 */

/** What the two sides exchange to connect: the SDP offer or answer, and ICE candidates. */
export type DirectSignal =
  | { readonly kind: "description"; readonly type: "offer" | "answer"; readonly sdp: string }
  | { readonly kind: "candidate"; readonly candidate: string; readonly mid: string }

export interface DirectPeerOptions {
  /** A name for logs (node-datachannel's peer name). */
  readonly name: string
  /** STUN/TURN servers (`skchat.webrtc.ice_servers`); none by default: host candidates only. */
  readonly iceServers?: ReadonlyArray<string>
  /** Only gather candidates on this address (127.0.0.1 in tests and benchmarks). */
  readonly bindAddress?: string
  readonly onSignal: (signal: DirectSignal) => void
  readonly onState?: (state: string) => void
  /** A channel the other side opened. */
  readonly onChannel?: (channel: DirectChannel) => void
}

export interface DirectChannel {
  readonly label: string
  /** Queues the bytes (false: they wait in the channel's buffer rather than going out at once). */
  readonly send: (bytes: Uint8Array) => boolean
  readonly bufferedAmount: () => number
  readonly onMessage: (f: (bytes: Buffer) => void) => void
  /** Resolves once at most `lowWater` bytes wait in the buffer: a sender's back-pressure. */
  readonly drained: (lowWater: number) => Promise<void>
  readonly onClose: (f: () => void) => void
  readonly close: () => void
}

export interface DirectPeer {
  /** A signal from the other side. */
  readonly signal: (signal: DirectSignal) => void
  /** Opens a channel (the side that opens the first one makes the offer); resolves once it is open. */
  readonly openChannel: (label: string) => Promise<DirectChannel>
  readonly state: () => string
  /** Closes every channel and the connection. */
  readonly close: () => void
}

/**
 * node-datachannel calls back from its own threads: an exception escaping a callback terminates the process
 * (C++ `terminate`). Every callback goes through this; what fails is reported, never thrown back.
 */
const safely = <A extends ReadonlyArray<unknown>>(f: (...args: A) => void) => (...args: A): void => {
  try {
    f(...args)
  } catch (e) {
    process.emitWarning(`skchat: a direct connection's callback failed: ${e instanceof Error ? e.message : String(e)}`)
  }
}

const wrap = (dc: Ndc.DataChannel): DirectChannel => {
  const closeHandlers: Array<() => void> = []
  const label = dc.getLabel()
  dc.onClosed(() => {
    for (const f of closeHandlers) safely(f)()
  })
  // A channel that closes never drains: whoever waits for it to must hear of it.
  const closed = new Promise<never>((_, reject) => closeHandlers.push(() => reject(new Error(`channel ${label} closed`))))
  closed.catch(() => {})
  return {
    label,
    send: (bytes) => dc.sendMessageBinary(bytes),
    bufferedAmount: () => dc.bufferedAmount(),
    onMessage: (f) =>
      dc.onMessage(safely((m: string | Buffer | ArrayBuffer) =>
        f(typeof m === "string" ? Buffer.from(m, "utf8") : Buffer.isBuffer(m) ? m : Buffer.from(m))
      )),
    drained: (lowWater) =>
      Promise.race([
        closed,
        new Promise<void>((resolve, reject) => {
          dc.setBufferedAmountLowThreshold(lowWater)
          dc.onBufferedAmountLow(() => resolve())
          // Registered first, then looked: a buffer that emptied meanwhile raises no event.
          if (!dc.isOpen()) reject(new Error(`channel ${label} closed`))
          else if (dc.bufferedAmount() <= lowWater) resolve()
        })
      ]),
    onClose: (f) => void closeHandlers.push(f),
    close: () => dc.close()
  }
}

/**
 * The answering side takes the DTLS server's part (its answer says `a=setup:passive`; the offerer, whose
 * `actpass` left it open, becomes the client). libdatachannel's own choice, the answerer as client, is slow
 * and fragile: the answerer's connectivity checks start as soon as it has the offer, so its first DTLS hello
 * reaches the offerer before the offerer has the answer and is lost (a second one follows only after 1 s),
 * or lands in the instant between the offerer's ICE taking the answer and its DTLS getting the fingerprint
 * to check, which fails the handshake. As client the offerer starts the handshake itself, once it has the
 * answer (measured on a loaded 2-core machine: p95 set-up from ~1 s to ~60 ms, failed handshakes 13% to 3%;
 * call-machine.ts makes a failed one again).
 */
const offererActive = (sdp: string): string => sdp.replace(/^a=setup:actpass(?=\r?$)/gm, "a=setup:active")

/**
 * Connections closed but not yet reported closed by node-datachannel's threads. Its `cleanup()` must wait
 * for them: run while a connection is still closing, it can free a callback twice and abort the process
 * (seen here, about once in a dozen runs under load).
 */
const closing = new Set<Promise<void>>()

export const openDirectPeer = (options: DirectPeerOptions): DirectPeer => {
  const pc = new (ndc().PeerConnection)(options.name, {
    iceServers: [...(options.iceServers ?? [])],
    ...(options.bindAddress === undefined ? {} : { bindAddress: options.bindAddress }),
    enableIceTcp: false
  })
  const channels = new Set<Ndc.DataChannel>()
  // Without ICE servers every candidate is a host candidate, gathered at once: the description is sent whole
  // when gathering completes, candidates inside, so a call costs one sealed envelope each way instead of one
  // per candidate (each one a transport round). With servers configured, candidates trickle as they come.
  const trickle = (options.iceServers ?? []).length > 0
  let described: "offer" | "answer" | undefined
  const sendWhole = () => {
    const local = pc.localDescription()
    if (described === undefined || local === null || pc.gatheringState() !== "complete") return
    const type = described
    described = undefined
    options.onSignal({ kind: "description", type, sdp: local.sdp })
  }
  pc.onLocalDescription(safely((sdp: string, type: string) => {
    if (type !== "offer" && type !== "answer") return
    if (trickle) return options.onSignal({ kind: "description", type, sdp })
    described = type
    sendWhole()
  }))
  pc.onGatheringStateChange(safely(() => {
    if (!trickle) sendWhole()
  }))
  pc.onLocalCandidate(safely((candidate: string, mid: string) => {
    if (trickle) options.onSignal({ kind: "candidate", candidate, mid })
  }))
  let reportClosed: () => void = () => {}
  const closedDown = new Promise<void>((resolve) => (reportClosed = resolve))
  pc.onStateChange(safely((state: string) => {
    if (state === "closed") reportClosed()
    options.onState?.(state)
  }))
  pc.onDataChannel(safely((dc: Ndc.DataChannel) => {
    channels.add(dc)
    options.onChannel?.(wrap(dc))
  }))
  let closed = false
  return {
    signal: (s) => {
      if (closed) return
      if (s.kind === "description") pc.setRemoteDescription(s.type === "offer" ? offererActive(s.sdp) : s.sdp, s.type)
      else pc.addRemoteCandidate(s.candidate, s.mid)
    },
    openChannel: (label) =>
      new Promise((resolve, reject) => {
        const dc = pc.createDataChannel(label)
        channels.add(dc)
        dc.onOpen(safely(() => resolve(wrap(dc))))
        dc.onError(safely((e: string) => reject(new Error(`channel ${label}: ${e}`))))
      }),
    state: () => (closed ? "closed" : pc.state()),
    close: () => {
      if (closed) return
      closed = true
      // Only channels that opened are closed one by one (closing one that never opened, then its connection,
      // made node-datachannel free a callback twice); the connection's close takes the rest.
      for (const dc of channels) {
        if (!dc.isOpen()) continue
        try {
          dc.close()
        } catch {
          // Already closed by the other side.
        }
      }
      const done = Promise.race([closedDown, new Promise<void>((resolve) => setTimeout(resolve, 2000).unref())])
        .then(() => void closing.delete(done))
      closing.add(done)
      pc.close()
    }
  }
}

/**
 * Frees node-datachannel's threads once every peer is closed: without it the process never exits. Call at
 * shutdown of any process that opened a peer, after closing them; it waits until they have finished closing.
 */
export const releaseDirectPeers = async (): Promise<void> => {
  while (closing.size > 0) await Promise.all([...closing])
  // Let the last state callbacks run out on the main thread before the threads behind them go.
  await new Promise<void>((resolve) => setImmediate(resolve))
  // Nothing to free in a process that never made a call.
  loaded?.cleanup()
}
