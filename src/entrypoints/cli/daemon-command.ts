import { Command, Options } from "@effect/cli"
import { Console, Effect, Layer, Option } from "effect"
import { spawn } from "node:child_process"
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync } from "node:fs"
import { dirname } from "node:path"
import { ActorInspector } from "../../adapters/actor-inspector.js"
import { SkchatConfig } from "../../adapters/config-file.js"
import { expandHome, pathsFromEnv } from "../../adapters/skchat-paths.js"
import { InvalidInput } from "../../domain/errors.js"
import { daemonStatusOf, defaultLogFile, pidFileOf, runDaemon } from "../daemon.js"
import { storeLayers } from "../store-layers.js"
import { ConfigLive, MailLive } from "./cli-layers.js"

const interval = Options.float("interval").pipe(Options.withAlias("i"), Options.optional,
  Options.withDescription("seconds between polls when no notification arrives (default 5.0)"))
const logFile = Options.text("log-file").pipe(Options.withAlias("l"), Options.optional,
  Options.withDescription("where the daemon logs (default ~/.skchat/daemon.log)"))
const quiet = Options.boolean("quiet").pipe(Options.withAlias("q"),
  Options.withDescription("log only start, stop and errors"))
const foreground = Options.boolean("foreground").pipe(Options.withAlias("f"),
  Options.withDescription("run in this process instead of in the background"))
const inspect = Options.boolean("inspect").pipe(
  Options.withDescription("with --foreground: show the running actors in the Stately inspector"))
const json = Options.boolean("json").pipe(Options.withDescription("print the status as JSON"))

const env = process.env
const paths = pathsFromEnv(env)

const truthy = (v: unknown) => v === true || (typeof v === "string" && /^(1|true|yes|on)$/i.test(v.trim()))

/** Flag, then environment, then `skchat.daemon` in config.yml, then the default. */
const settings = (args: { interval: Option.Option<number>; logFile: Option.Option<string>; quiet: boolean }) =>
  Effect.gen(function*() {
    const config = yield* SkchatConfig
    const fromEnv = env["SKCHAT_DAEMON_INTERVAL"]?.trim()
    const configured = config.get("daemon", "poll_interval")
    const seconds = Option.getOrUndefined(args.interval) ??
      (fromEnv ? Number(fromEnv) : typeof configured === "number" ? configured : configured === undefined ? 5 : NaN)
    if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 86_400) {
      return yield* new InvalidInput({
        message: "the daemon interval (--interval, SKCHAT_DAEMON_INTERVAL or skchat.daemon.poll_interval) " +
          "must be a number of seconds above 0"
      })
    }
    const configuredLog = config.get("daemon", "log_file")
    const log = Option.getOrUndefined(args.logFile) ?? (env["SKCHAT_DAEMON_LOG"]?.trim() || undefined) ??
      (typeof configuredLog === "string" && configuredLog.trim() !== "" ? configuredLog.trim() : defaultLogFile(paths.dataDir))
    const isQuiet = args.quiet || truthy(env["SKCHAT_DAEMON_QUIET"]) || truthy(config.get("daemon", "quiet"))
    return { intervalSeconds: seconds, logFile: expandHome(log, paths.home), quiet: isQuiet }
  }).pipe(Effect.provide(ConfigLive))

const status = () => Effect.promise(() => daemonStatusOf(paths.dataDir))

const sleep = (ms: number) => Effect.promise(() => new Promise((r) => setTimeout(r, ms)))

const tail = (file: string) => {
  try {
    return readFileSync(file, "utf8").trim().split("\n").slice(-3).join(" | ")
  } catch {
    return ""
  }
}

const startCommand = Command.make("start", { interval, logFile, quiet, foreground, inspect }, (args) =>
  Effect.gen(function*() {
    const s = yield* settings(args)
    if (args.foreground) {
      const inspector = ActorInspector.layer({
        env,
        localServer: args.inspect,
        onServerReady: (info) => process.stdout.write(`${info.hint}\n`)
      })
      const layers = args.inspect ? storeLayers(env, inspector).mail : MailLive
      return yield* runDaemon({ ...s, echo: env["SKCHAT_DAEMON_CHILD"] !== "1" }).pipe(
        Effect.provide(Layer.fresh(layers))
      )
    }
    if (args.inspect) {
      return yield* new InvalidInput({ message: "--inspect needs --foreground (the inspector link is printed there)" })
    }
    const running = yield* status()
    if (running !== undefined) {
      return yield* new InvalidInput({ message: `the daemon is already running (pid ${running.pid})` })
    }
    mkdirSync(dirname(s.logFile), { recursive: true })
    const out = openSync(s.logFile, "a", 0o600)
    const child = spawn(process.execPath, [
      process.argv[1]!,
      "daemon",
      "start",
      "--foreground",
      "--interval",
      String(s.intervalSeconds),
      "--log-file",
      s.logFile,
      ...(s.quiet ? ["--quiet"] : [])
    ], { detached: true, stdio: ["ignore", "ignore", out], env: { ...env, SKCHAT_DAEMON_CHILD: "1" } })
    closeSync(out)
    let exited: number | null = null
    child.on("exit", (code) => {
      exited = code ?? 1
    })
    child.unref()
    for (let waited = 0; waited < 15_000; waited += 50) {
      const up = yield* status()
      if (up !== undefined) {
        yield* Console.log(`skchat daemon started (pid ${up.pid}); log: ${s.logFile}`)
        return
      }
      if (exited !== null) break
      yield* sleep(50)
    }
    return yield* new InvalidInput({
      message: `the daemon did not start${exited === null ? " within 15 s" : ` (exit code ${exited})`}: ${tail(s.logFile)}`
    })
  })
).pipe(Command.withDescription("start the background daemon that keeps the inbox current (one per data dir)"))

const stopCommand = Command.make("stop", {}, () =>
  Effect.gen(function*() {
    const running = yield* status()
    const pidFile = pidFileOf(paths.dataDir)
    if (running === undefined) {
      // Nobody holds the lock: a PID file left behind by a killed daemon is stale.
      const stale = existsSync(pidFile)
      if (stale) rmSync(pidFile, { force: true })
      yield* Console.log(`skchat daemon is not running${stale ? " (removed a stale PID file)" : ""}`)
      return
    }
    try {
      process.kill(running.pid, "SIGTERM")
    } catch (e) {
      return yield* new InvalidInput({ message: `cannot signal the daemon (pid ${running.pid}): ${String(e)}` })
    }
    for (let waited = 0; waited < 20_000; waited += 50) {
      if ((yield* status()) === undefined) {
        yield* Console.log(`skchat daemon stopped (pid ${running.pid})`)
        return
      }
      yield* sleep(50)
    }
    return yield* new InvalidInput({ message: `the daemon (pid ${running.pid}) did not stop within 20 s` })
  })
).pipe(Command.withDescription("stop the daemon (SIGTERM: it finishes the round in hand)"))

const statusCommand = Command.make("status", { json }, (args) =>
  Effect.gen(function*() {
    const running = yield* status()
    if (args.json) {
      yield* Console.log(JSON.stringify(running === undefined ? { running: false } : { running: true, ...running }, null, 2))
    } else if (running === undefined) {
      yield* Console.log("skchat daemon is not running")
    } else {
      yield* Console.log([
        `skchat daemon is running (pid ${running.pid}, since ${running.started_at})`,
        `  transports: ${running.transports.join(", ") || "none configured"}; polling every ${running.interval}s`,
        `  received ${running.received}, rejected ${running.rejected}, sent ${running.sent}`,
        `  log: ${running.log_file}`,
        ...(running.last_error === null ? [] : [`  last error: ${running.last_error}`])
      ].join("\n"))
    }
    // Like an init script's status: 3 when it is not running.
    if (running === undefined) process.exitCode = 3
  })
).pipe(Command.withDescription("is the daemon running, and what has it done"))

export const daemonCommand = Command.make("daemon").pipe(
  Command.withDescription("the background process that receives, acknowledges, retries and expires"),
  Command.withSubcommands([startCommand, stopCommand, statusCommand])
)
