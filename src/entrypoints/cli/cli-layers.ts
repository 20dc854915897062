import { storeLayers } from "../store-layers.js"

/**
 * The CLI's layers, from the process environment. Each command provides only what it uses, so
 * `whoami`, `identity` or `peers list` never open the database.
 */
const layers = storeLayers(process.env)
export const ConfigLive = layers.config
export const IdentityLive = layers.identity
export const PeersLive = layers.peers
export const KeysLive = layers.keys
export const StoreLive = layers.store
/** The store with the transports: commands that move envelopes. */
export const MailLive = layers.mail
