import { Effect } from "effect"
import { ChatSystem } from "../../actors/chat-system.js"
import { Courier } from "../../actors/courier.js"
import { askDaemon } from "../../adapters/daemon-socket.js"
import { IdentityKeys } from "../../adapters/identity-keys.js"
import { SkchatPaths } from "../../adapters/skchat-paths.js"
import type { MessageView } from "../../projections/message-queries.js"
import { KeysLive } from "./cli-layers.js"

/**
 * After a listing: the inbound messages it showed for the first time are marked read, and their senders
 * get read receipts — from the daemon when one runs (poked to send them now), else from here when the
 * key opens without asking for a passphrase (a listing never prompts). A listing never fails over this.
 */
export const markShown = (rows: ReadonlyArray<MessageView>) =>
  Effect.gen(function*() {
    const ids = rows.filter((r) => r.direction === "in" && r.delivery_status !== "read").map((r) => r.id)
    if (ids.length === 0) return
    const marked = yield* Effect.flatMap(ChatSystem, (chat) => chat.markRead(ids))
    if (marked === 0) return
    const { dataDir } = yield* SkchatPaths
    if ((yield* Effect.promise(() => askDaemon(dataDir, "poke"))) !== undefined) return
    const record = yield* Effect.flatMap(IdentityKeys, (keys) => keys.record()).pipe(Effect.provide(KeysLive))
    if (record?.passphrase_protected === true && !process.env["SKCHAT_PASSPHRASE"]) return
    yield* Effect.flatMap(Courier, (courier) => courier.sendReceipts())
  }).pipe(Effect.ignore)
