import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto"
import type { MessageBody } from "../domain/message-record.js"
import type { Db } from "./sqlite-database.js"

/**
 * Crypto-shredding for TTL messages: the body is sealed with AES-256-GCM under a fresh key per message,
 * the key lives in `message_keys` (outside the log), and expiry deletes the key. What stays in the
 * append-only log is ciphertext nobody can open any more.
 */
export interface ContentVault {
  /** Seals `text` for `messageId` and keeps its key. Call inside the append transaction. */
  readonly seal: (messageId: string, text: string) => MessageBody
  /** The plaintext of a body, or undefined when its key was shredded. */
  readonly open: (messageId: string, body: MessageBody) => string | undefined
  /** Forgets the key for good (secure_delete zeroes the freed bytes). */
  readonly shred: (messageId: string) => void
  /**
   * `open` over a snapshot of every key, for a rebuild: it is called from inside a running SQL
   * statement, where the connection cannot run another query.
   */
  readonly snapshotOpen: () => (messageId: string, body: MessageBody) => string | undefined
}

const decrypt = (messageId: string, body: Extract<MessageBody, { _tag: "Shreddable" }>, key: Buffer): string => {
  const data = Buffer.from(body.ciphertext, "base64")
  const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(body.iv, "base64"))
  decipher.setAAD(Buffer.from(messageId, "utf8"))
  decipher.setAuthTag(data.subarray(data.length - 16))
  return Buffer.concat([decipher.update(data.subarray(0, data.length - 16)), decipher.final()]).toString("utf8")
}

export const makeContentVault = (db: Db): ContentVault => {
  const insertKey = db.prepare("INSERT OR REPLACE INTO message_keys (message_id, key) VALUES (?, ?)")
  const selectKey = db.prepare("SELECT key FROM message_keys WHERE message_id = ?").pluck()
  const selectAllKeys = db.prepare("SELECT message_id, key FROM message_keys")
  const deleteKey = db.prepare("DELETE FROM message_keys WHERE message_id = ?")
  return {
    seal: (messageId, text) => {
      const key = randomBytes(32)
      const iv = randomBytes(12)
      const cipher = createCipheriv("aes-256-gcm", key, iv)
      cipher.setAAD(Buffer.from(messageId, "utf8"))
      const ciphertext = Buffer.concat([cipher.update(text, "utf8"), cipher.final(), cipher.getAuthTag()])
      insertKey.run(messageId, key)
      return {
        _tag: "Shreddable",
        key_id: messageId,
        iv: iv.toString("base64"),
        ciphertext: ciphertext.toString("base64")
      }
    },
    open: (messageId, body) => {
      if (body._tag === "Plain") return body.text
      const key = selectKey.get(body.key_id) as Buffer | undefined
      return key === undefined ? undefined : decrypt(messageId, body, key)
    },
    snapshotOpen: () => {
      const keys = new Map(
        (selectAllKeys.all() as Array<{ message_id: string; key: Buffer }>).map((r) => [r.message_id, r.key])
      )
      return (messageId, body) => {
        if (body._tag === "Plain") return body.text
        const key = keys.get(body.key_id)
        return key === undefined ? undefined : decrypt(messageId, body, key)
      }
    },
    shred: (messageId) => {
      deleteKey.run(messageId)
    }
  }
}
