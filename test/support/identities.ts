import { chmodSync, mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import {
  generateKeyPair,
  type GeneratedKeys,
  type OwnKey,
  type PeerKey,
  readPeerKey,
  readPrivateKey,
  unlockKey
} from "../../src/adapters/openpgp-crypto.js"
import { makeTempHome, type TempHome, writePeer } from "./temp-home.js"

/**
 * Real OpenPGP key pairs for tests (curve25519Legacy, as `skchat init` makes them), one per name per
 * test process: generating is cheap, but a suite sends from the same few people many times.
 */
const cache = new Map<string, Promise<GeneratedKeys>>()
export const keyPairFor = (name: string): Promise<GeneratedKeys> => {
  let keys = cache.get(name)
  if (keys === undefined) {
    keys = generateKeyPair({ name, email: `${name}@skworld.io` }, undefined)
    cache.set(name, keys)
  }
  return keys
}

/**
 * Gives a temp home the identity `uri` with the key pair of `name` (or `keys`), written as `skchat init`
 * writes it (without running the CLI, for store-level tests and benchmarks).
 */
export const installIdentity = async (
  temp: Pick<TempHome, "dataDir">,
  name: string,
  uri = `capauth:${name}@skworld.io`,
  options: { readonly writeConfig?: boolean; readonly keys?: GeneratedKeys } = {}
) => {
  const keys = options.keys ?? await keyPairFor(name)
  const dir = join(temp.dataDir, "identity")
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  writeFileSync(join(dir, "private.asc"), keys.armoredPrivate, { mode: 0o600 })
  chmodSync(join(dir, "private.asc"), 0o600)
  writeFileSync(join(dir, "public.asc"), keys.armoredPublic)
  writeFileSync(join(dir, "identity.json"), JSON.stringify({
    uri,
    name,
    email: uri.slice("capauth:".length),
    fingerprint: keys.fingerprint,
    created_at: new Date().toISOString(),
    source: "generated",
    private_key_path: join(dir, "private.asc"),
    public_key_path: join(dir, "public.asc"),
    passphrase_protected: false
  }, null, 2))
  if (options.writeConfig !== false) {
    writeFileSync(join(temp.dataDir, "config.yml"), `skchat:\n  identity:\n    uri: ${uri}\n`)
  }
  return keys
}

/**
 * Registers a public key in a temp home's peer registry (the skcapstone format of INTEROP.md): `name`'s
 * test key pair, or `key` when given (one made elsewhere, say by GnuPG).
 */
export const registerPeer = async (
  temp: Pick<TempHome, "home">,
  name: string,
  uri = `capauth:${name}@skworld.io`,
  key?: { readonly fingerprint: string; readonly armoredPublic: string; readonly source?: string }
) => {
  const keys = key ?? await keyPairFor(name)
  writePeer(temp.home, name, {
    name,
    fingerprint: keys.fingerprint.toUpperCase(),
    public_key: keys.armoredPublic,
    entity_type: "human",
    handle: name,
    email: uri.slice("capauth:".length),
    capabilities: [],
    contact_uris: [uri],
    trust_level: "unverified",
    added_at: new Date().toISOString(),
    last_seen: null,
    source: key?.source ?? "test"
  })
  return keys
}

/** The people store-level tests write to: each gets a registered key, so sends are sealed for real. */
export const TEST_PEERS = [
  "capauth:bob@skworld.io",
  "capauth:alice@skworld.io",
  "capauth:carol@skworld.io",
  "capauth:lumina@skworld.io",
  "capauth:x@y",
  "capauth:z@y"
]

/** A peer file name for a test URI: its local part (`capauth:bob@skworld.io` → bob). */
const peerNameOf = (uri: string) => uri.slice("capauth:".length).split("@")[0]!

/**
 * An identity for `me` (key pair, record; config.yml too unless `writeConfig` is false) and registered
 * keys for `peers`: what a store needs before it can seal a message.
 */
export const provisionStore = async (
  temp: TempHome,
  me: string,
  options: { readonly peers?: ReadonlyArray<string>; readonly writeConfig?: boolean } = {}
) => {
  const own = await installIdentity(temp, `self-${peerNameOf(me)}`, me, options)
  for (const uri of options.peers ?? TEST_PEERS) {
    if (uri !== me) await registerPeer(temp, peerNameOf(uri), uri)
  }
  return own
}

/**
 * A temp home for CLI tests: a key pair for the default identity (`capauth:local@skchat`, config.yml left
 * alone for the identity tests to write) and registered keys for `peers`.
 */
export const makeCliHome = async (peers: ReadonlyArray<string> = TEST_PEERS): Promise<TempHome> => {
  const temp = makeTempHome()
  await provisionStore(temp, "capauth:local@skchat", { peers, writeConfig: false })
  return temp
}

/** `name`'s test key pair, unlocked, as a sender signs with it. */
export const ownKeyOf = async (name: string): Promise<OwnKey> => {
  const unlocked = await unlockKey(await readPrivateKey((await keyPairFor(name)).armoredPrivate), undefined)
  if (unlocked._tag === "Left") throw new Error(unlocked.left)
  return unlocked.right
}

/** `name`'s test public key, as a sender encrypts to it. */
export const peerKeyOf = async (name: string): Promise<PeerKey> => {
  const key = await readPeerKey((await keyPairFor(name)).armoredPublic)
  if (key._tag === "Left") throw new Error(key.left)
  return key.right
}
