import { type OutboundEnvelope, PassedOver, type Transport } from "../adapters/transport.js"
import { errorLine } from "../domain/error-line.js"

/** After this many failures in a row a transport cools down: it is tried only when nothing else is left. */
export const FAILURES_BEFORE_COOLDOWN = 3
export const COOLDOWN_MS = 60_000

export interface Router {
  readonly transports: ReadonlyArray<Transport>
  /**
   * Hands an envelope to the first transport (by priority) that takes it, failing over to the next on
   * failure. Resolves with the transport's name; rejects with one line naming why each one failed.
   */
  readonly deliver: (envelope: OutboundEnvelope) => Promise<string>
}

interface Health {
  failures: number
  coolUntil: number
}

/**
 * Failover routing over the configured transports (SKComm's `failover` mode). A transport that keeps
 * failing is set aside for a while, so one dead route does not cost every message a timeout.
 */
export const makeRouter = (transports: ReadonlyArray<Transport>, clock: () => number = Date.now): Router => {
  const health = new Map<string, Health>(transports.map((t) => [t.name, { failures: 0, coolUntil: 0 }]))
  const ordered = () => {
    const now = clock()
    const cooling = (t: Transport) => health.get(t.name)!.coolUntil > now
    return [
      ...transports.filter((t) => !cooling(t)),
      ...transports.filter(cooling).sort((a, b) => health.get(a.name)!.coolUntil - health.get(b.name)!.coolUntil)
    ]
  }
  return {
    transports,
    deliver: async (envelope) => {
      if (transports.length === 0) throw new Error("no transport is configured (skchat.transports in config.yml)")
      const reasons: Array<string> = []
      for (const t of ordered()) {
        const h = health.get(t.name)!
        try {
          await t.send(envelope)
          h.failures = 0
          h.coolUntil = 0
          return t.name
        } catch (e) {
          if (e instanceof PassedOver) continue
          h.failures += 1
          if (h.failures >= FAILURES_BEFORE_COOLDOWN) h.coolUntil = clock() + COOLDOWN_MS
          reasons.push(`${t.name}: ${errorLine(e)}`)
        }
      }
      throw new Error(reasons.length === 0 ? `no transport reaches ${envelope.recipient}` : reasons.join("; "))
    }
  }
}
