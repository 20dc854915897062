// skchat in one run, in a throw-away directory (your own ~/.skchat and ~/.skcapstone are not touched):
// two people make identities, exchange public keys, one seals a message to the other, and the other opens
// it — verified — into their inbox. Every step prints the command it runs.
import { execFileSync } from "node:child_process"
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("..", import.meta.url))
const bin = join(root, "bin", "skchat.cjs")
const scratch = mkdtempSync(join(tmpdir(), "skchat-demo-"))

const person = (name) => {
  const home = join(scratch, name)
  return { name, home, env: { ...process.env, HOME: home, SKCHAT_HOME: join(home, ".skchat"), SKCHAT_IDENTITY: "" } }
}
const alice = person("alice")
const lumina = person("lumina")

const skchat = (who, ...args) => {
  process.stdout.write(`\n[${who.name}] $ skchat ${args.map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(" ")}\n`)
  const out = execFileSync(process.execPath, [bin, ...args], { env: who.env, encoding: "utf8" })
  process.stdout.write(out)
  return out
}

try {
  skchat(alice, "init", "--name", "alice")
  skchat(lumina, "init", "--name", "lumina")

  // Public keys travel by any channel; the fingerprint is what the two compare.
  const aliceKey = join(scratch, "alice.asc")
  const luminaKey = join(scratch, "lumina.asc")
  writeFileSync(aliceKey, execFileSync(process.execPath, [bin, "identity", "export"], { env: alice.env }))
  writeFileSync(luminaKey, execFileSync(process.execPath, [bin, "identity", "export"], { env: lumina.env }))
  process.stdout.write("\n(each exported their public key: skchat identity export > NAME.asc, and sent it over)\n")
  skchat(alice, "peers", "add", "lumina", "--key", luminaKey)
  skchat(lumina, "peers", "add", "alice", "--key", aliceKey)
  skchat(alice, "identity", "fingerprint", "lumina")
  skchat(lumina, "identity", "fingerprint", "alice")

  const sent = JSON.parse(skchat(alice, "send", "lumina", "deploy done", "-t", "ops", "--json"))
  skchat(alice, "history", "lumina")

  // Until transports land, the demo carries the sealed envelope over itself, as a shared folder would.
  const { openHistory } = await import(join(root, "dist", "index.mjs"))
  const withHistory = async (who, f) => {
    const h = await openHistory({ home: who.home, dataDir: who.env.SKCHAT_HOME })
    try {
      return await f(h)
    } finally {
      await h.close()
    }
  }
  const envelope = await withHistory(alice, (h) => h.outboundEnvelope(sent.id))
  const payload = JSON.parse(envelope).payload
  process.stdout.write(`\n(alice's envelope on the wire: encrypted ${payload.encrypted}, content ` +
    `${JSON.stringify(payload.content.slice(0, 36))}...)\n`)
  const [outcome] = await withHistory(lumina, (h) => h.receive([envelope]))
  process.stdout.write(`(lumina opened it: ${outcome.status}, signature verified: ${outcome.verified})\n`)
  skchat(lumina, "inbox")

  const [again] = await withHistory(lumina, (h) => h.receive([envelope]))
  process.stdout.write(`\n(the same envelope again is refused: ${again.status}, ${again.reason})\n`)
  skchat(lumina, "quarantine")
  process.stdout.write(`\nDone. Files were in ${scratch} (removed now).\n`)
} finally {
  rmSync(scratch, { recursive: true, force: true })
}
