import { Effect } from "effect"

/**
 * Gathers the calls made within one turn of the event loop into one batch: `handle` gets their items
 * together and answers each (same order). Calls made while a batch is being handled form the next one.
 * This is how sends in flight together share a commit, and a delivery round: one fixed cost for many.
 * `handle` must not reject; if it does, every caller of that batch dies with the error (a defect).
 */
export const makeTickBatch = <I, R>(handle: (items: ReadonlyArray<I>) => Promise<ReadonlyArray<R>>) => {
  let queue: Array<{ readonly item: I; readonly answer: (result: R) => void; readonly fail: (e: unknown) => void }> =
    []
  let running = false
  const drain = async () => {
    while (queue.length > 0) {
      const batch = queue
      queue = []
      try {
        const results = await handle(batch.map((b) => b.item))
        batch.forEach((b, i) => b.answer(results[i]!))
      } catch (e) {
        for (const b of batch) b.fail(e)
      }
    }
    running = false
  }
  return (item: I): Effect.Effect<R> =>
    Effect.async((resume) => {
      queue.push({ item, answer: (r) => resume(Effect.succeed(r)), fail: (e) => resume(Effect.die(e)) })
      if (!running) {
        running = true
        // After the current turn: the other calls in flight join this batch.
        setImmediate(() => void drain())
      }
    })
}
