/**
 * skchat as a library: the models, and a history service over the same store the CLI uses.
 *
 *   import { openHistory } from "skchat"
 *   const history = await openHistory()
 *   await history.send({ recipient: "capauth:lumina@skworld.io", content: "deploy done" })
 */
export { ChatMessage, ChatMessageFromWire, decodeChatMessage, encodeChatMessage } from "./domain/chat-message.js"
export { ContentType, normalizeContentType } from "./domain/content-type.js"
export { DeliveryStatus } from "./domain/delivery-status.js"
export { CapauthUri, isCapauthUri } from "./domain/identity-uri.js"
export { MessageId, uuidv7 } from "./domain/message-id.js"
export { Thread } from "./domain/thread.js"
export { ChatEvent } from "./domain/chat-event.js"
export {
  ConfigError,
  IdentityExists,
  IdentityMissing,
  InvalidInput,
  KeyChanged,
  LogDamaged,
  MissingRecipientKey,
  PassphraseRequired,
  StoreError,
  UnknownRecipient
} from "./domain/errors.js"
export { canonicalJson } from "./domain/canonical-json.js"
export { Envelope } from "./domain/envelope.js"
export { RejectionReason } from "./domain/envelope-rejection.js"
export { Seal } from "./domain/sealed-message.js"
export type { MessageView, RejectionView, ThreadView } from "./projections/message-queries.js"
export { ChatSystem, type ReceiveOutcome, type SendResult } from "./actors/chat-system.js"
export { ChatHistory, historyLayer, type HistoryOptions, openHistory } from "./entrypoints/chat-history.js"
