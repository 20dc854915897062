import { Deferred, Duration, Effect, Exit, Queue } from "effect"
import { type FSWatcher, mkdirSync, watch } from "node:fs"
import type { Transport } from "../adapters/transport.js"

/** Why a long-running loop (the daemon, `watch`) woke up. */
export type WakeReason = "stop" | "wake" | "tick"

/**
 * What a long-running loop waits on: SIGINT/SIGTERM (stop, after the round in hand), a change in one of the
 * transports' folders (file-system notifications) or an explicit `wake()`, and a timeout (polling, the
 * fallback where notifications do not arrive). Signal handlers and watchers go when the scope closes.
 */
export const makeWakeUps = (
  transports: ReadonlyArray<Transport>,
  cannotWatch: (dir: string, error: unknown) => void = () => {},
  /** More folders whose changes wake the loop (the MCP server follows the store's own folder). */
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
    const wakeUps = yield* Queue.sliding<"wake">(1)
    const wake = () => Queue.unsafeOffer(wakeUps, "wake")
    const watchers: Array<FSWatcher> = []
    for (const dirs of [...transports.map((t) => t.watchPaths), alsoWatch]) {
      for (const dir of dirs) {
        try {
          mkdirSync(dir, { recursive: true, mode: 0o700 })
          watchers.push(watch(dir, { persistent: false }, wake).on("error", () => {}))
        } catch (e) {
          cannotWatch(dir, e)
        }
      }
    }
    yield* Effect.addFinalizer(() => Effect.sync(() => watchers.forEach((w) => w.close())))
    /** Waits for whichever comes first: a stop signal, a wake-up, or `ms` milliseconds. */
    const wait = (ms: number): Effect.Effect<WakeReason> =>
      Effect.raceAll([
        Deferred.await(stop).pipe(Effect.as("stop" as const)),
        Queue.take(wakeUps).pipe(Effect.as("wake" as const)),
        Effect.sleep(Duration.millis(ms)).pipe(Effect.as("tick" as const))
      ])
    return { wake, wait }
  })
