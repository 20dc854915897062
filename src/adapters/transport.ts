import type { Rejection } from "../domain/envelope-rejection.js"

/** An envelope on its way out: its id (safe as a file name, checked again by each transport) and text. */
export interface OutboundEnvelope {
  readonly envelopeId: string
  /** The recipient's URI (capauth:name@host): a transport with per-peer folders files it by name. */
  readonly recipient: string
  readonly text: string
}

/** What became of an inbound item, once its outcome is committed: the transport then consumes it. */
export type Disposal =
  /** Keep a copy where the transport archives (an ordinary message, a duplicate, a receipt). */
  | "archive"
  /** Remove it: refused (its bytes are in quarantine), or a TTL message whose text must not outlive it. */
  | "delete"

/** One envelope waiting in a transport: read (at most the size limit) but not yet consumed. */
export interface InboundItem {
  /** Where it came from, for logs (a path). */
  readonly source: string
  readonly bytes: Uint8Array
  /** Its real size: more than `bytes` holds when it was too big to read whole. */
  readonly size: number
  /** Set when the transport itself refuses it (a symlink, a directory where a file should be). */
  readonly refused?: Rejection
  /** Called only after the outcome is committed to the log (DESIGN.md §3: consume after commit). */
  readonly consume: (how: Disposal) => void
}

/**
 * One way envelopes travel (a shared folder, Syncthing, a data channel). `send` resolves once the
 * transport has taken the envelope and rejects with a one-line reason when it cannot; `poll` lists what
 * is waiting without consuming anything.
 */
export interface Transport {
  readonly name: string
  /** Lower goes first (SKComm's convention). */
  readonly priority: number
  readonly send: (envelope: OutboundEnvelope) => Promise<void>
  /** At most `limit` items, oldest names first; each read to at most `maxBytes + 1` bytes. */
  readonly poll: (maxBytes: number, limit: number) => Promise<ReadonlyArray<InboundItem>>
  /** Folders to watch for arrivals (file-system notifications), if the transport has any. */
  readonly watchPaths: ReadonlyArray<string>
  readonly close?: () => Promise<void>
}

/** A transport failure as a value: one line a person can act on. */
export class TransportFailure extends Error {
  override readonly name = "TransportFailure"
}

/**
 * A transport that does not reach this recipient now (a direct channel with no call to them open): the
 * router goes on to the next one without counting a failure against it.
 */
export class PassedOver extends Error {
  override readonly name = "PassedOver"
}
