import { execFile } from "node:child_process"
import { readdirSync } from "node:fs"
import { afterEach, beforeEach, expect, it } from "vitest"
import { cliBin, makeTempHome, type TempHome } from "./support/temp-home.js"

let t: TempHome
beforeEach(() => {
  t = makeTempHome()
})
afterEach(() => t.remove())

const section = (stdout: string, command: string) => {
  const start = stdout.indexOf(command)
  const end = stdout.indexOf("\n[", start + command.length)
  return stdout.slice(start, end < 0 ? undefined : end)
}

/** The README's first command ends in `npm run demo` (= `skchat demo`): it must show the whole product working. */
it("skchat demo: two people chat both ways through the file transport, receipts flow back, a forgery is refused", async () => {
  const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
    execFile(process.execPath, [cliBin, "demo"], {
      // TMPDIR inside the temp home: the demo's scratch directory is created (and removed) there.
      env: { ...t.env, TMPDIR: t.home },
      timeout: 90_000
    }, (error, out, err) =>
      resolve({ code: error === null ? 0 : Number(error.code ?? 1), stdout: String(out), stderr: String(err) }))
  )
  expect(code, stderr).toBe(0)
  expect(stderr).toBe("")
  expect(stdout).toContain("[alice] $ skchat init --name alice")
  // The two printed safety numbers are the same 60 digits.
  const numbers = [...stdout.matchAll(/safety number with \w+:\n\s+([\d ]+)\n/g)].map((m) => m[1])
  expect(numbers).toHaveLength(2)
  expect(numbers[0]).toBe(numbers[1])
  expect(stdout).toMatch(/encrypted: true, content "-----BEGIN PGP MESSAGE-----"/)
  expect(section(stdout, "[lumina] $ skchat receive")).toContain("2 messages received, 0 rejected")
  const inbox = section(stdout, "[lumina] $ skchat inbox")
  expect(inbox).toMatch(/← capauth:alice@skworld\.io\s+delivered\s+ops\s+\S+\s+deploy done/)
  expect(inbox).toMatch(/← capauth:alice@skworld\.io\s+delivered ⏱\s+\S+\s+the staging password/)
  expect(inbox).not.toContain("UNVERIFIED")
  // Lumina's signed receipts came back: alice sees both messages read.
  const history = section(stdout, "[alice] $ skchat history lumina\nTIME")
  expect(stdout).toContain("1 message received, 0 rejected, 2 receipts (4 updated)")
  const aliceHistory = stdout.slice(stdout.lastIndexOf("[alice] $ skchat history lumina"))
  expect(section(aliceHistory, "[alice] $ skchat history lumina")).toMatch(/→ capauth:lumina@skworld\.io\s+read\s+ops\s+\S+\s+deploy done/)
  expect(section(aliceHistory, "[alice] $ skchat history lumina")).toMatch(/← capauth:lumina@skworld\.io\s+delivered\s+ops\s+\S+\s+thanks/)
  expect(history).toContain("sent")
  expect(section(stdout, "[alice] $ skchat threads")).toMatch(/ops\s+ops\s+2\s/)
  // The forged envelope is refused and quarantined, never shown.
  expect(stdout).toContain("0 messages received, 1 rejected\nrejected: 1 header_mismatch")
  expect(section(stdout, "[lumina] $ skchat quarantine")).toContain("header_mismatch")
  // Nothing is left behind in the temp dir.
  expect(readdirSync(t.home).filter((f) => f.startsWith("skchat-demo-"))).toEqual([])
})
