import { Command } from "@effect/cli"
import { Console, Effect } from "effect"
import { ChatSystem } from "../../actors/chat-system.js"
import { Courier } from "../../actors/courier.js"
import { InvalidInput } from "../../domain/errors.js"
import { MailLive } from "./cli-layers.js"
import { json } from "./cli-options.js"

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`

export const receiveCommand = Command.make("receive", { json }, (args) =>
  Effect.gen(function*() {
    const courier = yield* Courier
    if (courier.transports.length === 0) {
      return yield* new InvalidInput({
        message: "no transport is configured: add skchat.transports to config.yml (see the README, \"Transports\")"
      })
    }
    const summary = yield* courier.receive()
    // While we are at it: what is due in the outbox goes out too.
    const outbox = yield* courier.deliver()
    yield* Effect.flatMap(ChatSystem, (chat) => chat.expireDue())
    if (args.json) {
      yield* Console.log(JSON.stringify({
        received: summary.accepted.length,
        unverified: summary.unverified,
        duplicates: summary.duplicates,
        receipts: summary.receipts,
        status_updates: summary.statusUpdates,
        call_signals: summary.signals.length,
        rejected: summary.rejected.length,
        rejections: summary.rejected,
        receipts_sent: summary.receiptsSent,
        sent: outbox.sent,
        errors: [...summary.errors, ...outbox.errors],
        messages: summary.accepted.map((m) => ({ id: m.id, sender: m.sender, thread_id: m.thread_id }))
      }, null, 2))
    } else {
      const parts = [`${plural(summary.accepted.length, "message")} received`]
      if (summary.unverified > 0) parts.push(`${summary.unverified} UNVERIFIED`)
      parts.push(`${summary.rejected.length} rejected`)
      if (summary.duplicates > 0) parts.push(`${plural(summary.duplicates, "duplicate")} ignored`)
      if (summary.receipts > 0) parts.push(`${plural(summary.receipts, "receipt")} (${summary.statusUpdates} updated)`)
      if (summary.signals.length > 0) parts.push(`${plural(summary.signals.length, "call signal")} (calls are not handled yet)`)
      yield* Console.log(parts.join(", "))
      const reasons = new Map<string, number>()
      for (const r of summary.rejected) reasons.set(r.reason, (reasons.get(r.reason) ?? 0) + 1)
      if (reasons.size > 0) {
        yield* Console.log(`rejected: ${[...reasons].map(([r, n]) => `${n} ${r}`).join(", ")} (see \`skchat quarantine\`)`)
      }
    }
    for (const e of [...summary.errors, ...outbox.errors]) yield* Console.error(`skchat: ${e}`)
  }).pipe(Effect.provide(MailLive))
).pipe(Command.withDescription("poll every configured transport once: take in what arrived, send receipts and what is due"))
