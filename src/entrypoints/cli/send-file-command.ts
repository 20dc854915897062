import { Args, Command, Options } from "@effect/cli"
import { Console, Effect } from "effect"
import { resolve } from "node:path"
import type { TransferProgress } from "../../actors/file-transfers.js"
import { PeerRegistry } from "../../adapters/peer-registry.js"
import { pathsFromEnv } from "../../adapters/skchat-paths.js"
import { InvalidInput } from "../../domain/errors.js"
import { humanBytes } from "../../domain/file-attachment.js"
import { startTransfer } from "../start-transfer.js"
import { MailLive, PeersLive } from "./cli-layers.js"
import { makeProgressBar } from "./progress-bar.js"

const peer = Args.text({ name: "peer" }).pipe(Args.withDescription("a peer name from ~/.skcapstone/peers or a capauth: URI"))
const path = Args.text({ name: "path" }).pipe(Args.withDescription("the file to send"))
const json = Options.boolean("json").pipe(Options.withDescription("print the transfer as JSON"))
const noWait = Options.boolean("no-wait").pipe(
  Options.withDescription("with a daemon: return once the transfer has started (see `skchat transfers`)"))

const sleep = (ms: number) => Effect.promise(() => new Promise((r) => setTimeout(r, ms)))
const finished = (p: TransferProgress) => p.state === "completed" || p.state === "failed"

/** How long a direct transfer may wait for the receiver's first request before this stops watching it. */
const FIRST_ANSWER_MS = 30_000

const report = (p: TransferProgress, asJson: boolean) =>
  Effect.gen(function*() {
    if (asJson) return yield* Console.log(JSON.stringify(p, null, 2))
    if (p.state === "failed") {
      return yield* new InvalidInput({ message: `the transfer of ${p.name} failed: ${p.reason ?? "unknown reason"}` })
    }
    yield* Console.log(p.state === "completed"
      ? `sent ${p.name} (${humanBytes(p.size)}) to ${p.peer} ${
        p.route === "direct" ? "over the direct call; the receiver checked its sha256" : "as sealed chunks over the transports"
      }; transfer ${p.transfer_id}`
      : `${p.name} (${humanBytes(p.size)}) to ${p.peer}: ${
        p.state === "waiting" ? "paused until the next call with them" : "on its way"
      }; transfer ${p.transfer_id} (see \`skchat transfers\`)`)
  })

export const sendFileCommand = Command.make("send-file", { peer, path, json, noWait }, (args) =>
  Effect.gen(function*() {
    const to = yield* Effect.flatMap(PeerRegistry, (peers) => peers.resolve(args.peer)).pipe(Effect.provide(PeersLive))
    const started = yield* startTransfer(pathsFromEnv(process.env).dataDir, to, resolve(process.cwd(), args.path))
    let p = started.progress
    const bar = args.json ? undefined : makeProgressBar(process.stderr, p.size)
    const since = Date.now()
    let wasSending = false
    while (!finished(p) && !args.noWait) {
      if (p.state === "sending") wasSending = true
      // Paused by a dropped call, or no word from the receiver yet: it resumes on the next call.
      if (p.state === "waiting" && (wasSending || Date.now() - since > FIRST_ANSWER_MS)) break
      bar?.update(p.done_bytes)
      yield* sleep(100)
      p = yield* started.poll()
    }
    bar?.update(finished(p) ? p.size : p.done_bytes)
    bar?.end()
    yield* report(p, args.json)
  }).pipe(Effect.provide(MailLive))
).pipe(Command.withDescription(
  "send a file: over a connected call's data channels when there is one (through the daemon), else as sealed chunks " +
    "over the transports; the receiver finds it in ~/.skchat/files/"
))
