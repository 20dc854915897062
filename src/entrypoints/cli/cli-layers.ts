import { Layer } from "effect"
import { ChatSystem } from "../../actors/chat-system.js"
import { SkchatConfig } from "../../adapters/config-file.js"
import { LocalIdentity } from "../../adapters/local-identity.js"
import { PeerRegistry } from "../../adapters/peer-registry.js"
import { SkchatPaths } from "../../adapters/skchat-paths.js"
import { SqliteDatabase } from "../../adapters/sqlite-database.js"
import { ChatQueries } from "../../projections/chat-queries.js"

/**
 * The CLI's layers, composed in one place. Each command provides only what it uses, so `whoami`
 * or `peers list` never open the database.
 */
export const PathsLive = SkchatPaths.layer
export const IdentityLive = LocalIdentity.layer.pipe(Layer.provide(SkchatConfig.layer), Layer.provide(PathsLive))
export const PeersLive = PeerRegistry.layer.pipe(Layer.provide(PathsLive))
const DatabaseLive = SqliteDatabase.layer.pipe(Layer.provide(PathsLive))

/** The store: the one writer and the read side over one connection. */
export const StoreLive = Layer.mergeAll(ChatSystem.Default, ChatQueries.layer).pipe(
  Layer.provide(Layer.merge(DatabaseLive, IdentityLive))
)
