import { Migrator } from "@effect/sql"
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

/**
 * The store's schema, as @effect/sql migrations. Each migration is a list of single statements
 * (better-sqlite3 prepares one statement at a time).
 */
const statements = (...ddl: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    for (const s of ddl) yield* sql.unsafe(s)
  })

/**
 * The search index table. A rebuild drops and creates it again with this very statement (projections/
 * search-index-builder.ts), so a migration that changes it must change this constant too.
 */
export const SEARCH_INDEX_OPTIONS = "tokenize = 'unicode61 remove_diacritics 2', detail = none, columnsize = 0"
export const SEARCH_TABLE_SQL = `CREATE VIRTUAL TABLE messages_fts USING fts5(
  content, content = 'message_texts', content_rowid = 'rowid', ${SEARCH_INDEX_OPTIONS}
)`

export const migrations = {
  "0001_event_log": statements(
    // The log. seq and the hash chain are assigned by the one writer (event-log.ts): each hash covers the
    // previous event's hash, so the chain needs no column of its own; log_head records the last link so
    // that a log cut short is detectable (admin verify).
    `CREATE TABLE events (
      seq INTEGER PRIMARY KEY,
      id TEXT NOT NULL UNIQUE,
      type TEXT NOT NULL,
      v INTEGER NOT NULL,
      recorded_at INTEGER NOT NULL,
      data TEXT NOT NULL,
      hash TEXT NOT NULL,
      message_id TEXT GENERATED ALWAYS AS (
        CASE WHEN type IN ('MessageComposed', 'MessageReceived') THEN data ->> '$.message.id' END
      ) VIRTUAL
    )`,
    // Exactly-once in the log (DESIGN.md §3): a message id can be recorded once, ever, so ingest is
    // idempotent and an expired message cannot come back by being delivered again.
    `CREATE UNIQUE INDEX events_by_message_id ON events (message_id) WHERE message_id IS NOT NULL`,
    // The few events a rebuild folds one by one, among the many it loads set-wise: every type but
    // projection.ts BULK_LOADED_TYPES (partial, so appending a message never touches this index).
    `CREATE INDEX events_folded ON events (seq)
      WHERE type NOT IN ('MessageComposed', 'MessageReceived', 'ThreadCreated')`,
    // Thread announcements, for the rebuild's set-wise thread load (a full scan of the log otherwise).
    `CREATE INDEX events_thread_created ON events (seq) WHERE type = 'ThreadCreated'`,
    `CREATE TABLE log_head (
      one INTEGER PRIMARY KEY CHECK (one = 1),
      seq INTEGER NOT NULL,
      hash TEXT NOT NULL
    )`,
    `INSERT INTO log_head (one, seq, hash) VALUES (1, 0, '${"0".repeat(64)}')`,
    `CREATE TRIGGER events_no_update BEFORE UPDATE ON events
      BEGIN SELECT RAISE(ABORT, 'skchat events are append-only'); END`,
    `CREATE TRIGGER events_no_delete BEFORE DELETE ON events
      BEGIN SELECT RAISE(ABORT, 'skchat events are append-only'); END`,
    // Per-message keys for TTL content. Deliberately not part of the log: deleting a key is how an
    // expired message's logged ciphertext becomes unreadable.
    `CREATE TABLE message_keys (
      message_id TEXT PRIMARY KEY,
      key BLOB NOT NULL
    ) WITHOUT ROWID`,
    // Projections. A message row is thin: where it went, when, its status, and (TTL messages only) the
    // plaintext of its sealed body; every other wire field is read from its event at query time. Its
    // rowid is the seq of the event that created it, so a rebuild reproduces the live table exactly.
    `CREATE TABLE messages (
      rowid INTEGER PRIMARY KEY,
      direction TEXT NOT NULL,
      peer TEXT NOT NULL,
      ts INTEGER NOT NULL,
      thread_id TEXT,
      expires_at INTEGER,
      delivery_status TEXT NOT NULL,
      verified INTEGER NOT NULL,
      sealed_text TEXT
    )`,
    `CREATE INDEX messages_inbox ON messages (ts) WHERE direction = 'in'`,
    `CREATE INDEX messages_by_peer ON messages (peer, ts)`,
    `CREATE INDEX messages_by_thread ON messages (thread_id, ts) WHERE thread_id IS NOT NULL`,
    `CREATE INDEX messages_by_expiry ON messages (expires_at) WHERE expires_at IS NOT NULL`,
    `CREATE INDEX messages_outbox ON messages (ts) WHERE direction = 'out' AND delivery_status = 'pending'`,
    // The searchable text of every live message: from the log for plain bodies, from the row for sealed.
    `CREATE VIEW message_texts (rowid, content) AS
      SELECT m.rowid, coalesce(m.sealed_text, e.data ->> '$.message.body.text')
      FROM messages m JOIN events e ON e.seq = m.rowid`,
    // External content (the view): FTS5's 'delete' with the exact indexed text and secure-delete on
    // removes the tokens from the index itself; a contentless table would only record a tombstone and
    // keep every token of an expired message in the file. detail=none and columnsize=0: search matches
    // single-token terms and prefixes and never ranks, so positions and lengths would be dead weight
    // (about a third of the index's build time).
    SEARCH_TABLE_SQL,
    `INSERT INTO messages_fts (messages_fts, rank) VALUES ('secure-delete', 1)`,
    `CREATE TABLE threads (
      id TEXT PRIMARY KEY,
      title TEXT NOT NULL,
      message_count INTEGER NOT NULL,
      last_activity INTEGER NOT NULL,
      created_seq INTEGER NOT NULL
    )`,
    `CREATE INDEX threads_by_activity ON threads (last_activity)`,
    `CREATE TABLE thread_participants (
      thread_id TEXT NOT NULL,
      participant TEXT NOT NULL,
      position INTEGER NOT NULL,
      PRIMARY KEY (thread_id, participant)
    ) WITHOUT ROWID`,
    `CREATE TABLE projection_checkpoints (
      name TEXT PRIMARY KEY,
      seq INTEGER NOT NULL
    )`
  ),
  "0002_sealed_envelopes": statements(
    // Replay protection in the log itself: an envelope id, like a message id, is recorded once, ever.
    `ALTER TABLE events ADD COLUMN envelope_id TEXT GENERATED ALWAYS AS (
      CASE WHEN type IN ('MessageComposed', 'MessageReceived') THEN data ->> '$.envelope_id' END
    ) VIRTUAL`,
    `CREATE UNIQUE INDEX events_by_envelope_id ON events (envelope_id) WHERE envelope_id IS NOT NULL`,
    // Sealed envelopes waiting for a transport. Not part of the log: an envelope is a cache of what the
    // logged message says, encrypted once at send time; a TTL message's envelope (readable with our own
    // key) is deleted at expiry along with its content key.
    // A rowid table: each row holds a few KB of armor, which a WITHOUT ROWID B-tree stores poorly.
    `CREATE TABLE outbound_envelopes (
      message_id TEXT PRIMARY KEY,
      envelope_id TEXT NOT NULL UNIQUE,
      recipient TEXT NOT NULL,
      envelope TEXT NOT NULL
    )`,
    // Projection: the key pinned for each peer URI (PeerAdded / PeerRemoved).
    `CREATE TABLE peer_keys (
      uri TEXT PRIMARY KEY,
      name TEXT NOT NULL,
      fingerprint TEXT NOT NULL,
      how TEXT NOT NULL,
      pinned_at INTEGER NOT NULL
    ) WITHOUT ROWID`,
    // Projection: refused envelopes, newest last (EnvelopeRejected).
    `CREATE TABLE rejections (
      seq INTEGER PRIMARY KEY,
      at INTEGER NOT NULL,
      reason TEXT NOT NULL,
      detail TEXT NOT NULL,
      claimed_id TEXT,
      claimed_sender TEXT,
      sha256 TEXT NOT NULL,
      size INTEGER NOT NULL,
      file TEXT
    )`
  ),
  "0003_transports": statements(
    // Delivery state on the message row. Outbound: how many attempts failed and when the next is due
    // (from DeliveryAttemptFailed; the outbox query takes what is due). Inbound: which receipt we still
    // owe the sender ('delivered' on arrival, 'read' once shown; cleared by ReceiptSent).
    `ALTER TABLE messages ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0`,
    `ALTER TABLE messages ADD COLUMN next_attempt_at INTEGER`,
    `ALTER TABLE messages ADD COLUMN receipt_due TEXT`,
    `CREATE INDEX messages_receipts_due ON messages (peer) WHERE receipt_due IS NOT NULL`,
    // Messages verified before receipts existed were never acknowledged: they are owed one now (what a
    // rebuild of this projection computes too).
    `UPDATE messages SET receipt_due = 'delivered' WHERE direction = 'in' AND verified = 1
      AND rowid IN (SELECT seq FROM events WHERE type = 'MessageReceived' AND envelope_id IS NOT NULL)`
  ),
  "0004_agents": statements(
    // A send's idempotency key is recorded once, ever, like a message id: a retried send with the same key
    // (from any process, across restarts) finds the message it already made instead of making another.
    `ALTER TABLE events ADD COLUMN idempotency_key TEXT GENERATED ALWAYS AS (
      CASE WHEN type = 'MessageComposed' THEN data ->> '$.idempotency_key' END
    ) VIRTUAL`,
    `CREATE UNIQUE INDEX events_by_idempotency_key ON events (idempotency_key) WHERE idempotency_key IS NOT NULL`,
    // Received messages not yet shown: what an agent's wait_for_messages and get_inbox(unread_only) read.
    `CREATE INDEX messages_unread ON messages (ts) WHERE direction = 'in' AND delivery_status <> 'read'`
  ),
  "0005_direct": statements(
    // Projection: direct calls (CallStarted / CallConnected / CallEnded), what `call status` shows.
    `CREATE TABLE calls (
      call_id TEXT PRIMARY KEY,
      peer TEXT NOT NULL,
      direction TEXT NOT NULL,
      state TEXT NOT NULL,
      started_at INTEGER NOT NULL,
      connected_at INTEGER,
      ended_at INTEGER,
      outcome TEXT,
      reason TEXT
    )`,
    `CREATE INDEX calls_open ON calls (peer) WHERE state <> 'ended'`,
    // Projection: file transfers (TransferStarted / TransferCompleted / TransferFailed), for `skchat transfers`.
    `CREATE TABLE transfers (
      transfer_id TEXT PRIMARY KEY,
      message_id TEXT NOT NULL,
      direction TEXT NOT NULL,
      peer TEXT NOT NULL,
      name TEXT NOT NULL,
      size INTEGER NOT NULL,
      sha256 TEXT NOT NULL,
      path TEXT NOT NULL,
      state TEXT NOT NULL,
      started_at INTEGER NOT NULL,
      ended_at INTEGER,
      route TEXT,
      reason TEXT
    )`
  )
} as const

export const latestMigrationId = Math.max(...Object.keys(migrations).map((k) => Number(k.split("_")[0])))

export const migrationLoader = Migrator.fromRecord(migrations)
