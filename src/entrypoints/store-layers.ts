import { Layer } from "effect"
import { ChatSystem } from "../actors/chat-system.js"
import { Courier } from "../actors/courier.js"
import { ActorInspector } from "../adapters/actor-inspector.js"
import { SkchatConfig } from "../adapters/config-file.js"
import { IdentityKeys } from "../adapters/identity-keys.js"
import { LocalIdentity, resolveIdentity } from "../adapters/local-identity.js"
import { PeerRegistry } from "../adapters/peer-registry.js"
import { SkchatPaths } from "../adapters/skchat-paths.js"
import { SqliteDatabase } from "../adapters/sqlite-database.js"
import { Transports } from "../adapters/transport-config.js"
import { ChatQueries } from "../projections/chat-queries.js"

/**
 * The layers every front door composes, from one environment (HOME, SKCHAT_HOME, SKCHAT_IDENTITY,
 * SKCHAT_PASSPHRASE, SKCHAT_INSPECT). The CLI takes them from the process; the library from its options.
 */
export const storeLayers = (env: NodeJS.ProcessEnv, inspector = ActorInspector.fromEnv(env)) => {
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
      inspector,
      keys,
      peers,
      config,
      paths
    ))
  )
  /** The store plus the configured transports (send, receive, daemon, watch, the MCP server). */
  const mail = Courier.Default.pipe(
    Layer.provideMerge(Layer.mergeAll(store, paths, keys, config)),
    Layer.provide(Transports.layer.pipe(Layer.provide(Layer.mergeAll(config, identity, paths))))
  )
  return { paths, config, identity, peers, keys, store, mail }
}
