import { afterEach, expect, it, vi } from "vitest"
import { makeTransferRecaller, RECALL_DELAYS_MS } from "../src/actors/transfer-recaller.js"

/**
 * When the daemon calls a peer again after a lost call with unfinished transfers (the end-to-end case is in
 * test/file-transfer.test.ts): a failed call starts the tries, spaced by RECALL_DELAYS_MS; a hang-up, a call
 * that was never ours to make again, finished transfers or a call already under way make none.
 */

const BOB = "capauth:bob@skworld.io"

const host = (over: { unfinished?: boolean; inCall?: boolean } = {}) => {
  const calls: Array<string> = []
  const lines: Array<string> = []
  const state = { unfinished: over.unfinished ?? true, inCall: over.inCall ?? false }
  const recaller = makeTransferRecaller({
    unfinished: () => state.unfinished,
    inCall: () => state.inCall,
    call: (peer) => calls.push(peer),
    log: (line) => lines.push(line)
  })
  return { recaller, calls, lines, state }
}

afterEach(() => {
  vi.useRealTimers()
})

it("a lost call with transfers unfinished is made again after each delay, until one connects or the tries run out", () => {
  vi.useFakeTimers()
  const { calls, lines, recaller } = host()
  recaller.ended(BOB, "failed")
  vi.advanceTimersByTime(RECALL_DELAYS_MS[0]! - 1)
  expect(calls).toEqual([])
  vi.advanceTimersByTime(1)
  expect(calls).toEqual([BOB])
  // Our try is not answered in time: the next one, later.
  recaller.ended(BOB, "timed_out")
  vi.advanceTimersByTime(RECALL_DELAYS_MS[1]!)
  expect(calls).toEqual([BOB, BOB])
  recaller.ended(BOB, "timed_out")
  vi.advanceTimersByTime(RECALL_DELAYS_MS[2]!)
  expect(calls).toHaveLength(3)
  recaller.ended(BOB, "timed_out")
  vi.advanceTimersByTime(60_000)
  expect(calls).toHaveLength(3)
  expect(lines.at(-1)).toMatch(/not calling capauth:bob@skworld.io again: 3 tries failed/)

  // A call that connects starts the count again.
  recaller.ended(BOB, "failed")
  vi.advanceTimersByTime(RECALL_DELAYS_MS[0]!)
  recaller.connected(BOB)
  recaller.ended(BOB, "failed")
  vi.advanceTimersByTime(RECALL_DELAYS_MS[0]!)
  expect(calls).toHaveLength(5)
  expect(lines.filter((l) => l.includes("try 1 of 3"))).toHaveLength(3)
})

it("makes no call after a hang-up, after our own call timed out, with nothing unfinished, or with a call under way", () => {
  vi.useFakeTimers()
  for (const outcome of ["hung_up", "remote_hung_up", "timed_out", "superseded"]) {
    const { calls, recaller } = host()
    recaller.ended(BOB, outcome)
    vi.advanceTimersByTime(60_000)
    expect(calls, outcome).toEqual([])
  }
  const finished = host({ unfinished: false })
  finished.recaller.ended(BOB, "failed")
  vi.advanceTimersByTime(60_000)
  expect(finished.calls).toEqual([])

  // The peer called back first: nothing to do when the delay is up.
  const busy = host()
  busy.recaller.ended(BOB, "failed")
  busy.state.inCall = true
  vi.advanceTimersByTime(60_000)
  expect(busy.calls).toEqual([])

  // Stopping (the daemon shuts down) cancels what was waiting.
  const stopping = host()
  stopping.recaller.ended(BOB, "failed")
  stopping.recaller.stop()
  vi.advanceTimersByTime(60_000)
  expect(stopping.calls).toEqual([])
})
