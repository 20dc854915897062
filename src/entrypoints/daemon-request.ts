import { Effect } from "effect"
import { askDaemon } from "../adapters/daemon-socket.js"
import { InvalidInput } from "../domain/errors.js"

/**
 * A request only the daemon can answer (calls and their channels live there): its reply, or a one-line
 * failure when no daemon runs or it refused.
 */
export const requestDaemon = <A>(dataDir: string, command: string, timeoutMs = 5000) =>
  Effect.flatMap(Effect.promise(() => askDaemon(dataDir, command, timeoutMs)), (reply) => {
    if (reply === undefined) {
      return new InvalidInput({
        message: `no daemon is running for ${dataDir}: direct calls and transfers are made by it (\`skchat daemon start\`)`
      })
    }
    if (typeof reply === "object" && reply !== null && "error" in reply && typeof reply.error === "string") {
      return new InvalidInput({ message: reply.error })
    }
    return Effect.succeed(reply as A)
  })
