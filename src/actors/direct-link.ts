import type { DirectChannel } from "../adapters/direct-peer.js"

/**
 * What travels on a call's `skchat` channel: sealed envelopes, each acknowledged once the other side has
 * committed its outcome (so a sender counts a message as sent only when it is safe in the peer's log, as a
 * file in a shared folder would be), and the small control frames of file transfers. JSON text frames.
 */
export type LinkFrame =
  | { readonly t: "env"; readonly n: number; readonly text: string }
  | { readonly t: "ack"; readonly n: number }
  /** File transfers (file-transfers.ts): the receiver asks for the chunks it lacks, then says it is done. */
  | { readonly t: "need"; readonly id: string; readonly missing: ReadonlyArray<readonly [number, number]> }
  | { readonly t: "resume"; readonly id: string }
  | { readonly t: "done"; readonly id: string; readonly ok: boolean; readonly reason: string | null }
  /**
   * The other side hangs up: said on the channel first, so the call ends as hung up rather than as a channel
   * that closed (the sealed hang-up signal follows over the transports). The channel is DTLS-bound to the
   * fingerprint in the peer's signed description, so only they can say it.
   */
  | { readonly t: "bye" }

export type ControlFrame = Extract<LinkFrame, { readonly t: "need" | "resume" | "done" }>

/** How long an envelope waits for the peer's acknowledgement before the sender falls back to a transport. */
export const ACK_TIMEOUT_MS = 10_000

export interface DirectLink {
  readonly peer: string
  /** Resolves once the peer has committed the envelope; rejects when the link goes or no ack comes. */
  readonly sendEnvelope: (text: string) => Promise<void>
  readonly sendControl: (frame: ControlFrame) => void
  readonly sayBye: () => void
  readonly close: () => void
}

export interface LinkHandlers {
  /** An envelope from the peer: `committed` acknowledges it, to be called once its outcome is in the log. */
  readonly onEnvelope: (text: string, committed: () => void) => void
  readonly onControl: (frame: ControlFrame) => void
  readonly onBye: () => void
}

const parse = (bytes: Buffer): LinkFrame | undefined => {
  try {
    const frame = JSON.parse(bytes.toString("utf8")) as LinkFrame
    return typeof frame === "object" && frame !== null && typeof frame.t === "string" ? frame : undefined
  } catch {
    return undefined
  }
}

export const openDirectLink = (peer: string, channel: DirectChannel, handlers: LinkHandlers): DirectLink => {
  let next = 1
  let closed = false
  const waiting = new Map<number, { readonly ok: () => void; readonly fail: (e: Error) => void }>()
  const put = (frame: LinkFrame) => {
    if (closed) throw new Error("the direct channel is closed")
    channel.send(Buffer.from(JSON.stringify(frame), "utf8"))
  }
  const failAll = (why: string) => {
    for (const w of waiting.values()) w.fail(new Error(why))
    waiting.clear()
  }
  channel.onClose(() => {
    closed = true
    failAll("the direct channel closed")
  })
  channel.onMessage((bytes) => {
    const frame = parse(bytes)
    // Anything else on this channel is ignored: the peer is authenticated by DTLS only, and every envelope
    // is still opened and verified like any other.
    if (frame === undefined) return
    switch (frame.t) {
      case "env": {
        if (typeof frame.text !== "string" || typeof frame.n !== "number") return
        let acked = false
        handlers.onEnvelope(frame.text, () => {
          if (acked || closed) return
          acked = true
          try {
            put({ t: "ack", n: frame.n })
          } catch {
            // The channel went: the sender falls back and the envelope arrives again, a quiet duplicate.
          }
        })
        return
      }
      case "ack": {
        const w = waiting.get(frame.n)
        waiting.delete(frame.n)
        w?.ok()
        return
      }
      case "bye":
        handlers.onBye()
        return
      case "need":
      case "resume":
      case "done":
        if (typeof frame.id === "string") handlers.onControl(frame)
    }
  })
  return {
    peer,
    sendEnvelope: (text) =>
      new Promise<void>((ok, fail) => {
        const n = next++
        const timer = setTimeout(() => {
          waiting.delete(n)
          fail(new Error(`no acknowledgement within ${ACK_TIMEOUT_MS / 1000}s`))
        }, ACK_TIMEOUT_MS)
        waiting.set(n, {
          ok: () => {
            clearTimeout(timer)
            ok()
          },
          fail: (e) => {
            clearTimeout(timer)
            fail(e)
          }
        })
        try {
          put({ t: "env", n, text })
        } catch (e) {
          waiting.get(n)?.fail(e as Error)
          waiting.delete(n)
        }
      }),
    sendControl: (frame) => {
      try {
        put(frame)
      } catch {
        // A control frame lost with its channel: the transfer resumes on the next connection.
      }
    },
    sayBye: () => {
      try {
        put({ t: "bye" })
      } catch {
        // Gone already: the channel's close says it.
      }
    },
    close: () => {
      closed = true
      failAll("the call ended")
    }
  }
}
