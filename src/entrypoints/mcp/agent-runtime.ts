import { type Cause, Effect, Exit, Layer, ManagedRuntime } from "effect"
import { existsSync } from "node:fs"
import type { ChatSystem } from "../../actors/chat-system.js"
import type { Courier } from "../../actors/courier.js"
import type { SkchatConfig } from "../../adapters/config-file.js"
import { IdentityKeys } from "../../adapters/identity-keys.js"
import type { LocalIdentity } from "../../adapters/local-identity.js"
import type { PeerRegistry } from "../../adapters/peer-registry.js"
import type { SkchatPaths } from "../../adapters/skchat-paths.js"
import { causeLine } from "../../domain/error-line.js"
import type { ChatQueries } from "../../projections/chat-queries.js"
import { storeLayers } from "../store-layers.js"

/** What the MCP server's tools and resources run against: the same services the CLI composes. */
export type AgentServices =
  | ChatSystem
  | ChatQueries
  | Courier
  | SkchatPaths
  | IdentityKeys
  | PeerRegistry
  | LocalIdentity
  | SkchatConfig

export const agentLayer = (env: NodeJS.ProcessEnv) => {
  const layers = storeLayers(env)
  return Layer.mergeAll(layers.mail, layers.peers, layers.identity, layers.config)
}

/** A failure as one line an agent can act on; a defect never shows a stack. */
export const failureLine = (cause: Cause.Cause<unknown>): string => causeLine(cause, "cancelled")

export interface AgentRuntime {
  /** Runs an effect against the store; the store is opened on first use. */
  readonly run: <A, E>(effect: Effect.Effect<A, E, AgentServices>, signal?: AbortSignal) => Promise<Exit.Exit<A, unknown>>
  readonly dispose: () => Promise<void>
}

/**
 * The store, opened once and shared by every call. Opening it can fail (an unreadable config.yml, a store
 * that cannot be created): that call fails with the reason, and the next call tries again, so an agent
 * whose user fixes the problem need not restart the server. Likewise a server started before `skchat init`
 * opens the store again once the key pair exists: the identity and the key are read when the store opens.
 */
export const makeAgentRuntime = (env: NodeJS.ProcessEnv, onOpen: () => void = () => {}): AgentRuntime => {
  type Runtime = ManagedRuntime.ManagedRuntime<AgentServices, unknown>
  type Opened = { readonly runtime: Runtime } | { readonly cause: Cause.Cause<unknown> }
  let current: Runtime | undefined
  /** While the store is open without a key pair: where `skchat init` will write it. */
  let awaitingInit: string | undefined
  let opening: Promise<Opened> | undefined
  const open = async (): Promise<Opened> => {
    const runtime = ManagedRuntime.make(agentLayer(env))
    // Building the layers says why they cannot be built; the key record says whether init has run.
    const built = await runtime.runPromiseExit(Effect.flatMap(IdentityKeys, (keys) =>
      Effect.map(keys.record(), (record) => (record === undefined ? keys.recordFile : undefined))))
    if (Exit.isFailure(built)) {
      await runtime.dispose().catch(() => {})
      return { cause: built.cause }
    }
    current = runtime
    awaitingInit = built.value
    onOpen()
    return { runtime }
  }
  return {
    run: async (effect, signal) => {
      if (current !== undefined && awaitingInit !== undefined && existsSync(awaitingInit)) {
        // `skchat init` ran meanwhile: reopen with the new identity (the old runtime's follower goes with it).
        const stale = current
        current = undefined
        awaitingInit = undefined
        await stale.dispose().catch(() => {})
      }
      let runtime = current
      if (runtime === undefined) {
        opening ??= open().finally(() => {
          opening = undefined
        })
        const opened = await opening
        if ("cause" in opened) return Exit.failCause(opened.cause)
        runtime = opened.runtime
      }
      return await runtime.runPromiseExit(effect, signal === undefined ? undefined : { signal })
    },
    dispose: async () => {
      await opening
      const runtime = current
      current = undefined
      await runtime?.dispose()
    }
  }
}
