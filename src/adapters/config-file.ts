import { Context, Effect, Layer } from "effect"
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { dirname } from "node:path"
import { ConfigError } from "../domain/errors.js"
import { SkchatPaths } from "./skchat-paths.js"

/**
 * `~/.skchat/config.yml` as a plain object (INTEROP.md shape: `skchat: { identity, daemon, ... }`).
 * A missing file is an empty config; a malformed one is an error naming the file, never ignored.
 */
export class SkchatConfig extends Context.Tag("skchat/SkchatConfig")<SkchatConfig, {
  readonly file: string
  readonly exists: boolean
  /** A value under `skchat.<path>`, or undefined. */
  readonly get: (...path: ReadonlyArray<string>) => unknown
}>() {
  static readonly layer = Layer.effect(
    SkchatConfig,
    Effect.gen(function*() {
      const { configFile } = yield* SkchatPaths
      let text: string | undefined
      try {
        text = readFileSync(configFile, "utf8")
      } catch {
        text = undefined
      }
      let root: unknown = {}
      if (text !== undefined) {
        // The YAML parser is only loaded when there is a config to parse (CLI start-up time).
        const { parse } = yield* Effect.promise(() => import("yaml"))
        root = yield* Effect.try({
          try: () => parse(text) ?? {},
          catch: (e) =>
            new ConfigError({
              message: `cannot parse ${configFile}: ${e instanceof Error ? e.message.split("\n")[0] : String(e)}`
            })
        })
      }
      const get = (...path: ReadonlyArray<string>): unknown => {
        let node: unknown = root
        for (const key of ["skchat", ...path]) {
          if (node === null || typeof node !== "object") return undefined
          node = (node as Record<string, unknown>)[key]
        }
        return node
      }
      return { file: configFile, exists: text !== undefined, get }
    })
  )
}

/**
 * Sets `skchat.<path>` in a config file, creating it if needed and keeping the rest of the file (comments
 * included) as it was.
 */
export const writeConfigValue = (configFile: string, path: ReadonlyArray<string>, value: unknown) =>
  Effect.gen(function*() {
    const { parseDocument } = yield* Effect.promise(() => import("yaml"))
    yield* Effect.try({
      try: () => {
        let text = ""
        try {
          text = readFileSync(configFile, "utf8")
        } catch {
          text = ""
        }
        const doc = parseDocument(text)
        if (doc.errors.length > 0) throw doc.errors[0]
        if (doc.contents === null) doc.contents = doc.createNode({}) as never
        doc.setIn(["skchat", ...path], value)
        mkdirSync(dirname(configFile), { recursive: true })
        writeFileSync(configFile, doc.toString())
      },
      catch: (e) =>
        new ConfigError({ message: `cannot update ${configFile}: ${e instanceof Error ? e.message.split("\n")[0] : String(e)}` })
    })
  })
