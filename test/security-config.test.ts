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
