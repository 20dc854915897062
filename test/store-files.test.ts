import { statSync } from "node:fs"
import { join } from "node:path"
import { afterEach, beforeEach, expect, it } from "vitest"
import { makeTempHome, runCli, type TempHome } from "./support/temp-home.js"

let t: TempHome
beforeEach(() => {
  t = makeTempHome()
})
afterEach(() => t.remove())

it("the store and its folder are readable by their owner only", async () => {
  const sent = await runCli(["send", "capauth:bob@skworld.io", "private words"], t.env)
  expect(sent.code, sent.stderr).toBe(0)
  const memory = join(t.dataDir, "memory")
  expect(statSync(memory).mode & 0o777).toBe(0o700)
  expect(statSync(join(memory, "skchat.db")).mode & 0o777).toBe(0o600)
})
