import { Command } from "@effect/cli"
import { Console, Effect } from "effect"
import { LocalIdentity } from "../../adapters/local-identity.js"
import { IdentityLive } from "./cli-layers.js"
import { json } from "./cli-options.js"

export const whoamiCommand = Command.make("whoami", { json }, (args) =>
  Effect.gen(function*() {
    const identity = yield* LocalIdentity
    yield* Console.log(
      args.json ? JSON.stringify(identity, null, 2) : `${identity.uri}\n  from: ${identity.source}`
    )
  }).pipe(Effect.provide(IdentityLive))
).pipe(Command.withDescription("your identity URI and where it comes from"))
