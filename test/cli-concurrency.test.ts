import { makeCliHome } from "./support/identities.js"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { type CliResult, runCli, type TempHome } from "./support/temp-home.js"

/**
 * Several CLI processes writing one store at once: every message stored exactly once, and the user
 * never sees SQLITE_BUSY. The first wave runs against a store that does not exist yet, so the
 * processes also race to create the database and run its migrations.
 */

const UUID7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
const PEER = "capauth:crowd@example.org"

let t: TempHome

beforeEach(async () => {
  t = await makeCliHome([PEER])
})

afterEach(() => {
  t.remove()
})

const expectClean = (r: CliResult, what: string) => {
  expect(r.stderr, what).not.toMatch(/BUSY/i)
  expect(r.stderr, what).not.toMatch(/locked/i)
  expect(r.stderr, what).not.toContain("    at ")
  expect(r.code, `${what}: ${r.stderr}`).toBe(0)
}

const wave = async (label: string, n: number): Promise<Array<string>> => {
  const results = await Promise.all(
    Array.from({ length: n }, (_, i) => runCli(["send", PEER, `${label} message ${i}`, "-t", "crowd"], t.env))
  )
  return results.map((r, i) => {
    expectClean(r, `${label} #${i}`)
    const id = r.stdout.trim()
    expect(id).toMatch(UUID7)
    return id
  })
}

describe("concurrent writers", () => {
  it("8 sends on a fresh store, then 8 on the existing one: every message stored exactly once", async () => {
    const first = await wave("fresh", 8)
    const second = await wave("existing", 8)
    const printed = [...first, ...second]
    expect(new Set(printed).size).toBe(16)

    const history = await runCli(["history", PEER, "-n", "100", "--json"], t.env)
    expectClean(history, "history")
    const rows = JSON.parse(history.stdout) as Array<{ id: string; content: string }>
    expect(rows).toHaveLength(16)
    expect(new Set(rows.map((r) => r.id)).size).toBe(16)
    expect(new Set(rows.map((r) => r.id))).toEqual(new Set(printed))
    expect(new Set(rows.map((r) => r.content))).toEqual(
      new Set([
        ...Array.from({ length: 8 }, (_, i) => `fresh message ${i}`),
        ...Array.from({ length: 8 }, (_, i) => `existing message ${i}`)
      ])
    )

    const threads = await runCli(["threads", "--json"], t.env)
    expectClean(threads, "threads")
    const crowd = (JSON.parse(threads.stdout) as Array<{ id: string; message_count: number }>).find((x) =>
      x.id === "crowd"
    )
    expect(crowd?.message_count).toBe(16)

    const search = await runCli(["search", "message", "-n", "100", "--json"], t.env)
    expectClean(search, "search")
    expect(JSON.parse(search.stdout)).toHaveLength(16)

    const verify = await runCli(["admin", "verify"], t.env)
    expectClean(verify, "admin verify")
    expect(verify.stdout).toMatch(/^ok/)
  })

  it("readers and writers together: no reader or writer fails", async () => {
    await wave("seed", 1)
    const jobs: Array<Promise<CliResult>> = []
    for (let i = 0; i < 6; i++) {
      jobs.push(runCli(["send", PEER, `mixed message ${i}`], t.env))
      jobs.push(runCli(i % 2 === 0 ? ["history", PEER, "--json"] : ["search", "mixed", "--json"], t.env))
    }
    const results = await Promise.all(jobs)
    results.forEach((r, i) => expectClean(r, `job ${i}`))
    for (const r of results.filter((_, i) => i % 2 === 1)) {
      expect(Array.isArray(JSON.parse(r.stdout))).toBe(true)
    }
    const history = await runCli(["history", PEER, "-n", "100", "--json"], t.env)
    expectClean(history, "history")
    expect(JSON.parse(history.stdout)).toHaveLength(7)
    const rebuild = await runCli(["admin", "rebuild"], t.env)
    expectClean(rebuild, "rebuild")
    const verify = await runCli(["admin", "verify"], t.env)
    expectClean(verify, "verify")
  })
})
