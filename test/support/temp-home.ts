import Database from "better-sqlite3"
import { execFile } from "node:child_process"
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

export const repoRoot = fileURLToPath(new URL("../..", import.meta.url))
export const cliBin = join(repoRoot, "bin", "skchat.cjs")

/** A throw-away HOME with its own SKCHAT_HOME: no test ever touches the real home directory. */
export interface TempHome {
  readonly home: string
  readonly dataDir: string
  readonly env: NodeJS.ProcessEnv
  readonly remove: () => void
}

export const makeTempHome = (): TempHome => {
  const home = mkdtempSync(join(tmpdir(), "skchat-test-"))
  const dataDir = join(home, ".skchat")
  const env: NodeJS.ProcessEnv = {
    PATH: process.env["PATH"],
    HOME: home,
    SKCHAT_HOME: dataDir,
    NO_COLOR: "1",
    LANG: "C.UTF-8"
  }
  return { home, dataDir, env, remove: () => rmSync(home, { recursive: true, force: true }) }
}

export interface CliResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Runs the built CLI as a child process, the way a user does. */
export const runCli = (
  args: ReadonlyArray<string>,
  env: NodeJS.ProcessEnv,
  extraEnv: NodeJS.ProcessEnv = {}
): Promise<CliResult> =>
  new Promise((resolve) => {
    execFile(process.execPath, [cliBin, ...args], { env: { ...env, ...extraEnv }, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1
        resolve({ code, stdout: String(stdout), stderr: String(stderr) })
      })
  })

/** Writes a skcapstone peer file (INTEROP.md shape). */
export const writePeer = (home: string, fileName: string, peer: Record<string, unknown>): void => {
  const dir = join(home, ".skcapstone", "peers")
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, `${fileName}.json`), JSON.stringify(peer, null, 2))
}

/** Every regular file under `dir`, recursively. */
export const filesUnder = (dir: string): Array<string> =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? filesUnder(path) : [path]
  })

/** Files under `dir` whose bytes contain `needle` (UTF-8). */
export const filesContaining = (dir: string, needle: string): Array<string> => {
  const bytes = Buffer.from(needle, "utf8")
  return filesUnder(dir).filter((f) => readFileSync(f).includes(bytes))
}

/** The store's SQLite file under a data dir. */
export const storeFile = (dataDir: string): string => join(dataDir, "memory", "skchat.db")

/** Runs `f` on a second, raw connection to a store (to look under the hood or to damage it on purpose). */
export const withDatabase = <A>(file: string, f: (db: Database.Database) => A): A => {
  const db = new Database(file)
  try {
    return f(db)
  } finally {
    db.close()
  }
}
