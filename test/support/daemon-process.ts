import { type ChildProcess, spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { waitFor } from "./cli-wait.js"
import { cliBin, type CliResult, runCli } from "./temp-home.js"

/**
 * Real `skchat daemon` processes for tests, and the bookkeeping that makes sure none outlives its test:
 * every daemon a test starts (through `daemon start`, which detaches it, or spawned in the foreground)
 * is tracked by pid, and `DaemonReaper.reap()` (afterEach) stops them all and checks each one is gone.
 */

/** True while `pid` exists (a zombie not yet reaped counts as existing): `kill(pid, 0)` throws ESRCH once gone. */
export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== "ESRCH"
  }
}

/**
 * Polls `probe` (see cli-wait's waitFor) until it returns something other than undefined or false, and
 * returns that: a value to wait for and keep, such as a status or a count.
 */
export const eventually = async <A>(
  what: string,
  probe: () => A | undefined | false | Promise<A | undefined | false>,
  timeoutMs = 30_000,
  intervalMs = 100
): Promise<A> =>
  await waitFor(probe, (v) => v !== undefined && v !== false, { what, timeoutMs, intervalMs }) as A

/**
 * Waits until `pid` is gone. A killed daemon started with `daemon start` was re-parented to init, which
 * may take a moment to reap it, hence the generous default.
 */
export const waitGone = (pid: number, timeoutMs = 30_000) =>
  eventually(`process ${pid} to be gone`, () => !isAlive(pid), timeoutMs, 50)

/** Is `pid` (still) one of our CLI's processes? Guards against signalling a recycled pid. */
const isSkchat = (pid: number): boolean => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("skchat.cjs")
  } catch {
    return process.platform !== "linux" && isAlive(pid)
  }
}

export interface DaemonStatus {
  readonly running: boolean
  readonly pid?: number
  readonly started_at?: string
  readonly interval?: number
  readonly log_file?: string
  readonly transports?: ReadonlyArray<string>
  readonly rounds?: number
  readonly received?: number
  readonly rejected?: number
  readonly sent?: number
  readonly last_error?: string | null
}

/** `skchat daemon status --json`, parsed, with the CLI's exit code. */
export const daemonStatus = async (env: NodeJS.ProcessEnv): Promise<{ code: number; status: DaemonStatus }> => {
  const r = await runCli(["daemon", "status", "--json"], env)
  return { code: r.code, status: JSON.parse(r.stdout) as DaemonStatus }
}

/** A daemon spawned in the foreground (`daemon start -f ...`) as a direct child of the test. */
export interface ForegroundDaemon {
  readonly child: ChildProcess
  readonly pid: number
  readonly stdout: () => string
  readonly stderr: () => string
  /** Settles once the process has exited (never rejects). */
  readonly exited: Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>
  /** Undefined while it runs. */
  readonly exitCode: () => number | null | undefined
}

export class DaemonReaper {
  private readonly pids = new Set<number>()
  private readonly envs: Array<NodeJS.ProcessEnv> = []

  /** Remember a daemon pid to stop at the end of the test. */
  track(pid: number): number {
    this.pids.add(pid)
    return pid
  }

  /** Remember a data dir whose daemon (whatever its pid) must be stopped at the end of the test. */
  watch(env: NodeJS.ProcessEnv): void {
    if (!this.envs.includes(env)) this.envs.push(env)
  }

  /** `skchat daemon start ARGS` (detaching); the started daemon's pid is tracked. */
  async start(env: NodeJS.ProcessEnv, args: ReadonlyArray<string> = [], extraEnv: NodeJS.ProcessEnv = {}):
    Promise<CliResult & { readonly pid: number | undefined }> {
    this.watch(env)
    const result = await runCli(["daemon", "start", ...args], env, extraEnv)
    const match = /skchat daemon started \(pid (\d+)\)/.exec(result.stdout)
    const pid = match === null ? undefined : this.track(Number(match[1]))
    return { ...result, pid }
  }

  /** `node bin/skchat.cjs daemon start ARGS` spawned directly (give it `-f` to keep it in the foreground). */
  spawn(env: NodeJS.ProcessEnv, args: ReadonlyArray<string>, extraEnv: NodeJS.ProcessEnv = {}): ForegroundDaemon {
    this.watch(env)
    const child = spawn(process.execPath, [cliBin, "daemon", "start", ...args], {
      env: { ...env, ...extraEnv },
      stdio: ["ignore", "pipe", "pipe"]
    })
    if (child.pid === undefined) throw new Error("could not spawn the daemon")
    this.track(child.pid)
    let out = ""
    let err = ""
    let exit: number | null | undefined = undefined
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
      out += chunk
    })
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
      err += chunk
    })
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => {
      child.on("exit", (code, signal) => {
        exit = code
        done({ code, signal })
      })
      child.on("error", () => {
        exit = null
        done({ code: null, signal: null })
      })
    })
    return { child, pid: child.pid, stdout: () => out, stderr: () => err, exited, exitCode: () => exit }
  }

  /**
   * Stops every daemon this test started: SIGTERM (a clean stop), SIGKILL when it does not go within
   * 10 s. Returns the pids that are still there afterwards (there should be none).
   */
  async reap(): Promise<Array<number>> {
    for (const env of this.envs.splice(0)) {
      try {
        const { status } = await daemonStatus(env)
        if (status.running && status.pid !== undefined) this.pids.add(status.pid)
      } catch {
        // a data dir that was removed already
      }
    }
    const pids = [...this.pids]
    this.pids.clear()
    const signal = (pid: number, sig: NodeJS.Signals) => {
      try {
        if (isSkchat(pid)) process.kill(pid, sig)
      } catch {
        // gone meanwhile
      }
    }
    for (const pid of pids) signal(pid, "SIGTERM")
    for (const pid of pids) {
      try {
        await waitGone(pid, 10_000)
      } catch {
        signal(pid, "SIGKILL")
      }
    }
    const left: Array<number> = []
    for (const pid of pids) {
      try {
        await waitGone(pid, 30_000)
      } catch {
        left.push(pid)
      }
    }
    return left
  }
}
