import { describe, expect, it } from "vitest"
import { COOLDOWN_MS, FAILURES_BEFORE_COOLDOWN, makeRouter } from "../src/actors/transport-router.js"
import type { OutboundEnvelope, Transport } from "../src/adapters/transport.js"

/** A transport that records what it was given and fails while `down` says so. */
const fake = (name: string, priority: number, down: { value: boolean }) => {
  const sent: Array<string> = []
  const transport: Transport = {
    name,
    priority,
    watchPaths: [],
    send: async (e) => {
      if (down.value) throw new Error(`${name} is down`)
      sent.push(e.envelopeId)
    },
    poll: async () => []
  }
  return { transport, sent }
}

const envelope = (id: string): OutboundEnvelope => ({ envelopeId: id, recipient: "capauth:bob@skworld.io", text: "{}" })

describe("transport routing", () => {
  it("tries transports in priority order and fails over to the next when one fails", async () => {
    const firstDown = { value: false }
    const first = fake("file", 1, firstDown)
    const second = fake("syncthing", 2, { value: false })
    const router = makeRouter([first.transport, second.transport])
    expect(await router.deliver(envelope("a"))).toBe("file")
    firstDown.value = true
    expect(await router.deliver(envelope("b"))).toBe("syncthing")
    expect(first.sent).toEqual(["a"])
    expect(second.sent).toEqual(["b"])
  })

  it("names every failure when no transport takes the envelope", async () => {
    const router = makeRouter([fake("file", 1, { value: true }).transport, fake("syncthing", 2, { value: true }).transport])
    await expect(router.deliver(envelope("x"))).rejects.toThrow("file: file is down; syncthing: syncthing is down")
  })

  it("a transport that keeps failing cools down: tried after the others until the cooldown ends", async () => {
    let now = 1_000_000
    const firstDown = { value: true }
    const first = fake("file", 1, firstDown)
    const second = fake("syncthing", 2, { value: false })
    const attempts: Array<string> = []
    const counting = (t: Transport): Transport => ({ ...t, send: (e) => (attempts.push(t.name), t.send(e)) })
    const router = makeRouter([counting(first.transport), counting(second.transport)], () => now)
    for (let i = 0; i < FAILURES_BEFORE_COOLDOWN; i++) expect(await router.deliver(envelope(`f${i}`))).toBe("syncthing")
    expect(attempts.filter((a) => a === "file")).toHaveLength(FAILURES_BEFORE_COOLDOWN)

    // Cooling down: the healthy transport goes first and the failing one is not even tried.
    attempts.length = 0
    firstDown.value = false
    expect(await router.deliver(envelope("c1"))).toBe("syncthing")
    expect(attempts).toEqual(["syncthing"])

    // Cooled down: back to priority order, and a success resets the count.
    now += COOLDOWN_MS + 1
    attempts.length = 0
    expect(await router.deliver(envelope("c2"))).toBe("file")
    expect(attempts).toEqual(["file"])
  })

  it("a cooling transport is still tried when it is the only one left", async () => {
    let now = 0
    const down = { value: true }
    const only = fake("file", 1, down)
    const router = makeRouter([only.transport], () => now)
    for (let i = 0; i < FAILURES_BEFORE_COOLDOWN; i++) await expect(router.deliver(envelope(`f${i}`))).rejects.toThrow()
    down.value = false
    now += 1
    expect(await router.deliver(envelope("ok"))).toBe("file")
  })

  it("with no transport configured, says how to configure one", async () => {
    await expect(makeRouter([]).deliver(envelope("x"))).rejects.toThrow("skchat.transports")
  })
})
