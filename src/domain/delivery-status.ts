import { Schema } from "effect"

/** Lifecycle of an outbound message; inbound ones are recorded as `delivered`. */
export const DeliveryStatus = Schema.Literal("pending", "sent", "delivered", "read", "failed").annotations({
  identifier: "DeliveryStatus",
  // override: one sentence instead of one "Expected ..." per literal.
  message: () => ({ message: "must be one of pending, sent, delivered, read, failed", override: true })
})
export type DeliveryStatus = typeof DeliveryStatus.Type
