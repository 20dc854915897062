import { spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { afterEach, beforeEach, expect, it } from "vitest"
import { cliBin, makeTempHome, type TempHome } from "./support/temp-home.js"

let t: TempHome
beforeEach(() => {
  t = makeTempHome()
})
afterEach(() => t.remove())

const shellQuote = (s: string) => `'${s.replace(/'/g, "'\\''")}'`

/**
 * Runs the CLI on a real pseudo-terminal (util-linux `script`), answering each prompt when it appears
 * (`answers`: prompt text → what to type). Returns everything the terminal showed and the exit code.
 */
const onTerminal = (args: ReadonlyArray<string>, answers: ReadonlyArray<readonly [string, string]>) =>
  new Promise<{ code: number; screen: string }>((resolve, reject) => {
    const command = [process.execPath, cliBin, ...args].map(shellQuote).join(" ")
    const child = spawn("script", ["-qfec", command, "/dev/null"], { env: t.env, stdio: ["pipe", "pipe", "pipe"] })
    let screen = ""
    const pending = [...answers]
    const onOutput = (chunk: Buffer) => {
      screen += chunk.toString("utf8")
      const next = pending[0]
      if (next !== undefined && screen.includes(next[0])) {
        pending.shift()
        child.stdin.write(`${next[1]}\r`)
      }
    }
    child.stdout.on("data", onOutput)
    child.stderr.on("data", onOutput)
    child.on("error", reject)
    child.on("close", (code) => resolve({ code: code ?? 1, screen }))
  })

const record = () =>
  JSON.parse(readFileSync(join(t.dataDir, "identity", "identity.json"), "utf8")) as { passphrase_protected: boolean }

it("on a terminal, init asks for a passphrase twice without echoing it, and a send asks for it again", async () => {
  const init = await onTerminal(["init", "--name", "tty"], [
    ["Passphrase for the new key", "hunter22"],
    ["Repeat the passphrase", "hunter22"]
  ])
  expect(init.code, init.screen).toBe(0)
  expect(init.screen).toContain("passphrase-protected")
  expect(init.screen).not.toContain("hunter22")
  expect(record().passphrase_protected).toBe(true)

  const sent = await onTerminal(["send", "capauth:x@example.org", "typed on a terminal", "--plaintext"], [
    ["Passphrase for your skchat key", "hunter22"]
  ])
  expect(sent.code, sent.screen).toBe(0)
  expect(sent.screen).toMatch(/[0-9a-f]{8}-[0-9a-f]{4}-7/)
  expect(sent.screen).not.toContain("hunter22")

  const wrong = await onTerminal(["send", "capauth:x@example.org", "never stored", "--plaintext"], [
    ["Passphrase for your skchat key", "not-it"]
  ])
  expect(wrong.code).toBe(1)
  expect(wrong.screen).toContain("skchat: wrong passphrase")
})

it("on a terminal, two different answers refuse to create the key", async () => {
  const init = await onTerminal(["init", "--name", "tty"], [
    ["Passphrase for the new key", "one thing"],
    ["Repeat the passphrase", "another"]
  ])
  expect(init.code).toBe(1)
  expect(init.screen).toContain("skchat: the two passphrases differ")
})

it("on a terminal, an empty answer makes a key without a passphrase", async () => {
  const init = await onTerminal(["init", "--name", "tty"], [["Passphrase for the new key", ""]])
  expect(init.code, init.screen).toBe(0)
  expect(record().passphrase_protected).toBe(false)
})
