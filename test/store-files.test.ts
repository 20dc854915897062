import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { makeCliHome } from "./support/identities.js"
import { afterEach, beforeEach, expect, it } from "vitest"
import { runCli, type TempHome } from "./support/temp-home.js"

let t: TempHome
beforeEach(async () => {
  t = await makeCliHome()
})
afterEach(() => t.remove())

it("the store and its folder are readable by their owner only", async () => {
  const sent = await runCli(["send", "capauth:bob@skworld.io", "private words"], t.env)
  expect(sent.code, sent.stderr).toBe(0)
  const memory = join(t.dataDir, "memory")
  expect(statSync(memory).mode & 0o777).toBe(0o700)
  expect(statSync(join(memory, "skchat.db")).mode & 0o777).toBe(0o600)
})

it("a store file that is not a database is reported in one line and left untouched", async () => {
  const memory = join(t.dataDir, "memory")
  mkdirSync(memory, { recursive: true })
  const junk = Buffer.from("this is not an SQLite database ".repeat(200))
  writeFileSync(join(memory, "skchat.db"), junk)
  const r = await runCli(["inbox"], t.env)
  expect(r.code).not.toBe(0)
  expect(r.stderr.trim().split("\n")).toHaveLength(1)
  expect(r.stderr).toMatch(/^skchat: cannot open the store .*not a database/)
  expect(r.stderr).not.toContain("    at ")
  expect(readFileSync(join(memory, "skchat.db")).equals(junk)).toBe(true)
})
