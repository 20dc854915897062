import { Context, Effect, Layer } from "effect"
import { readFileSync } from "node:fs"
import { dirname, isAbsolute, join, resolve } from "node:path"
import { ConfigError } from "../domain/errors.js"
import { SkchatConfig } from "./config-file.js"
import { defaultArchivePath, fileTransport } from "./file-transport.js"
import { LocalIdentity } from "./local-identity.js"
import { expandHome, SkchatPaths } from "./skchat-paths.js"
import { folderNameOf, syncthingTransport } from "./syncthing-transport.js"
import type { Transport } from "./transport.js"

export interface TransportSetup {
  /** Enabled transports, lowest priority number first. */
  readonly transports: ReadonlyArray<Transport>
  /** Where they were configured (for messages), or undefined when nothing is. */
  readonly source: string | undefined
  /**
   * `skchat.delivery.retry_backoff`: seconds to wait after each failed attempt, one more attempt than
   * entries, then the message fails (undefined: the delivery machine's default, SKComm's schedule).
   */
  readonly retryBackoff: ReadonlyArray<number> | undefined
}

type Node = Record<string, unknown>
const isNode = (x: unknown): x is Node => x !== null && typeof x === "object" && !Array.isArray(x)

/** SKComm's own config, read when skchat has no `transports` section (users of the Python stack). */
const skcommTransports = async (home: string): Promise<{ file: string; transports: unknown } | undefined> => {
  for (const file of [join(home, ".skcomm", "config.yml"), join(home, ".skcapstone", "skcomms", "config.yml")]) {
    let text: string
    try {
      text = readFileSync(file, "utf8")
    } catch {
      continue
    }
    const { parse } = await import("yaml")
    let root: unknown
    try {
      root = parse(text)
    } catch (e) {
      throw new ConfigError({ message: `cannot parse ${file}: ${e instanceof Error ? e.message.split("\n")[0] : String(e)}` })
    }
    const section = isNode(root) ? (root["skcomm"] ?? root["skcomms"]) : undefined
    if (isNode(section) && section["transports"] !== undefined) return { file, transports: section["transports"] }
  }
  return undefined
}

/**
 * The transports configured under `skchat.transports.<name>: { enabled, priority, settings }` (SKComm's
 * shape), or failing that SKComm's own config. Unknown transport names are an error naming them; a
 * disabled one is left out. Paths may start with `~`; relative paths are taken from the config file's folder.
 */
export const loadTransports = (
  config: { readonly file: string; readonly get: (...path: ReadonlyArray<string>) => unknown },
  home: string,
  myUri: string
): Effect.Effect<TransportSetup, ConfigError> =>
  Effect.tryPromise({
    try: async () => {
      const backoff = config.get("delivery", "retry_backoff")
      if (backoff !== undefined && (!Array.isArray(backoff) || backoff.length === 0 ||
        !backoff.every((b) => typeof b === "number" && Number.isFinite(b) && b >= 0))) {
        throw new ConfigError({
          message: `${config.file}: skchat.delivery.retry_backoff must be a list of seconds, e.g. [5, 15, 60, 300, 900]`
        })
      }
      const retryBackoff = backoff as ReadonlyArray<number> | undefined
      let section = config.get("transports")
      let file = config.file
      // SKComm's config names transports skchat does not have (relays, ...): those are its business.
      let ownConfig = true
      if (section === undefined || section === null) {
        const fallback = await skcommTransports(home)
        if (fallback !== undefined) {
          section = fallback.transports
          file = fallback.file
          ownConfig = false
        }
      }
      const fail = (message: string): never => {
        throw new ConfigError({ message: `${file}: ${message}` })
      }
      if (section === undefined || section === null) return { transports: [], source: undefined, retryBackoff }
      if (!isNode(section)) return fail("transports must be a mapping of transport name to settings")
      const base = dirname(file)
      const path = (value: unknown, what: string): string => {
        if (typeof value !== "string" || value.trim() === "") return fail(`${what} must be a folder path`)
        const expanded = expandHome(value.trim(), home)
        return isAbsolute(expanded) ? expanded : resolve(base, expanded)
      }
      const transports: Array<Transport> = []
      for (const [name, raw] of Object.entries(section)) {
        const where = `transports.${name}`
        if (name !== "file" && name !== "syncthing") {
          if (ownConfig) return fail(`unknown transport "${name}" (this skchat has: file, syncthing)`)
          continue
        }
        if (!isNode(raw)) return fail(`${where} must be a mapping with enabled, priority and settings`)
        const enabled = raw["enabled"] ?? true
        if (typeof enabled !== "boolean") return fail(`${where}.enabled must be true or false`)
        if (!enabled) continue
        const priority = raw["priority"] ?? 10
        if (typeof priority !== "number" || !Number.isFinite(priority)) return fail(`${where}.priority must be a number`)
        const settings = raw["settings"] ?? {}
        if (!isNode(settings)) return fail(`${where}.settings must be a mapping`)
        const archive = settings["archive"]
        if (archive !== undefined && typeof archive !== "boolean") return fail(`${where}.settings.archive must be true or false`)
        if (name === "file") {
          const inboxPath = path(settings["inbox_path"], `${where}.settings.inbox_path`)
          const outboxPath = path(settings["outbox_path"], `${where}.settings.outbox_path`)
          transports.push(fileTransport(priority, {
            inboxPath,
            outboxPath,
            archivePath: archive === false
              ? undefined
              : settings["archive_path"] === undefined
              ? defaultArchivePath(inboxPath)
              : path(settings["archive_path"], `${where}.settings.archive_path`)
          }))
        } else {
          const root = path(settings["root"] ?? settings["sync_root"], `${where}.settings.root`)
          const ownName = settings["name"] ?? folderNameOf(myUri)
          if (typeof ownName !== "string" || folderNameOf(ownName) !== ownName) {
            return fail(`${where}.settings.name must be our name in the shared folder (letters, digits, - _)`)
          }
          transports.push(syncthingTransport(priority, {
            root,
            ownName,
            // Deleting a handled file lets Syncthing remove the sender's copy too; archiving is opt-in.
            archivePath: settings["archive_path"] === undefined || archive === false
              ? undefined
              : path(settings["archive_path"], `${where}.settings.archive_path`)
          }))
        }
      }
      transports.sort((a, b) => a.priority - b.priority)
      return { transports, source: file, retryBackoff }
    },
    catch: (e) => (e instanceof ConfigError ? e : new ConfigError({ message: String(e) }))
  })

/** The configured transports of this data dir. */
export class Transports extends Context.Tag("skchat/Transports")<Transports, TransportSetup>() {
  static readonly layer = Layer.effect(
    Transports,
    Effect.gen(function*() {
      const config = yield* SkchatConfig
      const paths = yield* SkchatPaths
      const identity = yield* LocalIdentity
      return yield* loadTransports(config, paths.home, identity.uri)
    })
  )
}
