import { spawn } from "node:child_process"
import { join } from "node:path"
import { repoRoot } from "./temp-home.js"

export interface FixtureRun {
  readonly exit: { readonly code: number | null; readonly signal: string | null }
  readonly stdout: string
  readonly stderr: string
}

/**
 * Runs a TypeScript fixture under test/fixtures as a child process (through tsx) and waits for it to end by
 * itself: one that does not within `timeoutMs` is killed, which its `exit` then shows (SIGKILL).
 */
export const runFixture = (name: string, args: ReadonlyArray<string>, timeoutMs = 45_000): Promise<FixtureRun> => {
  const child = spawn(process.execPath, ["--import", "tsx", join(repoRoot, "test/fixtures", name), ...args],
    { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] })
  let stdout = ""
  let stderr = ""
  child.stdout.on("data", (c: Buffer) => (stdout += c.toString("utf8")))
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString("utf8")))
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs)
    child.on("exit", (code, signal) => {
      clearTimeout(timer)
      resolve({ exit: { code, signal }, stdout, stderr })
    })
  })
}
