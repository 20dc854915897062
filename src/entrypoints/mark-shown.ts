import { Effect } from "effect"
import { ChatSystem } from "../actors/chat-system.js"
import { Courier } from "../actors/courier.js"
import { askDaemon } from "../adapters/daemon-socket.js"
import { IdentityKeys } from "../adapters/identity-keys.js"
import { SkchatPaths } from "../adapters/skchat-paths.js"
import type { MessageView } from "../projections/message-queries.js"

/**
 * After a listing (the CLI's inbox, history and watch; an agent's get_inbox, get_history and
 * wait_for_messages): the inbound messages it showed for the first time are marked read, and their senders
 * get read receipts — from the daemon when one runs (poked to send them now), else from here when the key
 * opens without asking for a passphrase (a listing never prompts). A listing never fails over this.
 * Returns how many messages were newly marked read.
 */
export const markShown = (rows: ReadonlyArray<Pick<MessageView, "id" | "direction" | "delivery_status">>) =>
  Effect.gen(function*() {
    const ids = rows.filter((r) => r.direction === "in" && r.delivery_status !== "read").map((r) => r.id)
    if (ids.length === 0) return 0
    const marked = yield* Effect.flatMap(ChatSystem, (chat) => chat.markRead(ids))
    if (marked === 0) return 0
    yield* sendReadReceipts
    return marked
  }).pipe(Effect.orElseSucceed(() => 0))

/** Read receipts owed go out now: through the daemon when one runs, else from here if the key needs no passphrase. */
const sendReadReceipts = Effect.gen(function*() {
  const { dataDir } = yield* SkchatPaths
  if ((yield* Effect.promise(() => askDaemon(dataDir, "poke"))) !== undefined) return
  const record = yield* Effect.flatMap(IdentityKeys, (keys) => keys.record())
  if (record?.passphrase_protected === true && !process.env["SKCHAT_PASSPHRASE"]) return
  yield* Effect.flatMap(Courier, (courier) => courier.sendReceipts())
}).pipe(Effect.ignore)
