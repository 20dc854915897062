/**
 * Polling helpers for CLI tests: tests never assert timings, they wait (generously) until something holds.
 */

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

export interface WaitOptions {
  /** Give up after this long (default 30 s): a failure, with `what` and the last value seen. */
  readonly timeoutMs?: number
  /** Pause between tries (default 100 ms). */
  readonly intervalMs?: number
  /** What is being waited for, for the error message. */
  readonly what?: string
}

/**
 * Runs `probe` until `done` holds for its result, and returns that result. Throws after `timeoutMs`
 * naming `what` and showing the last result, so a test that waits in vain says what it saw.
 */
export const waitFor = async <A>(
  probe: () => A | Promise<A>,
  done: (a: A) => boolean,
  options: WaitOptions = {}
): Promise<A> => {
  const timeoutMs = options.timeoutMs ?? 30_000
  const intervalMs = options.intervalMs ?? 100
  const start = Date.now()
  for (;;) {
    const value = await probe()
    if (done(value)) return value
    if (Date.now() - start > timeoutMs) {
      const shown = typeof value === "string" ? value : JSON.stringify(value, null, 2)
      throw new Error(`gave up after ${timeoutMs} ms waiting for ${options.what ?? "a condition"}; last seen:\n${shown}`)
    }
    await sleep(intervalMs)
  }
}

/** Waits until `check` returns true (see waitFor). */
export const waitUntil = async (check: () => boolean | Promise<boolean>, options: WaitOptions = {}): Promise<void> => {
  await waitFor(check, (ok) => ok, options)
}
