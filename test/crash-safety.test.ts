/**
 * `kill -9` at any instant loses nothing that was reported stored and leaves no half-written batch:
 * a writer process is killed mid-stream, then the store is opened again and checked.
 */
import { spawn } from "node:child_process"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterEach, beforeEach, expect, it } from "vitest"
import { makeTempHome, repoRoot, runCli, type TempHome } from "./support/temp-home.js"

let t: TempHome
beforeEach(() => {
  t = makeTempHome()
})
afterEach(() => t.remove())

/** A writer that stores batches of 200 messages forever, printing each batch's number once it is committed. */
const writerSource = `
import { openHistory } from ${JSON.stringify(join(repoRoot, "src/index.ts"))}
const history = await openHistory()
for (let batch = 0; ; batch++) {
  for (let i = 0; i < 200; i++) {
    await history.storeMessage({
      id: "b" + batch + "-m" + i,
      sender: "capauth:bob@skworld.io",
      recipient: "capauth:local@skchat",
      content: "batch " + batch + " message " + i,
      timestamp: new Date(Date.UTC(2026, 10, 24) + batch * 1000 + i).toISOString(),
      thread_id: i % 10 === 0 ? "t" + (batch % 3) : undefined
    })
  }
  process.stdout.write("committed " + batch + "\\n")
}
`

it("a writer killed with SIGKILL mid-stream loses no committed message and leaves a whole chain", async () => {
  const script = join(t.home, "writer.mts")
  writeFileSync(script, writerSource)
  const child = spawn(process.execPath, ["--import", "tsx", script], {
    cwd: repoRoot,
    env: t.env,
    stdio: ["ignore", "pipe", "pipe"]
  })
  let out = ""
  let err = ""
  child.stdout.on("data", (d: Buffer) => (out += d.toString()))
  child.stderr.on("data", (d: Buffer) => (err += d.toString()))
  // Kill it some time after a few batches are in, wherever it happens to be.
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`writer never committed 3 batches: ${err}`)), 50_000)
    child.stdout.on("data", () => {
      if ((out.match(/committed/g) ?? []).length >= 3) {
        clearTimeout(timer)
        setTimeout(() => {
          child.kill("SIGKILL")
          resolve()
        }, 37)
      }
    })
  })
  await new Promise((resolve) => child.once("exit", resolve))

  const committed = [...out.matchAll(/committed (\d+)/g)].map((m) => Number(m[1]))
  const lastCommitted = Math.max(...committed)
  expect(lastCommitted).toBeGreaterThanOrEqual(2)

  // The chain is whole and the projections agree with it.
  const verify = await runCli(["admin", "verify"], t.env)
  expect(verify.code, verify.stderr).toBe(0)

  // Every message reported stored is there, exactly once (each message is its own transaction here, so
  // whatever was in flight is either wholly there or wholly absent).
  const inbox = await runCli(["inbox", "--json", "-n", "100000"], t.env)
  expect(inbox.code, inbox.stderr).toBe(0)
  const ids = (JSON.parse(inbox.stdout) as Array<{ id: string }>).map((m) => m.id)
  const present = new Set(ids)
  expect(present.size).toBe(ids.length)
  const missing: Array<string> = []
  for (let batch = 0; batch <= lastCommitted; batch++) {
    for (let i = 0; i < 200; i++) if (!present.has(`b${batch}-m${i}`)) missing.push(`b${batch}-m${i}`)
  }
  expect(missing).toEqual([])
  const stored = ids.length
  expect(stored).toBeGreaterThanOrEqual((lastCommitted + 1) * 200)

  // A rebuild from the log reproduces what the live projections showed (the first listing marked them read).
  const shown = await runCli(["inbox", "--json", "-n", "100000"], t.env)
  expect((await runCli(["admin", "rebuild"], t.env)).code).toBe(0)
  const again = await runCli(["inbox", "--json", "-n", "100000"], t.env)
  expect(again.stdout).toBe(shown.stdout)
})
