import { dirname, join } from "node:path"
import { readEnvelopeFiles, writeEnvelopeFile } from "./folder-mailbox.js"
import type { Transport } from "./transport.js"

export interface FileTransportSettings {
  readonly inboxPath: string
  readonly outboxPath: string
  /** Where handled files go; undefined: deleted (`archive: false`). */
  readonly archivePath: string | undefined
}

/** The archive folder SKComm uses when none is set: beside the inbox. */
export const defaultArchivePath = (inboxPath: string) => join(dirname(inboxPath), "archive")

/**
 * SKComm's file transport (INTEROP.md): envelopes are written into our outbox and read from our inbox;
 * something outside (a shared folder, NFS, Syncthing) carries them between the two sides.
 */
export const fileTransport = (priority: number, settings: FileTransportSettings): Transport => ({
  name: "file",
  priority,
  watchPaths: [settings.inboxPath],
  send: async (envelope) => writeEnvelopeFile(settings.outboxPath, envelope.envelopeId, envelope.text),
  poll: async (maxBytes, limit) =>
    readEnvelopeFiles(settings.inboxPath, settings.archivePath, maxBytes, Date.now(), limit)
})
