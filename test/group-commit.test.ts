import { expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { describe } from "vitest"
import { ChatSystem } from "../src/actors/chat-system.js"
import { useTempStore } from "./support/temp-store.js"

const ME = "capauth:me@skworld.io"
const CAROL = "capauth:carol@skworld.io"
const BOB = "capauth:bob@skworld.io"

const store = useTempStore(ME)

describe("sends in flight together are committed together", () => {
  it.effect("24 concurrent sends: each stored once, each peer pinned once, the chain whole", () =>
    Effect.gen(function*() {
      const chat = yield* ChatSystem
      const results = yield* Effect.forEach(Array.from({ length: 24 }, (_, i) => i), (i) =>
        chat.send({ recipient: i % 2 === 0 ? CAROL : BOB, content: `burst ${i}` }), { concurrency: "unbounded" })
      expect(new Set(results.map((r) => r.message.id)).size).toBe(24)
      const counts = store.withRaw((db) =>
        db.prepare("SELECT type, count(*) AS n FROM events GROUP BY type ORDER BY type").all()
      ) as Array<{ type: string; n: number }>
      // First use pins each new peer once, even though every send in the burst saw it unpinned.
      expect(counts).toEqual([{ type: "MessageComposed", n: 24 }, { type: "PeerAdded", n: 2 }])
      expect(store.withRaw((db) => db.prepare("SELECT count(*) FROM outbound_envelopes").pluck().get())).toBe(24)
      expect(yield* chat.verify()).toBe(26)
    }).pipe(Effect.provide(store.layer())))

  it.effect("a send that fails at commit (its peer's key pinned otherwise meanwhile) fails alone", () =>
    Effect.gen(function*() {
      const chat = yield* ChatSystem
      yield* chat.send({ recipient: BOB, content: "warm-up: key unlocked, bob pinned" })
      const toCarol = yield* Effect.fork(chat.send({ recipient: CAROL, content: "carol, first contact" }))
      const toBob = yield* Effect.fork(chat.send({ recipient: BOB, content: "bob, in the same burst" }))
      // Both have looked carol's and bob's keys up; neither has finished sealing (that takes milliseconds).
      for (let i = 0; i < 20; i++) yield* Effect.yieldNow()
      // Meanwhile carol's URI gets pinned to another key (as another process could do).
      yield* chat.addPeer({ uri: CAROL, name: "carol", fingerprint: "ab".repeat(20) })
      const carol = yield* Effect.either(Fiber.join(toCarol))
      const bob = yield* Fiber.join(toBob)
      expect(carol._tag === "Left" && carol.left._tag).toBe("KeyChanged")
      const stored = store.withRaw((db) =>
        db.prepare("SELECT data ->> '$.message.body.text' FROM events WHERE type = 'MessageComposed' ORDER BY seq")
          .pluck().all())
      expect(stored).toEqual(["warm-up: key unlocked, bob pinned", "bob, in the same burst"])
      expect(bob.message.content).toBe("bob, in the same burst")
      expect(yield* chat.verify()).toBeGreaterThan(0)
    }).pipe(Effect.provide(store.layer())))
})
