import { Cause, Clock, Deferred, Duration, Effect, Exit, FiberId } from "effect"
import { dirname } from "node:path"
import { ChatSystem } from "../../actors/chat-system.js"
import { Courier } from "../../actors/courier.js"
import { askDaemon } from "../../adapters/daemon-socket.js"
import { SkchatPaths } from "../../adapters/skchat-paths.js"
import { ChatQueries } from "../../projections/chat-queries.js"
import type { MessageView } from "../../projections/message-queries.js"
import { makeWakeUps, type WakeReason } from "../wake-ups.js"
import { failureLine } from "./agent-runtime.js"

/**
 * "The log changed": what a waiting tool call sleeps on. Take `next()` before reading the store, then await
 * it: a change that lands between the read and the wait still wakes the waiter.
 */
export class LogChanges {
  private pending = Deferred.unsafeMake<void>(FiberId.none)
  /** Asks the follower for a round of mail now (set while it runs). */
  wake: () => void = () => {}
  next(): Deferred.Deferred<void> {
    return this.pending
  }
  fire(): void {
    const fired = this.pending
    this.pending = Deferred.unsafeMake<void>(FiberId.none)
    Deferred.unsafeDone(fired, Exit.void)
  }
  /** Until `change` fires or `ms` have passed. */
  static until(change: Deferred.Deferred<void>, ms: number): Effect.Effect<void> {
    return Effect.raceFirst(Deferred.await(change), Effect.sleep(Duration.millis(ms)))
  }
}

/** The log is looked at at least this often, in case a file-system notification never came. */
const LOOK_MS = 1000
/** Whether a daemon runs is asked at most this often. */
const DAEMON_CHECK_MS = 1000

/**
 * The MCP server's background loop. It follows the store's log, which the daemon, the CLI and this server
 * all write: a change (seen by a notification on the store's folder — a commit writes the WAL — or at the
 * latest every second) fires `changes` and hands new arrivals to `onArrivals` (resource update
 * notifications). While no daemon runs,
 * it also does the daemon's work itself, like `skchat watch`: takes in what the transports hold (woken by
 * their folders' notifications), works the outbox and expires TTL messages; an agent waiting for a message
 * must not depend on someone starting a daemon. It ends on SIGTERM/SIGINT (calling `onStop`) or when
 * interrupted.
 */
export const followLog = (options: {
  readonly changes: LogChanges
  readonly onArrivals: (arrivals: ReadonlyArray<MessageView>) => Effect.Effect<void>
  readonly onStop: () => void
  readonly problem: (line: string) => void
}) =>
  Effect.gen(function*() {
    const chat = yield* ChatSystem
    const courier = yield* Courier
    const queries = yield* ChatQueries
    const paths = yield* SkchatPaths
    const { wait, wake } = yield* makeWakeUps(
      courier.transports,
      (dir) => options.problem(`cannot watch ${dir}: looking every ${LOOK_MS / 1000}s`),
      [dirname(paths.dbFile)]
    )
    options.changes.wake = wake
    yield* Effect.addFinalizer(() => Effect.sync(() => (options.changes.wake = () => {})))

    let head = chat.head().seq
    let lastArrival = queries.latestArrived(yield* Clock.currentTimeMillis, 1).at(-1)?.seq ?? 0
    let daemonCheckedAt = Number.NEGATIVE_INFINITY
    let daemonRuns = false

    /** `mail`: also take in mail, when no daemon does (not when only the store changed: that was a commit). */
    const round = (mail: boolean) => Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      if (mail && now - daemonCheckedAt >= DAEMON_CHECK_MS) {
        daemonRuns = (yield* Effect.promise(() => askDaemon(paths.dataDir, "status", 1000))) !== undefined
        daemonCheckedAt = now
      }
      if (mail && !daemonRuns) {
        const summary = yield* courier.receive()
        for (const e of summary.errors) options.problem(e)
        yield* courier.deliver()
        yield* chat.expireDue()
      }
      const seq = chat.head().seq
      if (seq === head) return
      head = seq
      const arrived = queries.arrivedAfter(yield* Clock.currentTimeMillis, lastArrival, 500)
      // A message's row has its event's seq: below 500 arrivals, nothing up to the head is left to look at
      // (so our own sends are not scanned again at every commit).
      lastArrival = arrived.length < 500 ? Math.max(seq, arrived.at(-1)?.seq ?? 0) : arrived.at(-1)!.seq
      options.changes.fire()
      if (arrived.length > 0) yield* options.onArrivals(arrived.map((a) => a.message))
    }).pipe(
      // A bad round (a transport gone, a busy store) is reported; following goes on.
      Effect.catchAllCause((cause) =>
        Effect.sync(() => {
          if (!Cause.isInterruptedOnly(cause)) options.problem(failureLine(cause))
        })
      )
    )

    let why: WakeReason = "tick"
    for (;;) {
      yield* round(why !== "changed")
      why = yield* wait(LOOK_MS)
      if (why === "stop") break
    }
    options.onStop()
  }).pipe(Effect.scoped)
