import { ChatMessage } from "../src/domain/chat-message.js"
import { isoFromMillis } from "../src/domain/timestamp.js"
import { uuidv7 } from "../src/domain/message-id.js"

/** Words drawn with a skewed (Zipf-like) distribution, so some are everywhere and most are rare. */
const vocabulary = Array.from({ length: 5000 }, (_, i) => `w${i.toString(36)}`)
let seed = 42
const random = () => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff
  return seed / 0x7fffffff
}
const zipfWord = () => vocabulary[Math.floor(vocabulary.length * Math.pow(random(), 3))]!

export const RARE_TERM = "zyzzogeton"
export const COMMON_TERM = "status"
const T0 = Date.parse("2026-01-01T00:00:00Z")

/**
 * Message number `i` of a synthetic store: incoming from one of 50 peers, 10% in one of 200 threads,
 * every message containing COMMON_TERM, one in 50,000 containing RARE_TERM.
 */
export const syntheticMessage = (i: number): ChatMessage => {
  const words = [COMMON_TERM]
  for (let k = 0; k < 8; k++) words.push(zipfWord())
  if (i % 50_000 === 7) words.push(RARE_TERM)
  const ts = T0 + i * 1000
  return new ChatMessage({
    id: uuidv7(ts),
    sender: `capauth:peer${i % 50}@skworld.io`,
    recipient: "capauth:bench@localhost",
    content: words.join(" "),
    content_type: "text/plain",
    timestamp: isoFromMillis(ts),
    thread_id: i % 10 === 0 ? `thread-${i % 200}` : null,
    reply_to_id: null,
    ttl: null,
    delivery_status: "delivered",
    encrypted: false,
    metadata: {},
    attachments: []
  }, true)
}
