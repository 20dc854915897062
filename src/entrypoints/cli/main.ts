import { Command, ValidationError } from "@effect/cli"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as NodeTerminal from "@effect/platform-node/NodeTerminal"
import { Cause, Console, Effect, Exit, Layer, Option } from "effect"
import { adminCommand } from "./admin-command.js"
import { callCommand } from "./call-command.js"
import { daemonCommand } from "./daemon-command.js"
import { demoCommand } from "./demo-command.js"
import { historyCommand } from "./history-command.js"
import { identityCommand } from "./identity-command.js"
import { inboxCommand } from "./inbox-command.js"
import { initCommand } from "./init-command.js"
import { mcpCommand } from "./mcp-command.js"
import { peersCommand } from "./peers-command.js"
import { quarantineCommand } from "./quarantine-command.js"
import { receiveCommand } from "./receive-command.js"
import { searchCommand } from "./search-command.js"
import { sendCommand } from "./send-command.js"
import { sendFileCommand } from "./send-file-command.js"
import { transfersCommand } from "./transfers-command.js"
import { threadsCommand } from "./threads-command.js"
import { causeLine } from "../../domain/error-line.js"
import { colorEnabled } from "./render.js"
import { watchCommand } from "./watch-command.js"
import { whoamiCommand } from "./whoami-command.js"

const skchat = Command.make("skchat").pipe(
  Command.withDescription("encrypted peer-to-peer chat for people and AI agents"),
  Command.withSubcommands([
    initCommand,
    sendCommand,
    receiveCommand,
    watchCommand,
    inboxCommand,
    historyCommand,
    threadsCommand,
    searchCommand,
    whoamiCommand,
    identityCommand,
    peersCommand,
    quarantineCommand,
    daemonCommand,
    callCommand,
    sendFileCommand,
    transfersCommand,
    mcpCommand,
    demoCommand,
    adminCommand
  ])
)

const cli = Command.run(skchat, { name: "skchat", version: "0.1.0" })

/** Only what @effect/cli needs; the full NodeContext would load process spawning, workers, ... */
const PlatformLive = Layer.mergeAll(NodeFileSystem.layer, NodePath.layer, NodeTerminal.layer)

const ansi = /\x1b\[[0-9;]*m/g
const stripAnsi = (x: unknown) => (typeof x === "string" ? x.replace(ansi, "") : x)
/** Usage errors from @effect/cli follow the same one-line `skchat: ...` form as ours. */
const asErrorLine = (x: unknown) => {
  if (typeof x !== "string") return x
  const text = x.trim()
  return text.startsWith("skchat:") ? text : `skchat: ${text.split("\n")[0]} (see --help)`
}

/**
 * @effect/cli styles its help and usage errors unconditionally: off a terminal or under NO_COLOR they are
 * unstyled, and its usage errors become one line like every other error.
 */
const cliConsole = <A, E, R>(effect: Effect.Effect<A, E, R>, color: boolean) =>
  Console.consoleWith((base) =>
    Console.withConsole(effect, {
      ...base,
      log: (...args) => base.log(...(color ? args : args.map(stripAnsi))),
      error: (...args) => base.error(...args.map(stripAnsi).map(asErrorLine))
    })
  )

/** Every failure becomes one line on stderr and a non-zero exit; a stack trace is never shown. */
const explain = (cause: Cause.Cause<unknown>): { readonly line: string | undefined; readonly code: number } => {
  const failure = Cause.failureOption(cause)
  // @effect/cli has already printed usage help for these.
  if (Option.isSome(failure) && ValidationError.isValidationError(failure.value)) return { line: undefined, code: 2 }
  const code = Option.isSome(failure) ? 1 : Cause.isInterruptedOnly(cause) ? 130 : 70
  return { line: causeLine(cause), code }
}

export const main = async (argv: ReadonlyArray<string>): Promise<void> => {
  const program = cli(argv).pipe(Effect.provide(PlatformLive))
  const exit = await Effect.runPromiseExit(cliConsole(program, colorEnabled(process.stdout, process.env)))
  if (Exit.isFailure(exit)) {
    const { code, line } = explain(exit.cause)
    if (line !== undefined) process.stderr.write(`skchat: ${line.split("\n")[0]}\n`)
    process.exitCode = code
  }
}

void main(process.argv)
