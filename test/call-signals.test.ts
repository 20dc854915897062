import { Effect, ManagedRuntime } from "effect"
import { randomUUID } from "node:crypto"
import { existsSync, readdirSync } from "node:fs"
import { afterEach, describe, expect, it } from "vitest"
import { Courier } from "../src/actors/courier.js"
import { sealCallSignal } from "../src/adapters/envelope-codec.js"
import type { CallSignal } from "../src/domain/call-signal.js"
import { openHistory } from "../src/entrypoints/chat-history.js"
import { storeLayers } from "../src/entrypoints/store-layers.js"
import { installIdentity, ownKeyOf, peerKeyOf, registerPeer } from "./support/identities.js"
import { makeChattingPair } from "./support/shared-folder.js"
import { makeTempHome, runCli, type TempHome } from "./support/temp-home.js"

/**
 * Call signals (issue #6) as sealed envelopes: a signal from a registered peer, for us, within its lifetime is
 * handed on (and not logged); a forged, misaddressed, expired or tampered one is refused for its reason and
 * recorded like any refused envelope. Real keys, real stores, through the library's receive.
 */

const uriOf = (name: string) => `capauth:${name}@skworld.io`
const homes: Array<TempHome> = []
afterEach(() => {
  for (const h of homes.splice(0)) h.remove()
})

const person = async (name: string, knows: ReadonlyArray<string>) => {
  const home = makeTempHome()
  homes.push(home)
  await installIdentity(home, name, uriOf(name))
  for (const peer of knows) await registerPeer(home, peer, uriOf(peer))
  return home
}

/** A signal sealed by `signer`'s key, claiming to come from `from`, encrypted to `to`'s key, addressed to `addressee`. */
const signal = async (options: {
  readonly signer: string
  readonly from?: string
  readonly to: string
  readonly addressee?: string
  readonly signal?: CallSignal
  readonly at?: number
}) =>
  (await sealCallSignal({
    from: uriOf(options.from ?? options.signer),
    to: uriOf(options.addressee ?? options.to),
    callId: "call-42",
    signal: options.signal ?? { kind: "offer", sdp: "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n" },
    at: options.at ?? Date.now()
  }, await ownKeyOf(options.signer), await peerKeyOf(options.to), randomUUID())).text

const receiveAsBob = async (bob: TempHome, envelope: string) => {
  const h = await openHistory({ home: bob.home, dataDir: bob.dataDir })
  try {
    const [outcome] = await h.receive([envelope])
    return { outcome: outcome!, inbox: await h.inbox(), rejections: await h.rejections() }
  } finally {
    await h.close()
  }
}

describe("call signals", () => {
  it("a registered peer's signal for us is handed on, whole, and nothing is stored", async () => {
    await person("alice", ["bob"])
    const bob = await person("bob", ["alice"])
    for (const s of [
      { kind: "offer", sdp: "v=0\r\n" },
      { kind: "answer", sdp: "v=0\r\n" },
      { kind: "candidate", candidate: "a=candidate:1 1 UDP 2114977791 127.0.0.1 45788 typ host", mid: "0" },
      { kind: "hangup", reason: null }
    ] as const) {
      const got = await receiveAsBob(bob, await signal({ signer: "alice", to: "bob", signal: s }))
      expect(got.outcome).toMatchObject({ status: "signal", from: uriOf("alice"), callId: "call-42", signal: s })
      expect(got.inbox).toEqual([])
      expect(got.rejections).toEqual([])
    }
  })

  it.each([
    ["forged: signed by mallory, claiming alice", { signer: "mallory", from: "alice", to: "bob" }, "forged_sender"],
    ["misaddressed: for carol's key", { signer: "alice", to: "carol" }, "not_for_us"],
    ["misaddressed: bob's key, but addressed to carol", { signer: "alice", to: "bob", addressee: "carol" }, "forwarded"],
    ["stale: sealed two minutes ago", { signer: "alice", to: "bob", at: Date.now() - 120_000 }, "expired"]
  ] as const)("%s is refused and recorded", async (_, options, reason) => {
    await person("alice", ["bob", "carol"])
    const bob = await person("bob", ["alice"])
    const got = await receiveAsBob(bob, await signal(options))
    expect(got.outcome).toMatchObject({ status: "rejected", reason })
    expect(got.rejections.map((r) => r.reason)).toEqual(reason === "expired" ? ["expired"] : [reason])
    expect(got.inbox).toEqual([])
  })

  it("a signal whose header was changed in transit is refused", async () => {
    await person("alice", ["bob"])
    const bob = await person("bob", ["alice"])
    const envelope = JSON.parse(await signal({ signer: "alice", to: "bob" })) as { envelope_id: string }
    envelope.envelope_id = randomUUID()
    const got = await receiveAsBob(bob, JSON.stringify(envelope))
    expect(got.outcome).toMatchObject({ status: "rejected", reason: "header_mismatch" })
  })
})

describe("call signals over a transport", () => {
  it("go out through the router and are taken in, counted and consumed by `skchat receive`", async () => {
    const pair = await makeChattingPair()
    try {
      const alice = ManagedRuntime.make(storeLayers(pair.alice.env).mail)
      try {
        const transport = await alice.runPromise(Effect.flatMap(Courier, (c) =>
          c.sendSignal(pair.bob.uri, "call-7", { kind: "offer", sdp: "v=0\r\n" })))
        expect(transport).toBe("file")
        // An unknown peer is refused before anything is sealed.
        const refused = await alice.runPromise(Effect.flip(Effect.flatMap(Courier, (c) =>
          c.sendSignal("capauth:nobody@skworld.io", "call-8", { kind: "hangup", reason: null }))))
        expect(refused.message).toMatch(/no usable public key for capauth:nobody@skworld\.io/)
      } finally {
        await alice.dispose()
      }
      expect(readdirSync(pair.bob.inbox).filter((n) => n.endsWith(".skc.json"))).toHaveLength(1)
      const r = await runCli(["receive", "--json"], pair.bob.env)
      expect(r.code, r.stderr).toBe(0)
      expect(JSON.parse(r.stdout)).toMatchObject({ received: 0, rejected: 0, call_signals: 1 })
      // Consumed (deleted, not archived): a signal is worth nothing after its minute.
      expect(readdirSync(pair.bob.inbox).filter((n) => n.endsWith(".skc.json"))).toEqual([])
      expect(existsSync(pair.bob.archive) ? readdirSync(pair.bob.archive) : []).toEqual([])
      const inbox = await runCli(["inbox", "--json"], pair.bob.env)
      expect(JSON.parse(inbox.stdout)).toEqual([])
    } finally {
      pair.remove()
    }
  })
})

