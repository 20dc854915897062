import type { Db } from "../adapters/sqlite-database.js"
import { isoFromMillis } from "../domain/timestamp.js"

/** A call as `call status` and `webrtc_status` show it. */
export interface CallView {
  readonly call_id: string
  readonly peer: string
  readonly direction: "out" | "in"
  /** `calling` (we offered), `ringing` (they offered), `connected`, `ended`. */
  readonly state: "calling" | "ringing" | "connected" | "ended"
  readonly started_at: string
  readonly connected_at: string | null
  readonly ended_at: string | null
  readonly outcome: string | null
  readonly reason: string | null
}

/** A file transfer as `transfers` shows it. */
export interface TransferView {
  readonly transfer_id: string
  readonly message_id: string
  readonly direction: "out" | "in"
  readonly peer: string
  readonly name: string
  readonly size: number
  readonly sha256: string
  readonly path: string
  /** `sending` / `receiving`, then `completed` or `failed`. */
  readonly state: "sending" | "receiving" | "completed" | "failed"
  readonly started_at: string
  readonly ended_at: string | null
  readonly route: string | null
  readonly reason: string | null
}

interface CallRow extends Omit<CallView, "started_at" | "connected_at" | "ended_at"> {
  readonly started_at: number
  readonly connected_at: number | null
  readonly ended_at: number | null
}
interface TransferRow extends Omit<TransferView, "started_at" | "ended_at"> {
  readonly started_at: number
  readonly ended_at: number | null
}

const at = (ms: number | null) => (ms === null ? null : isoFromMillis(ms))
const callView = (r: CallRow): CallView => ({
  ...r,
  started_at: isoFromMillis(r.started_at),
  connected_at: at(r.connected_at),
  ended_at: at(r.ended_at)
})
const transferView = (r: TransferRow): TransferView => ({
  ...r,
  started_at: isoFromMillis(r.started_at),
  ended_at: at(r.ended_at)
})

export interface DirectQueries {
  /** Calls not ended, then the latest ended ones (at most `limit` in all). */
  readonly calls: (limit?: number) => ReadonlyArray<CallView>
  /** The call with this peer that has not ended, if any. */
  readonly openCallWith: (peer: string) => CallView | undefined
  readonly openCalls: () => ReadonlyArray<CallView>
  /** Newest first. */
  readonly transfers: (limit?: number) => ReadonlyArray<TransferView>
  readonly transfer: (transferId: string) => TransferView | undefined
  /** Our transfers to `peer` not finished yet (to resume on the next call). */
  readonly sendingTo: (peer: string) => ReadonlyArray<TransferView>
  /** The attachments of a stored message (a transfer's offer), from its event. */
  readonly attachmentsOf: (messageId: string) => ReadonlyArray<unknown>
}

export const makeDirectQueries = (db: Db): DirectQueries => {
  const calls = db.prepare(`SELECT * FROM calls ORDER BY state = 'ended', started_at DESC LIMIT ?`)
  const open = db.prepare(`SELECT * FROM calls WHERE state <> 'ended' ORDER BY started_at DESC`)
  const openWith = db.prepare(`SELECT * FROM calls WHERE peer = ? AND state <> 'ended' ORDER BY started_at DESC LIMIT 1`)
  const transfers = db.prepare(`SELECT * FROM transfers ORDER BY started_at DESC LIMIT ?`)
  const transfer = db.prepare(`SELECT * FROM transfers WHERE transfer_id = ?`)
  const sendingTo = db.prepare(`SELECT * FROM transfers WHERE peer = ? AND direction = 'out' AND state = 'sending'`)
  const attachments = db.prepare(`SELECT data ->> '$.message.attachments' FROM events WHERE message_id = ?`).pluck()
  return {
    calls: (limit = 20) => (calls.all(limit) as Array<CallRow>).map(callView),
    openCallWith: (peer) => {
      const row = openWith.get(peer) as CallRow | undefined
      return row === undefined ? undefined : callView(row)
    },
    openCalls: () => (open.all() as Array<CallRow>).map(callView),
    transfers: (limit = 50) => (transfers.all(limit) as Array<TransferRow>).map(transferView),
    transfer: (id) => {
      const row = transfer.get(id) as TransferRow | undefined
      return row === undefined ? undefined : transferView(row)
    },
    sendingTo: (peer) => (sendingTo.all(peer) as Array<TransferRow>).map(transferView),
    attachmentsOf: (messageId) => {
      const json = attachments.get(messageId) as string | null | undefined
      return typeof json === "string" ? JSON.parse(json) as Array<unknown> : []
    }
  }
}
