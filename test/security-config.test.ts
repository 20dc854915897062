import { appendFileSync } from "node:fs"
import { join } from "node:path"
import { afterEach, beforeEach, expect, it } from "vitest"
import { ConfigError } from "../src/domain/errors.js"
import { openHistory } from "../src/entrypoints/chat-history.js"
import { installIdentity, registerPeer } from "./support/identities.js"
import { makeTempHome, type TempHome } from "./support/temp-home.js"

let alice: TempHome
let bob: TempHome
beforeEach(async () => {
  alice = makeTempHome()
  bob = makeTempHome()
  await installIdentity(alice, "alice")
  await registerPeer(alice, "bob")
  await installIdentity(bob, "bob")
  await registerPeer(bob, "alice")
})
afterEach(() => {
  alice.remove()
  bob.remove()
})

/** A security setting of the wrong kind must stop receiving, not quietly fall back to a default. */
it.each([
  ["max_envelope_bytes", "'1 MB'"],
  ["max_envelope_bytes", "-5"],
  ["accept_unsigned", "yes please"]
])("a bad skchat.security.%s (%s) is a clear error and nothing is stored", async (key, value) => {
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
