import { Command, ValidationError } from "@effect/cli"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as NodeTerminal from "@effect/platform-node/NodeTerminal"
import { Cause, Effect, Exit, Layer, Option } from "effect"
import { adminCommand } from "./admin-command.js"
import { historyCommand } from "./history-command.js"
import { inboxCommand } from "./inbox-command.js"
import { peersCommand } from "./peers-command.js"
import { searchCommand } from "./search-command.js"
import { sendCommand } from "./send-command.js"
import { threadsCommand } from "./threads-command.js"
import { whoamiCommand } from "./whoami-command.js"

const skchat = Command.make("skchat").pipe(
  Command.withDescription("encrypted peer-to-peer chat for people and AI agents"),
  Command.withSubcommands([
    sendCommand,
    inboxCommand,
    historyCommand,
    threadsCommand,
    searchCommand,
    whoamiCommand,
    peersCommand,
    adminCommand
  ])
)

const cli = Command.run(skchat, { name: "skchat", version: "0.1.0" })

/** Only what @effect/cli needs; the full NodeContext would load process spawning, workers, ... */
const PlatformLive = Layer.mergeAll(NodeFileSystem.layer, NodePath.layer, NodeTerminal.layer)

/** Every failure becomes one line on stderr and a non-zero exit; a stack trace is never shown. */
const explain = (cause: Cause.Cause<unknown>): { readonly line: string | undefined; readonly code: number } => {
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) {
    const error = failure.value
    // @effect/cli has already printed usage help for these.
    if (ValidationError.isValidationError(error)) return { line: undefined, code: 2 }
    if (error !== null && typeof error === "object" && "message" in error && typeof error.message === "string") {
      return { line: error.message, code: 1 }
    }
    return { line: String(error), code: 1 }
  }
  if (Cause.isInterruptedOnly(cause)) return { line: "interrupted", code: 130 }
  const defect = Cause.squash(cause)
  return { line: `internal error: ${defect instanceof Error ? defect.message : String(defect)}`, code: 70 }
}

export const main = async (argv: ReadonlyArray<string>): Promise<void> => {
  const exit = await Effect.runPromiseExit(cli(argv).pipe(Effect.provide(PlatformLive)))
  if (Exit.isFailure(exit)) {
    const { code, line } = explain(exit.cause)
    if (line !== undefined) process.stderr.write(`skchat: ${line.split("\n")[0]}\n`)
    process.exitCode = code
  }
}

void main(process.argv)
