import { readdirSync } from "node:fs"
import { join } from "node:path"
import { isSafeId } from "../domain/message-id.js"
import { readEnvelopeFiles, writeEnvelopeFile } from "./folder-mailbox.js"
import { type InboundItem, type Transport, TransportFailure } from "./transport.js"

export interface SyncthingTransportSettings {
  /** The folder Syncthing shares between the peers. */
  readonly root: string
  /** Our name in the layout: other peers write to `<root>/outbox/<name>/`. */
  readonly ownName: string
  readonly archivePath: string | undefined
}

/**
 * The name a peer goes by in the shared folder: the local part of its capauth URI (`capauth:lumina@skworld.io`
 * → `lumina`), which is what both sides know of each other. Checked before it becomes a folder name.
 */
export const folderNameOf = (uri: string): string | undefined => {
  const local = uri.replace(/^capauth:/, "").split("@")[0] ?? ""
  return isSafeId(local) ? local : undefined
}

/**
 * SKComm's Syncthing layout (INTEROP.md): we write `<root>/outbox/<peer>/<id>.skc.json`, and read
 * `<root>/outbox/<own name>/` plus every `<root>/inbox/*\/`. Syncthing carries the folder both ways.
 */
export const syncthingTransport = (priority: number, settings: SyncthingTransportSettings): Transport => {
  const mine = join(settings.root, "outbox", settings.ownName)
  const inboxes = join(settings.root, "inbox")
  const folders = (): Array<string> => {
    let names: Array<string> = []
    try {
      names = readdirSync(inboxes, { withFileTypes: true })
        .filter((d) => d.isDirectory() && !d.name.startsWith(".")).map((d) => d.name).sort()
    } catch {
      names = []
    }
    return [mine, ...names.map((n) => join(inboxes, n))]
  }
  return {
    name: "syncthing",
    priority,
    watchPaths: [mine, inboxes],
    send: async (envelope) => {
      const peer = folderNameOf(envelope.recipient)
      if (peer === undefined) throw new TransportFailure(`no safe folder name for ${envelope.recipient}`)
      writeEnvelopeFile(join(settings.root, "outbox", peer), envelope.envelopeId, envelope.text)
    },
    poll: async (maxBytes, limit) => {
      const now = Date.now()
      const items: Array<InboundItem> = []
      for (const dir of folders()) {
        if (items.length >= limit) break
        items.push(...readEnvelopeFiles(dir, settings.archivePath, maxBytes, now, limit - items.length))
      }
      return items
    }
  }
}
