import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { expect } from "vitest"
import type { DaemonReaper } from "./daemon-process.js"
import type { ChattingPair, Chatter } from "./shared-folder.js"

/** `skchat daemon start -i 1` for one side of a pair (tracked by `reaper`); its pid. */
export const startDaemonOf = async (reaper: DaemonReaper, who: Chatter): Promise<number> => {
  const started = await reaper.start(who.env, ["-i", "1"])
  expect(started.code, started.stderr).toBe(0)
  expect(started.pid).toBeDefined()
  return started.pid!
}

/** One side's daemon.log so far ("" before it exists). */
export const daemonLogOf = (who: Chatter): string => {
  const file = join(who.dataDir, "daemon.log")
  return existsSync(file) ? readFileSync(file, "utf8") : ""
}

/** The one line of a CLI error: exactly one non-empty line on stderr. */
export const oneErrorLine = (stderr: string): string => {
  const lines = stderr.split("\n").filter((l) => l.trim() !== "")
  expect(lines, `expected one error line, got:\n${stderr}`).toHaveLength(1)
  return lines[0]!
}

/**
 * After a test with daemons: stops them, shows what they logged when the test failed (the data dirs go
 * next), removes the pairs, and fails if any daemon process was left running.
 */
export const cleanUpPairs = async (reaper: DaemonReaper, pairs: Array<ChattingPair>, failed: boolean) => {
  const left = await reaper.reap()
  if (failed) {
    for (const pair of pairs) {
      for (const who of [pair.alice, pair.bob]) console.error(`--- ${who.name}'s daemon.log ---\n${daemonLogOf(who)}`)
    }
  }
  for (const pair of pairs.splice(0)) pair.remove()
  expect(left, "daemon processes left running after the test").toEqual([])
}
