import { Context, Effect, Either, Layer, Schema } from "effect"
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs"
import { userInfo } from "node:os"
import { dirname, isAbsolute, join } from "node:path"
import { errorLine } from "../domain/error-line.js"
import { ConfigError, IdentityExists, IdentityMissing, InvalidInput, PassphraseRequired } from "../domain/errors.js"
import { isCapauthUri, uriFromIdentity } from "../domain/identity-uri.js"
import { writeConfigValue } from "./config-file.js"
import { generateKeyPair, type OwnKey, readPeerKey, readPrivateKey, unlockKey } from "./openpgp-crypto.js"
import { promptPassphrase } from "./passphrase-prompt.js"
import { SkchatPaths } from "./skchat-paths.js"

/** `$SKCHAT_HOME/identity/identity.json`: which key pair is ours and where it came from. */
export const KeyRecord = Schema.Struct({
  uri: Schema.String,
  name: Schema.String,
  email: Schema.NullOr(Schema.String),
  fingerprint: Schema.String,
  created_at: Schema.String,
  /** "generated" by skchat, or "skcapstone" when the skcapstone identity's own key is used in place. */
  source: Schema.Literal("generated", "skcapstone"),
  private_key_path: Schema.String,
  public_key_path: Schema.String,
  passphrase_protected: Schema.Boolean
})
export type KeyRecord = typeof KeyRecord.Type

export interface InitOptions {
  readonly name?: string | undefined
  readonly uri?: string | undefined
  readonly force: boolean
}

export interface InitResult {
  readonly record: KeyRecord
  /** What was done, one line each, for the person who ran `init`. */
  readonly notes: ReadonlyArray<string>
}

const decodeRecord = Schema.decodeUnknownEither(KeyRecord)

const readText = (file: string): string | undefined => {
  try {
    return readFileSync(file, "utf8")
  } catch {
    return undefined
  }
}

/** Writes a file through a temp name and a rename, so a crash never leaves half a key. */
const writeAtomic = (file: string, text: string, mode: number) => {
  const tmp = join(dirname(file), `.${Date.now()}.${process.pid}.tmp`)
  writeFileSync(tmp, text, { mode, flag: "wx" })
  chmodSync(tmp, mode) // the umask may have narrowed or (for 0644) kept it; make it exact
  renameSync(tmp, file)
}

const configError = (what: string) => (e: unknown) => new ConfigError({ message: `${what}: ${errorLine(e)}` })

interface SkcapstoneIdentity {
  readonly name?: string
  readonly email?: string
  readonly fingerprint?: string
  readonly private_key_path?: string
}

/** The identity and key pair this data dir signs and decrypts with. */
export class IdentityKeys extends Context.Tag("skchat/IdentityKeys")<IdentityKeys, {
  readonly recordFile: string
  /** The record, or undefined before `skchat init`. */
  readonly record: () => Effect.Effect<KeyRecord | undefined, ConfigError>
  /** The unlocked key pair, read (and its passphrase asked for) once per process. */
  readonly unlock: () => Effect.Effect<OwnKey, IdentityMissing | PassphraseRequired | ConfigError>
  readonly init: (options: InitOptions) => Effect.Effect<InitResult, IdentityExists | InvalidInput | ConfigError>
}>() {
  static readonly layer = (env: NodeJS.ProcessEnv) =>
    Layer.effect(
      IdentityKeys,
      Effect.gen(function*() {
        const paths = yield* SkchatPaths
        const recordFile = join(paths.keysDir, "identity.json")
        const envPassphrase = env["SKCHAT_PASSPHRASE"] !== undefined && env["SKCHAT_PASSPHRASE"] !== ""
          ? env["SKCHAT_PASSPHRASE"]
          : undefined

        const record = () =>
          Effect.suspend(() => {
            const text = readText(recordFile)
            if (text === undefined) return Effect.succeed(undefined)
            return Effect.try({ try: () => JSON.parse(text) as unknown, catch: configError(`cannot parse ${recordFile}`) })
              .pipe(Effect.flatMap((json) => {
                const decoded = decodeRecord(json)
                return Either.isRight(decoded)
                  ? Effect.succeed(decoded.right)
                  : Effect.fail(new ConfigError({ message: `${recordFile} is not an skchat identity record` }))
              }))
          })

        /** Asked on the terminal only when there is one; otherwise the environment or nothing. */
        const passphraseFor = (purpose: "unlock" | "create") =>
          Effect.suspend(() => {
            if (envPassphrase !== undefined) return Effect.succeed<string | undefined>(envPassphrase)
            if (!process.stdin.isTTY) return Effect.succeed<string | undefined>(undefined)
            return Effect.tryPromise({
              try: async () => {
                if (purpose === "unlock") return await promptPassphrase("Passphrase for your skchat key: ")
                const first = await promptPassphrase("Passphrase for the new key (empty for none): ")
                if (first === "") return undefined
                const again = await promptPassphrase("Repeat the passphrase: ")
                if (again !== first) throw new Error("the two passphrases differ")
                return first
              },
              catch: (e) => new PassphraseRequired({ message: errorLine(e) })
            })
          })

        const unlockNow = Effect.gen(function*() {
          const rec = yield* record()
          const keyFile = rec?.private_key_path ?? join(paths.keysDir, "private.asc")
          const armored = readText(keyFile)
          if (rec === undefined || armored === undefined) return yield* new IdentityMissing({ keyFile })
          const key = yield* Effect.tryPromise({
            try: () => readPrivateKey(armored),
            catch: configError(`cannot read the private key ${keyFile}`)
          })
          const passphrase = key.isDecrypted() ? undefined : yield* passphraseFor("unlock")
          if (!key.isDecrypted() && passphrase === undefined) {
            return yield* new PassphraseRequired({
              message: `the identity key ${keyFile} is passphrase-protected: set SKCHAT_PASSPHRASE` +
                " (there is no terminal to ask on)"
            })
          }
          const unlocked = yield* Effect.promise(() => unlockKey(key, passphrase))
          if (Either.isLeft(unlocked)) return yield* new PassphraseRequired({ message: unlocked.left })
          return unlocked.right
        })
        const unlock = yield* Effect.cached(unlockNow)

        const readSkcapstone = Effect.suspend(() => {
          const text = readText(paths.identityFile)
          if (text === undefined) return Effect.succeed(undefined)
          return Effect.try({
            try: () => JSON.parse(text) as SkcapstoneIdentity,
            catch: configError(`cannot parse ${paths.identityFile}`)
          })
        })

        /** A private key the skcapstone identity keeps beside its record, if any. */
        const skcapstoneKeyFile = (id: SkcapstoneIdentity): string | undefined => {
          const dir = dirname(paths.identityFile)
          const named = typeof id.private_key_path === "string"
            ? [isAbsolute(id.private_key_path) ? id.private_key_path : join(dir, id.private_key_path)]
            : []
          return [...named, join(dir, "private.asc"), join(dir, "private_key.asc")].find((f) => existsSync(f))
        }

        const init = (options: InitOptions) =>
          Effect.gen(function*() {
            const notes: Array<string> = []
            const existing = yield* record()
            const privateFile = join(paths.keysDir, "private.asc")
            const publicFile = join(paths.keysDir, "public.asc")
            if ((existing !== undefined || existsSync(privateFile)) && !options.force) {
              return yield* new IdentityExists({
                keyFile: existing?.private_key_path ?? privateFile,
                fingerprint: existing?.fingerprint ?? "unknown"
              })
            }
            /** With --force, the old files are moved aside (never deleted) just before the new ones are written. */
            const setAsideOld = () => {
              if (existing === undefined && !existsSync(privateFile)) return
              const suffix = `.replaced-${new Date().toISOString().replace(/[:.]/g, "-")}`
              for (const f of [recordFile, privateFile, publicFile]) {
                if (existsSync(f)) renameSync(f, f + suffix)
              }
              notes.push(`the previous identity was kept as ${join(paths.keysDir, `*${suffix}`)}`)
            }
            if (options.uri !== undefined && !isCapauthUri(options.uri)) {
              return yield* new InvalidInput({ message: `--uri "${options.uri}" is not a capauth URI (capauth:name@host)` })
            }
            const skcapstone = yield* readSkcapstone
            let name: string
            let uri: string
            let email: string | undefined
            let source: KeyRecord["source"] = "generated"
            let reusedKey: { file: string; armored: string } | undefined
            if (skcapstone !== undefined) {
              const fromSkcapstone = uriFromIdentity({ name: skcapstone.name, email: skcapstone.email })
              if (fromSkcapstone === undefined) {
                return yield* new ConfigError({ message: `${paths.identityFile} has neither "name" nor "email"` })
              }
              if (options.uri !== undefined && options.uri !== fromSkcapstone) {
                return yield* new InvalidInput({
                  message: `--uri ${options.uri} disagrees with the skcapstone identity ${fromSkcapstone}` +
                    ` (${paths.identityFile}), which skchat uses`
                })
              }
              uri = fromSkcapstone
              name = skcapstone.name ?? options.name ?? fromSkcapstone.slice("capauth:".length).split("@")[0]!
              email = skcapstone.email ?? fromSkcapstone.slice("capauth:".length)
              const keyFile = skcapstoneKeyFile(skcapstone)
              if (keyFile !== undefined) {
                const armored = readText(keyFile) ?? ""
                const key = yield* Effect.tryPromise({
                  try: () => readPrivateKey(armored),
                  catch: configError(`cannot read the skcapstone private key ${keyFile}`)
                })
                const fpr = key.getFingerprint()
                if (typeof skcapstone.fingerprint === "string" &&
                  skcapstone.fingerprint.replace(/\s/g, "").toLowerCase() !== fpr) {
                  return yield* new ConfigError({
                    message: `${keyFile} (${fpr}) is not the key ${paths.identityFile} names (${skcapstone.fingerprint})`
                  })
                }
                reusedKey = { file: keyFile, armored }
                source = "skcapstone"
                notes.push(`reusing the skcapstone identity ${uri} and its key ${keyFile}`)
              } else {
                notes.push(`reusing the skcapstone identity ${uri}; it has no private key skchat can use, so a new key` +
                  " pair was made for it")
              }
            } else {
              const local = options.uri?.slice("capauth:".length)
              name = options.name?.trim() || local?.split("@")[0] || userInfo().username || "me"
              uri = options.uri ?? `capauth:${name.toLowerCase().replace(/[^a-z0-9._-]+/g, "-")}@skworld.io`
              if (!isCapauthUri(uri)) {
                return yield* new InvalidInput({ message: `cannot make a capauth URI from the name "${name}": use --uri` })
              }
              email = uri.slice("capauth:".length)
            }

            // Without a skcapstone identity, config.yml is where the URI is found (INTEROP.md order). Written
            // first: a config.yml that cannot be updated stops init before any key exists.
            if (skcapstone === undefined) yield* writeConfigValue(paths.configFile, ["identity", "uri"], uri)
            mkdirSync(paths.keysDir, { recursive: true, mode: 0o700 })
            chmodSync(paths.keysDir, 0o700)
            let fingerprint: string
            let armoredPublic: string
            let privateKeyPath: string
            let passphraseProtected: boolean
            if (reusedKey !== undefined) {
              yield* Effect.try({ try: setAsideOld, catch: configError(`cannot move the old identity aside`) })
              const key = yield* Effect.promise(() => readPrivateKey(reusedKey.armored))
              fingerprint = key.getFingerprint()
              armoredPublic = key.toPublic().armor()
              privateKeyPath = reusedKey.file
              passphraseProtected = !key.isDecrypted()
            } else {
              const passphrase = yield* passphraseFor("create").pipe(
                Effect.mapError((e) => new InvalidInput({ message: e.message }))
              )
              const generated = yield* Effect.tryPromise({
                try: () => generateKeyPair({ name, email }, passphrase),
                catch: configError("cannot generate a key pair")
              })
              yield* Effect.try({
                try: () => {
                  setAsideOld()
                  writeAtomic(privateFile, generated.armoredPrivate, 0o600)
                },
                catch: configError(`cannot write ${privateFile}`)
              })
              fingerprint = generated.fingerprint
              armoredPublic = generated.armoredPublic
              privateKeyPath = privateFile
              passphraseProtected = passphrase !== undefined
            }
            const rec: KeyRecord = {
              uri,
              name,
              email: email ?? null,
              fingerprint,
              created_at: new Date().toISOString(),
              source,
              private_key_path: privateKeyPath,
              public_key_path: publicFile,
              passphrase_protected: passphraseProtected
            }
            yield* Effect.try({
              try: () => {
                writeAtomic(publicFile, armoredPublic, 0o644)
                writeAtomic(recordFile, `${JSON.stringify(rec, null, 2)}\n`, 0o644)
              },
              catch: configError(`cannot write ${paths.keysDir}`)
            })
            return { record: rec, notes }
          })

        return { recordFile, record, unlock: () => unlock, init }
      })
    )
}

/** The public key of the local identity, armored (`skchat identity export`). */
export const ownPublicKey = (record: KeyRecord) =>
  Effect.gen(function*() {
    const text = readText(record.public_key_path)
    if (text === undefined) return yield* new ConfigError({ message: `cannot read ${record.public_key_path}` })
    const key = yield* Effect.promise(() => readPeerKey(text))
    if (Either.isLeft(key)) return yield* new ConfigError({ message: `${record.public_key_path}: ${key.left}` })
    return key.right
  })
