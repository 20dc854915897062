import { Deferred, Duration, Effect, Exit, Queue } from "effect"
import { type FSWatcher, mkdirSync, watch } from "node:fs"
import type { Transport } from "../adapters/transport.js"

/**
 * Why a long-running loop (the daemon, `watch`, the MCP server) woke up: stopped, something arrived in a
 * transport folder (or `wake()`), the timeout, or a change in one of the `alsoWatch` folders.
 */
export type WakeReason = "stop" | "wake" | "tick" | "changed"

/**
 * What a long-running loop waits on: SIGINT/SIGTERM (stop, after the round in hand), a change in one of the
 * transports' folders (file-system notifications) or an explicit `wake()`, and a timeout (polling, the
 * fallback where notifications do not arrive). Signal handlers and watchers go when the scope closes.
 */
export const makeWakeUps = (
  transports: ReadonlyArray<Transport>,
  cannotWatch: (dir: string, error: unknown) => void = () => {},
  /** More folders whose changes wake the loop as "changed" (the MCP server follows the store's folder). */
  alsoWatch: ReadonlyArray<string> = []
) =>
  Effect.gen(function*() {
    const stop = yield* Deferred.make<void>()
    const onSignal = () => Deferred.unsafeDone(stop, Exit.void)
    yield* Effect.acquireRelease(
      Effect.sync(() => {
        process.on("SIGTERM", onSignal)
        process.on("SIGINT", onSignal)
      }),
      () =>
        Effect.sync(() => {
          process.off("SIGTERM", onSignal)
          process.off("SIGINT", onSignal)
        })
    )
    // Two queues, so that a burst of one kind never hides the other.
    const wakeUps = yield* Queue.sliding<"wake">(1)
    const changes = yield* Queue.sliding<"changed">(1)
    const wake = () => Queue.unsafeOffer(wakeUps, "wake")
    const changed = () => Queue.unsafeOffer(changes, "changed")
    const watchers: Array<FSWatcher> = []
    const folders = [
      ...transports.flatMap((t) => t.watchPaths.map((dir) => ({ dir, notify: wake }))),
      ...alsoWatch.map((dir) => ({ dir, notify: changed }))
    ]
    for (const { dir, notify } of folders) {
      try {
        mkdirSync(dir, { recursive: true, mode: 0o700 })
        watchers.push(watch(dir, { persistent: false }, notify).on("error", () => {}))
      } catch (e) {
        cannotWatch(dir, e)
      }
    }
    yield* Effect.addFinalizer(() => Effect.sync(() => watchers.forEach((w) => w.close())))
    /** Waits for whichever comes first: a stop signal, a wake-up, a change, or `ms` milliseconds. */
    const wait = (ms: number): Effect.Effect<WakeReason> =>
      Effect.raceAll([
        Deferred.await(stop).pipe(Effect.as("stop" as const)),
        Queue.take(wakeUps),
        Queue.take(changes),
        Effect.sleep(Duration.millis(ms)).pipe(Effect.as("tick" as const))
      ])
    return { wake, wait }
  })
