import { execFile } from "node:child_process"
import { afterEach, beforeEach, expect, it } from "vitest"
import { join } from "node:path"
import { makeTempHome, repoRoot, type TempHome } from "./support/temp-home.js"

let t: TempHome
beforeEach(() => {
  t = makeTempHome()
})
afterEach(() => t.remove())

/** The README's first command ends in `npm run demo`: it must show the whole product working. */
it("the demo makes two identities, seals a message from one to the other and shows it verified", async () => {
  const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
    execFile(process.execPath, [join(repoRoot, "scripts", "demo.mjs")], {
      // TMPDIR inside the temp home: the demo's scratch directory is created (and removed) there.
      env: { ...t.env, TMPDIR: t.home },
      timeout: 60_000
    }, (error, out, err) =>
      resolve({ code: error === null ? 0 : Number(error.code ?? 1), stdout: String(out), stderr: String(err) }))
  )
  expect(code, stderr).toBe(0)
  expect(stdout).toContain("[alice] $ skchat init --name alice")
  expect(stdout).toContain("(lumina opened it: accepted, signature verified: true)")
  const inbox = stdout.slice(stdout.indexOf("[lumina] $ skchat inbox"))
  expect(inbox).toMatch(/← capauth:alice@skworld\.io\s+delivered\s+ops\s+\S+\s+deploy done/)
  expect(stdout).toContain("(the same envelope again is refused: rejected, replay)")
  // The two printed safety numbers are the same 60 digits.
  const numbers = [...stdout.matchAll(/safety number with \w+:\n\s+([\d ]+)\n/g)].map((m) => m[1])
  expect(numbers).toHaveLength(2)
  expect(numbers[0]).toBe(numbers[1])
})
