import type { MessageRecord } from "../domain/message-record.js"
import type { Projection } from "./projection.js"

/**
 * The set-wise twin of the fold below, for rebuilds. It runs after the messages projection has loaded
 * every message row and before any expiry is applied, so `messages` still holds every message that was
 * ever in a thread. First appearance wins everywhere, as INSERT OR IGNORE does in the fold.
 */
const BULK_THREADS = `INSERT OR IGNORE INTO threads (id, title, message_count, last_activity, created_seq)
  SELECT id, title, 0, at, seq FROM (
    SELECT data ->> '$.thread_id' AS id, data ->> '$.title' AS title, data ->> '$.at' AS at, seq
      FROM events WHERE type = 'ThreadCreated' AND v = 1
    UNION ALL
    SELECT thread_id, thread_id, ts, rowid FROM messages WHERE thread_id IS NOT NULL
  ) ORDER BY seq`

const BULK_COUNTS = `WITH agg AS (
    SELECT thread_id, count(*) AS n, max(ts) AS last FROM messages WHERE thread_id IS NOT NULL GROUP BY thread_id
  )
  UPDATE threads SET message_count = agg.n, last_activity = max(threads.last_activity, agg.last)
  FROM agg WHERE agg.thread_id = threads.id`

/** Participants in order of first appearance: a ThreadCreated's list in order, then sender, recipient. */
const BULK_PARTICIPANTS = `INSERT INTO thread_participants (thread_id, participant, position)
  SELECT thread_id, participant, row_number() OVER (PARTITION BY thread_id ORDER BY first) - 1 FROM (
    SELECT thread_id, participant, min(o) AS first FROM (
      SELECT e.data ->> '$.thread_id' AS thread_id, p.value AS participant, e.seq * 65536 + p.key AS o
        FROM events e, json_each(e.data, '$.participants') p WHERE e.type = 'ThreadCreated' AND e.v = 1
      UNION ALL
      SELECT m.thread_id, e.data ->> '$.message.sender', m.rowid * 65536
        FROM messages m JOIN events e ON e.seq = m.rowid WHERE m.thread_id IS NOT NULL
      UNION ALL
      SELECT m.thread_id, e.data ->> '$.message.recipient', m.rowid * 65536 + 1
        FROM messages m JOIN events e ON e.seq = m.rowid WHERE m.thread_id IS NOT NULL
    ) GROUP BY thread_id, participant
  )`

/**
 * Threads with their participants (in order of first appearance), live message count and last
 * activity. A message naming an unknown thread creates it, titled by its id (peers may start threads
 * we never saw a ThreadCreated for). Must be applied before the message projection (expiry looks the
 * message's thread up there).
 */
export const threadProjection: Projection = {
  name: "threads",
  tables: ["threads", "thread_participants"],
  make: (db) => {
    const create = db.prepare(
      "INSERT OR IGNORE INTO threads (id, title, message_count, last_activity, created_seq) VALUES (?, ?, 0, ?, ?)"
    )
    const bump = db.prepare(
      "UPDATE threads SET message_count = message_count + 1, last_activity = max(last_activity, ?) WHERE id = ?"
    )
    const addParticipant = db.prepare(`INSERT OR IGNORE INTO thread_participants (thread_id, participant, position)
      VALUES (@thread, @participant, (SELECT count(*) FROM thread_participants WHERE thread_id = @thread))`)
    const threadOfMessage = db.prepare(
      "SELECT thread_id FROM messages WHERE rowid = (SELECT seq FROM events WHERE message_id = ? AND seq < ?)"
    ).pluck()
    const drop = db.prepare("UPDATE threads SET message_count = message_count - 1 WHERE id = ?")

    const onMessage = (seq: number, m: MessageRecord, ts: number) => {
      if (m.thread_id === null) return
      create.run(m.thread_id, m.thread_id, ts, seq)
      bump.run(ts, m.thread_id)
      addParticipant.run({ thread: m.thread_id, participant: m.sender })
      addParticipant.run({ thread: m.thread_id, participant: m.recipient })
    }

    return {
      apply: ({ event, seq }) => {
        switch (event._tag) {
          case "ThreadCreated":
            create.run(event.thread_id, event.title, event.at, seq)
            for (const p of event.participants) addParticipant.run({ thread: event.thread_id, participant: p })
            return
          case "MessageComposed":
          case "MessageReceived":
            return onMessage(seq, event.message, event.ts)
          case "MessageExpired": {
            const threadId = threadOfMessage.get(event.message_id, seq) as string | null | undefined
            if (threadId) drop.run(threadId)
            return
          }
        }
      },
      bulkLoad: () => {
        db.prepare(BULK_THREADS).run()
        db.prepare(BULK_COUNTS).run()
        db.prepare(BULK_PARTICIPANTS).run()
      }
    }
  }
}
