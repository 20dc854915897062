import { expect, it } from "vitest"
import { runFixture } from "./support/fixture-child.js"

/**
 * The direct peer adapter (issue #6 groundwork) over real node-datachannel, in a child process so that its
 * exit is checked too: a connection on 127.0.0.1 with host candidates only, 4 MiB sent in chunks with
 * back-pressure arriving whole, and the process ending by itself once the peers are closed and released.
 */
it("connects two peers on 127.0.0.1 with host candidates only, moves 4 MiB intact, and lets the process exit", async () => {
  const { exit, stderr: err, stdout: out } = await runFixture("direct-peer-pair.ts", [String(4 * 1024 * 1024)])
  expect(exit, `stderr:\n${err}`).toEqual({ code: 0, signal: null })
  const report = JSON.parse(out.trim()) as {
    sent: string
    received: string
    bytes: number
    candidates: Array<string>
    states: { alice: string; bob: string }
  }
  expect(report.bytes).toBe(4 * 1024 * 1024)
  expect(report.received).toBe(report.sent)
  expect(report.states).toEqual({ alice: "connected", bob: "connected" })
  expect(report.candidates.length).toBeGreaterThan(0)
  for (const c of report.candidates) expect(c).toMatch(/ 127\.0\.0\.1 \d+ typ host/)
}, 60_000)
