import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { startSyncthingPair, type SyncthingPair, syncthingAvailable } from "./support/syncthing.js"

/**
 * Two real Syncthing instances on 127.0.0.1 only, one shared folder: a file written into one side (the way
 * the file transport writes: a temp file, then a rename to `<id>.skc.json`) shows up on the other side.
 * Syncthing must be installed: CI installs it (.ci/run), so a missing binary fails here, it is not skipped.
 */

const SYNC_TIMEOUT_MS = 60_000

const requireSyncthing = () => {
  expect(syncthingAvailable(), "syncthing is not on PATH: install it (apt-get install -y syncthing); .ci/run does")
    .toBe(true)
}

/** Writes `name` into `dir` as the store does: `.<name>.tmp` first, then a rename. */
const writeViaRename = (dir: string, name: string, content: string) => {
  const temp = join(dir, `.${name}.tmp`)
  writeFileSync(temp, content)
  renameSync(temp, join(dir, name))
}

/** Polls until `path` exists with exactly `content`; returns how long that took. */
const waitForFile = async (path: string, content: string, pair: SyncthingPair): Promise<number> => {
  const start = Date.now()
  for (;;) {
    if (existsSync(path) && readFileSync(path, "utf8") === content) return Date.now() - start
    if (Date.now() - start > SYNC_TIMEOUT_MS) {
      throw new Error(`${path} did not arrive within ${SYNC_TIMEOUT_MS} ms\n${pair.a.outputTail()}\n${pair.b.outputTail()}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

const isRunning = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** A pair in its own temp dir; stops it and removes the dir whatever happens, then checks no process is left. */
const withPair = async (f: (pair: SyncthingPair) => Promise<void>) => {
  requireSyncthing()
  const root = mkdtempSync(join(tmpdir(), "skchat-syncthing-"))
  let pair: SyncthingPair | undefined
  try {
    const started = Date.now()
    pair = await startSyncthingPair(root)
    console.log(`syncthing pair up, connected and idle in ${Date.now() - started} ms`)
    await f(pair)
  } finally {
    await pair?.stop()
    rmSync(root, { recursive: true, force: true })
  }
  expect(pair.a.exited()).toBe(true)
  expect(pair.b.exited()).toBe(true)
  expect(isRunning(pair.a.pid)).toBe(false)
  expect(isRunning(pair.b.pid)).toBe(false)
}

const message = (from: string) =>
  `${JSON.stringify({ id: "x", from, body: "hello over syncthing", at: new Date().toISOString() }, null, 2)}\n`

/** Writes into one side and waits for the same file on the other. */
const carries = (from: "A" | "B") => async (pair: SyncthingPair) => {
  const [source, target] = from === "A" ? [pair.dirA, pair.dirB] : [pair.dirB, pair.dirA]
  const content = message(from)
  writeViaRename(source, "x.skc.json", content)
  const tookMs = await waitForFile(join(target, "x.skc.json"), content, pair)
  console.log(`syncthing ${from} -> ${from === "A" ? "B" : "A"}: x.skc.json arrived in ${tookMs} ms`)
  expect(readFileSync(join(target, "x.skc.json"), "utf8")).toBe(content)
  expect(existsSync(join(target, ".x.skc.json.tmp"))).toBe(false)
}

describe("two Syncthing instances on loopback, one shared folder", () => {
  it("a file written into A (temp, then rename) arrives in B with the same content", async () => {
    await withPair(carries("A"))
  }, 150_000)

  it("a file written into B (temp, then rename) arrives in A with the same content", async () => {
    await withPair(carries("B"))
  }, 150_000)
})
