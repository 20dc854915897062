import { Schema } from "effect"

/** Lifecycle of an outbound message; inbound ones are recorded as `delivered`. */
export const DeliveryStatus = Schema.Literal("pending", "sent", "delivered", "read", "failed").annotations({
  identifier: "DeliveryStatus",
  message: () => "delivery_status must be one of pending, sent, delivered, read, failed"
})
export type DeliveryStatus = typeof DeliveryStatus.Type
