import { Command, Options } from "@effect/cli"
import { Console, Effect, Option } from "effect"
import { IdentityKeys } from "../../adapters/identity-keys.js"
import { formatFingerprint } from "../../domain/safety-number.js"
import { KeysLive } from "./cli-layers.js"

const name = Options.text("name").pipe(Options.optional, Options.withDescription("your display name"))
const uri = Options.text("uri").pipe(Options.optional,
  Options.withDescription("your identity URI, capauth:name@host (default: from the name)"))
const force = Options.boolean("force").pipe(
  Options.withDescription("replace an existing identity (the old key is kept beside the new one)")
)

export const initCommand = Command.make("init", { name, uri, force }, (args) =>
  Effect.gen(function*() {
    const keys = yield* IdentityKeys
    const { notes, record } = yield* keys.init({
      name: Option.getOrUndefined(args.name),
      uri: Option.getOrUndefined(args.uri),
      force: args.force
    })
    for (const note of notes) yield* Console.log(note)
    yield* Console.log([
      `identity:    ${record.uri}`,
      `fingerprint: ${formatFingerprint(record.fingerprint)}`,
      `private key: ${record.private_key_path}${record.passphrase_protected ? " (passphrase-protected)" : ""}`,
      `public key:  ${record.public_key_path}`,
      "Give your public key to the people you chat with: skchat identity export > me.asc"
    ].join("\n"))
  }).pipe(Effect.provide(KeysLive))
).pipe(Command.withDescription("create your identity and OpenPGP key pair (reuses a skcapstone identity)"))
