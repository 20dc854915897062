import { appendFileSync } from "node:fs"
import { join } from "node:path"
import { expect, it } from "vitest"
import { ConfigError } from "../src/domain/errors.js"
import { openHistory } from "../src/entrypoints/chat-history.js"
import { useAliceAndBob } from "./support/two-people.js"

const people = useAliceAndBob()

/** A security setting of the wrong kind must stop receiving, not quietly fall back to a default. */
it.each([
  ["max_envelope_bytes", "'1 MB'"],
  ["max_envelope_bytes", "-5"],
  ["accept_unsigned", "yes please"]
])("a bad skchat.security.%s (%s) is a clear error and nothing is stored", async (key, value) => {
  const [alice, bob] = [people.alice(), people.bob()]
  const a = await openHistory({ home: alice.home, dataDir: alice.dataDir })
  const sent = await a.sendSealed({ recipient: "capauth:bob@skworld.io", content: "hello" }).finally(() => a.close())
  // installIdentity wrote `skchat:\n  identity:\n    uri: ...`; the setting goes under the same `skchat:`.
  appendFileSync(join(bob.dataDir, "config.yml"), `  security:\n    ${key}: ${value}\n`)
  const b = await openHistory({ home: bob.home, dataDir: bob.dataDir })
  try {
    const error = await b.receive([sent.envelope]).then(() => undefined, (e: unknown) => e)
    expect(error).toBeInstanceOf(ConfigError)
    expect((error as ConfigError).message).toContain(`skchat.security.${key}`)
    expect(await b.inbox()).toEqual([])
    expect(await b.rejections()).toEqual([])
  } finally {
    await b.close()
  }
})

/**
 * A message too large for the envelope size limit would be refused by the peer: it is refused here, before it
 * is stored, with the setting named — whether the text alone is over the limit or only its sealed envelope.
 */
it.each([
  ["text alone", 5000, "its text alone is 5000 bytes"],
  ["sealed envelope", 2500, "its sealed envelope would be"]
])("a message whose %s is over max_envelope_bytes is refused before it is stored", async (_, length, said) => {
  const alice = people.alice()
  appendFileSync(join(alice.dataDir, "config.yml"), "  security:\n    max_envelope_bytes: 4000\n")
  const a = await openHistory({ home: alice.home, dataDir: alice.dataDir })
  try {
    const error = await a.send({ recipient: "capauth:bob@skworld.io", content: "x".repeat(length) })
      .then(() => undefined, (e: unknown) => e)
    expect((error as Error).message).toMatch(/^the message is too large: /)
    expect((error as Error).message).toContain(`${said}`)
    expect((error as Error).message).toMatch(/bytes, over the 4000-byte limit/)
    expect((error as Error).message).toContain("skchat.security.max_envelope_bytes")
    expect(await a.conversation("capauth:bob@skworld.io")).toEqual([])
    // A message that fits still goes.
    const sent = await a.send({ recipient: "capauth:bob@skworld.io", content: "short" })
    expect((await a.conversation("capauth:bob@skworld.io")).map((m) => m.id)).toEqual([sent.id])
  } finally {
    await a.close()
  }
})
