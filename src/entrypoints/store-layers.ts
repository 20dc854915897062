import { Layer } from "effect"
import { ChatSystem } from "../actors/chat-system.js"
import { ActorInspector } from "../adapters/actor-inspector.js"
import { SkchatConfig } from "../adapters/config-file.js"
import { IdentityKeys } from "../adapters/identity-keys.js"
import { LocalIdentity, resolveIdentity } from "../adapters/local-identity.js"
import { PeerRegistry } from "../adapters/peer-registry.js"
import { SkchatPaths } from "../adapters/skchat-paths.js"
import { SqliteDatabase } from "../adapters/sqlite-database.js"
import { ChatQueries } from "../projections/chat-queries.js"

/**
 * The layers every front door composes, from one environment (HOME, SKCHAT_HOME, SKCHAT_IDENTITY,
 * SKCHAT_PASSPHRASE, SKCHAT_INSPECT). The CLI takes them from the process; the library from its options.
 */
export const storeLayers = (env: NodeJS.ProcessEnv) => {
  const paths = SkchatPaths.fromEnv(env)
  const config = SkchatConfig.layer.pipe(Layer.provide(paths))
  const identity = Layer.effect(LocalIdentity, resolveIdentity(env)).pipe(
    Layer.provide(config),
    Layer.provide(paths)
  )
  const peers = PeerRegistry.layer.pipe(Layer.provide(paths))
  const keys = IdentityKeys.layer(env).pipe(Layer.provide(paths))
  /** The one writer and the read side, over one connection. */
  const store = Layer.mergeAll(ChatSystem.Default, ChatQueries.layer).pipe(
    Layer.provide(Layer.mergeAll(
      SqliteDatabase.layer.pipe(Layer.provide(paths)),
      identity,
      ActorInspector.fromEnv(env),
      keys,
      peers,
      config,
      paths
    ))
  )
  return { paths, config, identity, peers, keys, store }
}
