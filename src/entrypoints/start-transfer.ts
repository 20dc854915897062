import { Effect } from "effect"
import { resolve } from "node:path"
import { Courier } from "../actors/courier.js"
import type { TransferProgress } from "../actors/file-transfers.js"
import { askDaemon } from "../adapters/daemon-socket.js"
import { InvalidInput } from "../domain/errors.js"
import { requestDaemon } from "./daemon-request.js"

/** A transfer under way, and how to follow it. */
export interface StartedTransfer {
  readonly progress: TransferProgress
  /** Its progress now (from the daemon, or from this process when it sends it itself). */
  readonly poll: () => Effect.Effect<TransferProgress, InvalidInput>
}

/**
 * Starts sending a file (`send-file`, the MCP server's send_file_p2p). The daemon sends it when one runs
 * (over a connected call's channels if there is one); otherwise this process sends it as sealed chunks over
 * the transports.
 */
export const startTransfer = (dataDir: string, to: string, file: string, note?: string) =>
  Effect.gen(function*() {
    // The daemon's working directory is not the caller's.
    const path = resolve(file)
    if ((yield* Effect.promise(() => askDaemon(dataDir, "status"))) !== undefined) {
      const progress = yield* requestDaemon<TransferProgress>(dataDir,
        `send-file ${JSON.stringify({ peer: to, path, ...(note === undefined ? {} : { note }) })}`, 600_000)
      return {
        progress,
        poll: () => requestDaemon<TransferProgress>(dataDir, `transfer ${progress.transfer_id}`)
      } satisfies StartedTransfer
    }
    const { transfers } = yield* Courier
    const started = yield* Effect.tryPromise({
      try: () => transfers.send(to, path, note),
      catch: (e) => (e instanceof InvalidInput ? e : new InvalidInput({ message: `cannot send ${path}: ${String(e)}` }))
    })
    const now = () => transfers.progress(started.transferId)!
    return { progress: now(), poll: () => Effect.sync(now) } satisfies StartedTransfer
  })
