import type { MessageRecord } from "../domain/message-record.js"
import { timestampMillis } from "../domain/timestamp.js"
import type { Projection } from "./projection.js"

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
    const threadOfMessage = db.prepare("SELECT thread_id FROM messages WHERE id = ?").pluck()
    const drop = db.prepare("UPDATE threads SET message_count = message_count - 1 WHERE id = ?")

    const onMessage = (seq: number, m: MessageRecord) => {
      if (m.thread_id === null) return
      const ts = timestampMillis(m.timestamp)
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
            return onMessage(seq, event.message)
          case "MessageExpired": {
            const threadId = threadOfMessage.get(event.message_id) as string | null | undefined
            if (threadId) drop.run(threadId)
            return
          }
        }
      }
    }
  }
}
