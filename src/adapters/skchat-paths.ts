import { Context, Layer } from "effect"
import { homedir } from "node:os"
import { join } from "node:path"

/**
 * Where everything lives. skchat's own files move with `SKCHAT_HOME`; the skcapstone identity and peer
 * registry, shared with other tools, derive from `HOME` (INTEROP.md).
 */
export interface Paths {
  readonly home: string
  readonly dataDir: string
  readonly dbFile: string
  readonly configFile: string
  readonly identityFile: string
  readonly peersDir: string
  /** skchat's own key pair and its record (`skchat init`). */
  readonly keysDir: string
  /** Refused envelopes, kept for a person to look at. */
  readonly quarantineDir: string
}

export const pathsFromEnv = (env: NodeJS.ProcessEnv): Paths => {
  const home = env["HOME"] && env["HOME"] !== "" ? env["HOME"] : homedir()
  const dataDir = env["SKCHAT_HOME"] && env["SKCHAT_HOME"] !== "" ? env["SKCHAT_HOME"] : join(home, ".skchat")
  return {
    home,
    dataDir,
    dbFile: join(dataDir, "memory", "skchat.db"),
    configFile: join(dataDir, "config.yml"),
    identityFile: join(home, ".skcapstone", "identity", "identity.json"),
    peersDir: join(home, ".skcapstone", "peers"),
    keysDir: join(dataDir, "identity"),
    quarantineDir: join(dataDir, "quarantine")
  }
}

/** A path from config or the environment with a leading `~` taken as the home directory. */
export const expandHome = (path: string, home: string): string =>
  path === "~" ? home : path.startsWith("~/") ? join(home, path.slice(2)) : path

export class SkchatPaths extends Context.Tag("skchat/SkchatPaths")<SkchatPaths, Paths>() {
  static readonly fromEnv = (env: NodeJS.ProcessEnv) => Layer.sync(SkchatPaths, () => pathsFromEnv(env))
}
