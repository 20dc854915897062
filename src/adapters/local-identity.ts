import { Context, Effect } from "effect"
import { readFileSync } from "node:fs"
import { ConfigError } from "../domain/errors.js"
import { FALLBACK_IDENTITY, uriFromIdentity } from "../domain/identity-uri.js"
import { SkchatConfig } from "./config-file.js"
import { SkchatPaths } from "./skchat-paths.js"

export interface Identity {
  readonly uri: string
  /** Where the URI came from, as `whoami` reports it. */
  readonly source: string
}

const readJson = (file: string): Effect.Effect<unknown, ConfigError> =>
  Effect.suspend(() => {
    let text: string
    try {
      text = readFileSync(file, "utf8")
    } catch {
      return Effect.succeed(undefined)
    }
    return Effect.try({
      try: () => JSON.parse(text) as unknown,
      catch: (e) => new ConfigError({ message: `cannot parse ${file}: ${e instanceof Error ? e.message : String(e)}` })
    })
  })

/**
 * Who "I" am, resolved in the order of INTEROP.md: `SKCHAT_IDENTITY`, the skcapstone identity file,
 * `skchat.identity.uri` in config.yml, then `capauth:local@skchat`.
 */
export const resolveIdentity = (env: NodeJS.ProcessEnv) =>
  Effect.gen(function*() {
    const fromEnv = env["SKCHAT_IDENTITY"]?.trim()
    if (fromEnv) return { uri: fromEnv, source: "SKCHAT_IDENTITY" } satisfies Identity
    const paths = yield* SkchatPaths
    const file = yield* readJson(paths.identityFile)
    if (file !== undefined) {
      const record = (file ?? {}) as { name?: unknown; email?: unknown }
      const uri = uriFromIdentity({
        name: typeof record.name === "string" ? record.name : undefined,
        email: typeof record.email === "string" ? record.email : undefined
      })
      if (uri === undefined) {
        return yield* new ConfigError({ message: `${paths.identityFile} has neither "name" nor "email"` })
      }
      return { uri, source: paths.identityFile } satisfies Identity
    }
    const config = yield* SkchatConfig
    const configured = config.get("identity", "uri")
    if (typeof configured === "string" && configured.trim() !== "") {
      return { uri: configured.trim(), source: `${config.file} (skchat.identity.uri)` } satisfies Identity
    }
    return { uri: FALLBACK_IDENTITY, source: "default (no identity configured)" } satisfies Identity
  })

export class LocalIdentity extends Context.Tag("skchat/LocalIdentity")<LocalIdentity, Identity>() {}
