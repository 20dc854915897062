import { Command } from "@effect/cli"
import { Console, Effect } from "effect"
import { ChatSystem } from "../../actors/chat-system.js"
import { StoreLive } from "./cli-layers.js"

const rebuildCommand = Command.make("rebuild", {}, () =>
  Effect.gen(function*() {
    const events = yield* (yield* ChatSystem).rebuild()
    yield* Console.log(`rebuilt every projection from ${events} events`)
  }).pipe(Effect.provide(StoreLive))
).pipe(Command.withDescription("drop and refold every projection from the event log"))

const verifyCommand = Command.make("verify", {}, () =>
  Effect.gen(function*() {
    const events = yield* (yield* ChatSystem).verify()
    yield* Console.log(`ok: ${events} events, hash chain intact`)
  }).pipe(Effect.provide(StoreLive))
).pipe(Command.withDescription("check the event log's hash chain (non-zero exit on damage)"))

export const adminCommand = Command.make("admin").pipe(
  Command.withDescription("store maintenance"),
  Command.withSubcommands([rebuildCommand, verifyCommand])
)
