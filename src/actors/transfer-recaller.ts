/**
 * Calls a peer again when a call that carried unfinished file transfers to them failed (the connection was
 * lost, not hung up): a transfer resumes on the next call, and without this it waited for someone to call.
 * A few tries, further apart each time; a call that connects starts the count again, a hang-up (by either
 * side) stops it: a call ended on purpose is not made again behind the user's back.
 */

/** How long after a failed call each new try waits. */
export const RECALL_DELAYS_MS: ReadonlyArray<number> = [2_000, 10_000, 30_000]

export interface TransferRecallerHost {
  /** Are transfers to `peer` unfinished (sent over calls, waiting to resume)? */
  readonly unfinished: (peer: string) => boolean
  /** Is a call with `peer` under way (connected, negotiating or ringing)? */
  readonly inCall: (peer: string) => boolean
  readonly call: (peer: string) => void
  readonly log: (line: string) => void
}

export const makeTransferRecaller = (host: TransferRecallerHost) => {
  /** Tries made since the last call that connected, by peer. */
  const tries = new Map<string, number>()
  const timers = new Map<string, ReturnType<typeof setTimeout>>()

  const schedule = (peer: string, attempt: number) => {
    clearTimeout(timers.get(peer))
    timers.set(peer, setTimeout(() => {
      timers.delete(peer)
      // Someone called meanwhile (the peer, back up), or the transfers finished another way.
      if (host.inCall(peer) || !host.unfinished(peer)) return
      host.log(`calling ${peer} again to resume file transfers (try ${attempt} of ${RECALL_DELAYS_MS.length})`)
      host.call(peer)
    }, RECALL_DELAYS_MS[attempt - 1]).unref())
  }

  return {
    /** A call with `peer` ended with `outcome` (call-manager.ts's outcomes). */
    ended: (peer: string, outcome: string) => {
      const made = tries.get(peer)
      // Lost (or, for one of our tries, not answered in time): try again while tries are left.
      const again = outcome === "failed" || (outcome === "timed_out" && made !== undefined)
      if (!again || !host.unfinished(peer)) {
        tries.delete(peer)
        return
      }
      const attempt = (made ?? 0) + 1
      if (attempt > RECALL_DELAYS_MS.length) {
        tries.delete(peer)
        host.log(`not calling ${peer} again: ${RECALL_DELAYS_MS.length} tries failed (the transfers resume on the next call)`)
        return
      }
      tries.set(peer, attempt)
      schedule(peer, attempt)
    },
    connected: (peer: string) => {
      tries.delete(peer)
      clearTimeout(timers.get(peer))
      timers.delete(peer)
    },
    stop: () => {
      for (const t of timers.values()) clearTimeout(t)
      timers.clear()
    }
  }
}

export type TransferRecaller = ReturnType<typeof makeTransferRecaller>
