import { expect, it } from "vitest"
import { openHistory } from "../src/entrypoints/chat-history.js"
import { useAliceAndBob } from "./support/two-people.js"
import { filesContaining, type TempHome } from "./support/temp-home.js"

/** A word found nowhere else, so a byte scan of both data dirs finds only this message. */
const SECRET = "quetzalmango"

const people = useAliceAndBob()

const open = (t: TempHome) => openHistory({ home: t.home, dataDir: t.dataDir })

/**
 * Ephemeral means gone on both ends of a sealed conversation: the sender's sealed envelope (which its own
 * key can open) and the receiver's opened copy are erased at expiry, and no file keeps the text.
 */
it("a sealed TTL message leaves no readable trace with sender or receiver once expired", async () => {
  const [alice, bob] = [people.alice(), people.bob()]
  const a = await open(alice)
  const b = await open(bob)
  try {
    const sent = await a.sendSealed({ recipient: "capauth:bob@skworld.io", content: `${SECRET} at dawn`, ttl: 3 })
    expect(await a.outboundEnvelope(sent.message.id)).toBe(sent.envelope)
    const [outcome] = await b.receive([sent.envelope])
    expect(outcome).toMatchObject({ status: "accepted", verified: true })
    expect((await b.inbox()).map((m) => m.content)).toEqual([`${SECRET} at dawn`])

    await new Promise((resolve) => setTimeout(resolve, 3_300))
    // Any read sweeps what is due first.
    expect(await b.inbox()).toEqual([])
    expect(await a.conversation("capauth:bob@skworld.io")).toEqual([])
    expect(await a.outboundEnvelope(sent.message.id)).toBeUndefined()
    expect(await b.rejections()).toEqual([])
  } finally {
    await a.close()
    await b.close()
  }
  expect(filesContaining(alice.dataDir, SECRET)).toEqual([])
  expect(filesContaining(bob.dataDir, SECRET)).toEqual([])
})
