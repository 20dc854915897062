import type { DeliveryStatus } from "./delivery-status.js"

/**
 * Receipts can arrive out of order (a read receipt before the delivery receipt) and twice. Status only
 * moves forward, so a late `delivered` never hides a `read`, and `failed` cannot undo a delivery.
 */
const rank: Readonly<Record<DeliveryStatus, number>> = { pending: 0, failed: 1, sent: 2, delivered: 3, read: 4 }

export const advanceStatus = (current: DeliveryStatus, next: DeliveryStatus): DeliveryStatus =>
  next === "failed"
    ? (current === "pending" || current === "sent" ? "failed" : current)
    : rank[next] > rank[current] ? next : current
