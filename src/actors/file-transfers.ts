import { createHash, randomBytes } from "node:crypto"
import { closeSync, openSync, readSync, statSync } from "node:fs"
import { basename } from "node:path"
import type { DirectChannel } from "../adapters/direct-peer.js"
import { hashFileInto } from "../adapters/file-hash.js"
import {
  channelMessages,
  channelReader,
  decodeChunkFile,
  encodeChunkFile,
  type SealedChunk,
  sealChunk
} from "../adapters/file-chunk.js"
import type { PartialFile, PartialFiles } from "../adapters/partial-files.js"
import type { OutboundEnvelope } from "../adapters/transport.js"
import type { ChatEvent } from "../domain/chat-event.js"
import type { ChatMessage } from "../domain/chat-message.js"
import { errorLine } from "../domain/error-line.js"
import { InvalidInput } from "../domain/errors.js"
import {
  CHUNK_SIZE,
  chunkCount,
  FILE_ATTACHMENT_TYPE,
  type FileAttachment,
  fileAttachmentOf,
  humanBytes,
  MAX_FILE_BYTES
} from "../domain/file-attachment.js"
import { uuidv7 } from "../domain/message-id.js"
import type { TransferView } from "../projections/direct-queries.js"
import type { ControlFrame, DirectLink } from "./direct-link.js"

/** Channels a direct transfer spreads its chunks over. */
const FILE_CHANNELS = 4
const FILE_CHANNEL_PREFIX = "skchat-file-"
/** Back-pressure per channel: stop queueing above the high mark, go on once it drained to the low one. */
const HIGH_WATER = 1024 * 1024
const LOW_WATER = 256 * 1024

/** What the host (Courier, and the daemon for calls) lends file transfers. */
export interface FileTransfersHost {
  readonly me: string
  readonly files: PartialFiles
  /** Stores the message that offers the file (signed and sealed like any message); its id. */
  readonly storeOffer: (to: string, content: string, attachment: FileAttachment) => Promise<string>
  /** Sends a stored message now: false while no transport took it (it stays in the outbox). */
  readonly deliver: (messageId: string) => Promise<boolean>
  /** Hands an envelope to the first transport that takes it. */
  readonly route: (envelope: OutboundEnvelope) => Promise<string>
  readonly record: (events: ReadonlyArray<ChatEvent>) => Promise<void>
  /** Outgoing transfers to `peer` still sending, from the log. */
  readonly sending: (peer: string) => ReadonlyArray<{ readonly transfer_id: string; readonly message_id: string; readonly path: string }>
  /** The offer a stored message makes (for a transfer resumed after a restart). */
  readonly offerOf: (messageId: string) => FileAttachment | undefined
  readonly isCompleted: (transferId: string) => boolean
  readonly log: (line: string) => void
}

/** A call's channel to a peer, when the daemon holds one. */
export interface DirectRoutes {
  readonly link: (peer: string) => DirectLink | undefined
  readonly openChannel: (peer: string, label: string) => Promise<DirectChannel>
}

/** How far a transfer has come, as `send-file` shows it. */
export interface TransferProgress {
  readonly transfer_id: string
  readonly message_id: string
  readonly peer: string
  readonly name: string
  readonly size: number
  readonly sha256: string
  /** Bytes handed to the channel or transport (sending) or written (receiving). */
  readonly done_bytes: number
  readonly state: "sending" | "waiting" | "completed" | "failed"
  readonly route: "direct" | "transport"
  readonly reason: string | null
}

/** A transfer this process is not carrying (done, or from before a restart) as `send-file` follows one. */
export const progressFromLog = (t: TransferView): TransferProgress => ({
  transfer_id: t.transfer_id,
  message_id: t.message_id,
  peer: t.peer,
  name: t.name,
  size: t.size,
  sha256: t.sha256,
  done_bytes: t.state === "completed" ? t.size : 0,
  state: t.state === "completed" || t.state === "failed" ? t.state : "waiting",
  route: t.route === "transport" ? "transport" : "direct",
  reason: t.reason
})

interface Outgoing {
  readonly attachment: FileAttachment
  readonly messageId: string
  readonly peer: string
  readonly path: string
  key: Buffer
  sent: Set<number>
  state: TransferProgress["state"]
  route: TransferProgress["route"]
  reason: string | null
  /** Bumped when a pump must stop (the link went, a newer request came). */
  pump: number
  pumping: boolean
  finished: Promise<void>
  finish: () => void
}

const sha256Of = async (path: string): Promise<string> => {
  const hash = createHash("sha256")
  await hashFileInto(hash, path)
  return hash.digest("hex")
}

/**
 * File transfers in both directions. Sending: the file's name, size, sha256 and a fresh chunk key go out as
 * a signed, sealed chat message; then its chunks, each sealed (file-chunk.ts), over the call's file channels
 * when one is connected (the receiver asks for what it lacks, so a transfer resumes on the next connection
 * after a drop), otherwise as transport files. Receiving: chunks are opened with the offer's key and
 * written in place (partial-files.ts); the whole file is checked against the signed sha256 at the end.
 */
export const makeFileTransfers = (host: FileTransfersHost) => {
  const outgoing = new Map<string, Outgoing>()
  const incoming = new Map<string, PartialFile>()
  let direct: DirectRoutes | undefined
  const channels = new Map<string, Promise<ReadonlyArray<DirectChannel>>>()

  /** Work started from a callback (a finished file being checked): `settled` waits for it. */
  const pending = new Set<Promise<unknown>>()
  const later = <A>(work: Promise<A>): Promise<A> => {
    pending.add(work)
    void work.finally(() => pending.delete(work))
    return work
  }
  const record = (...events: ReadonlyArray<ChatEvent>) =>
    later(host.record(events).catch((e) => host.log(`error: cannot record a transfer event: ${errorLine(e)}`)))

  // ---- sending ----

  /** Chunk `i` of the file, read into `into` (one buffer per pump: sealing copies out of it at once). */
  const readChunk = (fd: number, a: FileAttachment, i: number, into: Buffer): Buffer => {
    const length = Math.max(0, Math.min(a.chunk_size, a.size - i * a.chunk_size))
    const bytes = into.subarray(0, length)
    let at = 0
    while (at < length) {
      const n = readSync(fd, bytes, at, length - at, i * a.chunk_size + at)
      if (n === 0) throw new Error(`${a.name} is shorter than when it was offered`)
      at += n
    }
    return bytes
  }

  const fileChannels = (peer: string) => {
    let opened = channels.get(peer)
    if (opened === undefined) {
      const routes = direct
      if (routes === undefined) return Promise.reject(new Error("no direct route"))
      opened = Promise.all(Array.from({ length: FILE_CHANNELS }, (_, k) => routes.openChannel(peer, `${FILE_CHANNEL_PREFIX}${k}`)))
      opened.catch(() => channels.delete(peer))
      channels.set(peer, opened)
    }
    return opened
  }

  /** Sends the chunks in `ranges` over the call's file channels; stops when the link goes or a newer pump starts. */
  const pumpDirect = async (t: Outgoing, ranges: ReadonlyArray<readonly [number, number]>) => {
    const mine = ++t.pump
    t.pumping = true
    t.route = "direct"
    t.state = "sending"
    const fd = openSync(t.path, "r")
    const buffer = Buffer.allocUnsafe(t.attachment.chunk_size)
    try {
      const lanes = await fileChannels(t.peer)
      let lane = 0
      for (const [first, end] of ranges) {
        for (let i = first; i < end; i++) {
          if (t.pump !== mine) return
          const [head, body] = channelMessages(t.key, t.attachment.transfer_id, i, readChunk(fd, t.attachment, i, buffer))
          const channel = lanes[lane++ % lanes.length]!
          channel.send(head)
          channel.send(body)
          t.sent.add(i)
          if (channel.bufferedAmount() > HIGH_WATER) await channel.drained(LOW_WATER)
        }
      }
    } catch (e) {
      if (t.pump === mine) {
        t.state = "waiting"
        host.log(`transfer ${t.attachment.transfer_id} to ${t.peer} paused: ${errorLine(e)} (it resumes on the next call)`)
      }
    } finally {
      closeSync(fd)
      if (t.pump === mine) t.pumping = false
    }
  }

  /** No call: every chunk as a sealed transport file. */
  const pumpTransport = async (t: Outgoing) => {
    t.route = "transport"
    t.state = "sending"
    const fd = openSync(t.path, "r")
    const buffer = Buffer.allocUnsafe(t.attachment.chunk_size)
    try {
      const total = chunkCount(t.attachment)
      for (let i = 0; i < total; i++) {
        const plain = readChunk(fd, t.attachment, i, buffer)
        const text = encodeChunkFile(t.attachment.transfer_id, i, sealChunk(t.key, t.attachment.transfer_id, i, plain))
        // A fresh, time-ordered id: chunk files sort after the offer, which readers take first.
        await host.route({ envelopeId: uuidv7(Date.now()), recipient: t.peer, text })
        t.sent.add(i)
      }
      t.state = "completed"
      await record({ _tag: "TransferCompleted", v: 1, at: Date.now(), transfer_id: t.attachment.transfer_id, route: "transport", path: null })
      t.finish()
    } catch (e) {
      t.state = "failed"
      t.reason = errorLine(e)
      await record({ _tag: "TransferFailed", v: 1, at: Date.now(), transfer_id: t.attachment.transfer_id, reason: t.reason })
      t.finish()
    } finally {
      closeSync(fd)
    }
  }

  const track = (attachment: FileAttachment, messageId: string, peer: string, path: string): Outgoing => {
    let finish = () => {}
    const finished = new Promise<void>((resolve) => (finish = resolve))
    const t: Outgoing = {
      attachment,
      messageId,
      peer,
      path,
      key: Buffer.from(attachment.key, "base64"),
      sent: new Set(),
      state: "waiting",
      route: "direct",
      reason: null,
      pump: 0,
      pumping: false,
      finished,
      finish
    }
    outgoing.set(attachment.transfer_id, t)
    return t
  }

  /** An outgoing transfer by id: in memory, or from the log (sent before a restart). */
  const outgoingOf = (peer: string, transferId: string): Outgoing | undefined => {
    const known = outgoing.get(transferId)
    if (known !== undefined) return known.peer === peer ? known : undefined
    const row = host.sending(peer).find((r) => r.transfer_id === transferId)
    const attachment = row === undefined ? undefined : host.offerOf(row.message_id)
    return row === undefined || attachment === undefined ? undefined : track(attachment, row.message_id, peer, row.path)
  }

  /** Offers the file at `path` to `peer` (with `note` as the message's text) and starts sending it. */
  const send = async (peer: string, path: string, note?: string) => {
    let size: number
    try {
      const stat = statSync(path)
      size = stat.isFile() ? stat.size : -1
    } catch (e) {
      throw new InvalidInput({ message: `cannot read ${path}: ${errorLine(e)}` })
    }
    if (size < 0) throw new InvalidInput({ message: `${path} is not a regular file` })
    if (size > MAX_FILE_BYTES) throw new InvalidInput({ message: `${path} is larger than ${humanBytes(MAX_FILE_BYTES)}` })
    const now = Date.now()
    const attachment: FileAttachment = {
      type: FILE_ATTACHMENT_TYPE,
      transfer_id: uuidv7(now),
      name: basename(path),
      size,
      sha256: await sha256Of(path),
      chunk_size: CHUNK_SIZE,
      key: randomBytes(32).toString("base64")
    }
    const messageId = await host.storeOffer(peer, note?.trim() || `sent a file: ${attachment.name} (${humanBytes(size)})`, attachment)
    await record({
      _tag: "TransferStarted", v: 1, at: now, transfer_id: attachment.transfer_id, message_id: messageId, direction: "out",
      peer, name: attachment.name, size, sha256: attachment.sha256, path
    })
    const t = track(attachment, messageId, peer, path)
    const sent = await host.deliver(messageId)
    if (direct?.link(peer) !== undefined) {
      // The offer went over the call (or, failing that, a transport): once the receiver has it, it asks for
      // the chunks it needs (all of them, now), and `control` starts the pump.
      t.route = "direct"
      t.state = "sending"
    } else {
      if (!sent) host.log(`the offer of ${attachment.name} to ${peer} waits in the outbox; its chunks follow it`)
      void pumpTransport(t)
    }
    return { transferId: attachment.transfer_id, messageId, finished: t.finished }
  }

  // ---- receiving ----

  const finishIncoming = async (file: PartialFile) => {
    const id = file.attachment.transfer_id
    incoming.delete(id)
    const result = await file.finish()
    const route = direct?.link(file.peer) !== undefined ? "direct" as const : "transport" as const
    if ("path" in result) {
      await record({ _tag: "TransferCompleted", v: 1, at: Date.now(), transfer_id: id, route, path: result.path })
      host.log(`received ${file.attachment.name} from ${file.peer} (${humanBytes(file.attachment.size)}, sha256 checked): ${result.path}`)
    } else {
      await record({ _tag: "TransferFailed", v: 1, at: Date.now(), transfer_id: id, reason: result.reason })
      host.log(`transfer ${id} from ${file.peer} failed: ${result.reason}`)
    }
    direct?.link(file.peer)?.sendControl({ t: "done", id, ok: "path" in result, reason: "reason" in result ? result.reason : null })
  }

  const incomingOf = (transferId: string): PartialFile | undefined => {
    let file = incoming.get(transferId)
    if (file === undefined) {
      file = host.files.load(transferId)
      if (file !== undefined) incoming.set(transferId, file)
    }
    return file
  }

  const keys = new Map<string, Buffer>()
  const keyOf = (file: PartialFile) => {
    let key = keys.get(file.attachment.transfer_id)
    if (key === undefined) keys.set(file.attachment.transfer_id, key = Buffer.from(file.attachment.key, "base64"))
    return key
  }

  /**
   * A chunk from `peer` (over a channel or a transport): opened and checked at once (false when refused),
   * written in the background; the transfer finishes once its last chunk is on disk.
   */
  const takeChunk = (peer: string, frame: SealedChunk): boolean => {
    const file = incomingOf(frame.transferId)
    if (file === undefined || file.peer !== peer) return false
    const plain = frame.open(keyOf(file))
    if (plain === undefined) return false
    if (file.has(frame.index)) return true
    later(file.write(frame.index, plain).then(
      () => {
        if (file.complete() && incoming.get(frame.transferId) === file) return finishIncoming(file)
      },
      (e: unknown) => host.log(`transfer ${frame.transferId}: ${errorLine(e)}`)
    ))
    return true
  }

  return {
    send,
    /** Calls are held by this process (the daemon): direct transfers become possible. */
    useDirect: (routes: DirectRoutes) => {
      direct = routes
    },
    progress: (transferId: string): TransferProgress | undefined => {
      const t = outgoing.get(transferId)
      if (t === undefined) return undefined
      let bytes = 0
      for (const i of t.sent) bytes += Math.max(0, Math.min(t.attachment.chunk_size, t.attachment.size - i * t.attachment.chunk_size))
      return {
        transfer_id: transferId,
        message_id: t.messageId,
        peer: t.peer,
        name: t.attachment.name,
        size: t.attachment.size,
        sha256: t.attachment.sha256,
        done_bytes: bytes,
        state: t.state,
        route: t.route,
        reason: t.reason
      }
    },
    /** A message arrived: if it offers a file, its transfer starts here. */
    offered: (message: ChatMessage) => {
      const attachment = fileAttachmentOf(message)
      if (attachment === undefined || message.sender === host.me || host.isCompleted(attachment.transfer_id)) return
      const file = host.files.start(attachment, message.sender, message.id)
      incoming.set(attachment.transfer_id, file)
      void record({
        _tag: "TransferStarted", v: 1, at: Date.now(), transfer_id: attachment.transfer_id, message_id: message.id,
        direction: "in", peer: message.sender, name: attachment.name, size: attachment.size, sha256: attachment.sha256,
        path: host.files.filesDir
      })
      if (file.complete()) return void later(finishIncoming(file))
      direct?.link(message.sender)?.sendControl({ t: "need", id: attachment.transfer_id, missing: file.missing() })
    },
    /** A transport file holding a chunk (the fallback route). */
    chunkFile: (bytes: Uint8Array, peerHint: string | undefined): boolean => {
      const frame = decodeChunkFile(bytes)
      if (frame === undefined) return false
      const file = incomingOf(frame.transferId)
      return file !== undefined && takeChunk(peerHint ?? file.peer, frame)
    },
    /**
     * Saves which chunks arrived, for every transfer under way here: before the transport files those chunks
     * came in are deleted, so that a process that stops afterwards does not lose them.
     */
    flush: async () => {
      for (const file of incoming.values()) {
        await file.settled()
        file.save()
      }
    },
    /** A file channel the peer opened: its frames are chunks. */
    channel: (peer: string, channel: DirectChannel) => {
      if (!channel.label.startsWith(FILE_CHANNEL_PREFIX)) return
      channel.onMessage(channelReader((chunk) => takeChunk(peer, chunk)))
    },
    control: (peer: string, frame: ControlFrame) => {
      switch (frame.t) {
        case "resume": {
          // The sender asks what we lack (a new transfer, or one resumed on a new connection).
          const file = incomingOf(frame.id)
          if (file !== undefined && file.peer === peer) {
            direct?.link(peer)?.sendControl({ t: "need", id: frame.id, missing: file.missing() })
          } else if (host.isCompleted(frame.id)) {
            direct?.link(peer)?.sendControl({ t: "done", id: frame.id, ok: true, reason: null })
          }
          return
        }
        case "need": {
          const t = outgoingOf(peer, frame.id)
          if (t === undefined || t.state === "completed" || t.state === "failed") return
          if (!Array.isArray(frame.missing)) return
          const ranges = frame.missing.filter((r) => Array.isArray(r) && Number.isInteger(r[0]) && Number.isInteger(r[1]))
          // What the receiver lacks is not sent any more, whatever was queued before.
          for (const [first, end] of ranges) for (let i = first; i < end; i++) t.sent.delete(i)
          void pumpDirect(t, ranges)
          return
        }
        case "done": {
          const t = outgoingOf(peer, frame.id)
          if (t === undefined || t.state === "completed" || t.state === "failed") return
          t.pump += 1
          t.state = frame.ok ? "completed" : "failed"
          t.reason = frame.reason
          void record(frame.ok
            ? { _tag: "TransferCompleted", v: 1, at: Date.now(), transfer_id: frame.id, route: "direct", path: null }
            : { _tag: "TransferFailed", v: 1, at: Date.now(), transfer_id: frame.id, reason: frame.reason ?? "the receiver refused it" })
            .then(() => t.finish())
          host.log(frame.ok
            ? `${t.attachment.name} reached ${peer} (sha256 checked)`
            : `transfer of ${t.attachment.name} to ${peer} failed: ${frame.reason ?? ""}`)
        }
      }
    },
    /** A call's channel came up: transfers to that peer carry on over it. */
    linkUp: (peer: string, link: DirectLink) => {
      for (const row of host.sending(peer)) link.sendControl({ t: "resume", id: row.transfer_id })
    },
    linkDown: (peer: string) => {
      channels.delete(peer)
      for (const t of outgoing.values()) {
        if (t.peer === peer && t.state === "sending") {
          t.pump += 1
          t.state = "waiting"
        }
      }
      for (const file of incoming.values()) if (file.peer === peer) later(file.settled().then(() => file.save()))
    },
    /**
     * Resolves once the work under way now (chunks being written, files being checked, events being recorded)
     * is done; not what starts meanwhile (a transfer streaming over a call would keep it waiting to its end).
     */
    settled: async () => {
      await Promise.allSettled([...pending])
    },
    stop: async () => {
      for (const t of outgoing.values()) t.pump += 1
      const files = [...incoming.values()]
      incoming.clear()
      await Promise.all(files.map((f) => f.close()))
      await Promise.allSettled([...pending])
    }
  }
}

export type FileTransfers = ReturnType<typeof makeFileTransfers>
