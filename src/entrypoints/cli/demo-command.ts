import { Command } from "@effect/cli"
import { Effect } from "effect"
import { execFileSync } from "node:child_process"
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { writeConfigValue } from "../../adapters/config-file.js"

interface Person {
  readonly name: string
  readonly home: string
  readonly env: NodeJS.ProcessEnv
}

/**
 * The whole product in one run, for a newcomer, in a throw-away directory (their own ~/.skchat and
 * ~/.skcapstone are never touched): two people make identities, swap public keys and compare safety
 * numbers, point a file transport at a shared folder, and chat both ways — a threaded message, a TTL
 * message, a reply — with delivery and read receipts flowing back; a forged envelope is refused. Every
 * step is a real `skchat` command, printed before it runs.
 */
const runDemo = () => {
  const scratch = mkdtempSync(join(tmpdir(), "skchat-demo-"))
  const bin = process.argv[1]!
  const person = (name: string): Person => {
    const home = join(scratch, name)
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, SKCHAT_HOME: join(home, ".skchat"), SKCHAT_PASSPHRASE: "" }
    delete env["SKCHAT_IDENTITY"]
    delete env["SKCHAT_INSPECT"]
    return { name, home, env }
  }
  const say = (text: string) => process.stdout.write(`\n${text}\n`)
  const skchat = (who: Person, ...args: ReadonlyArray<string>): string => {
    process.stdout.write(`\n[${who.name}] $ skchat ${args.map((a) => (/[\s"]/.test(a) ? JSON.stringify(a) : a)).join(" ")}\n`)
    const out = execFileSync(process.execPath, [bin, ...args], {
      env: { ...who.env, COLUMNS: process.env["COLUMNS"] ?? "160" },
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"]
    })
    process.stdout.write(out)
    return out
  }
  const alice = person("alice")
  const lumina = person("lumina")
  const shared = join(scratch, "shared")
  const toLumina = join(shared, "alice-to-lumina")
  const toAlice = join(shared, "lumina-to-alice")
  return { scratch, shared, alice, lumina, toLumina, toAlice, say, skchat }
}

const transportSettings = (inbox: string, outbox: string) => ({
  enabled: true,
  priority: 1,
  settings: { inbox_path: inbox, outbox_path: outbox, archive: true }
})

export const demoCommand = Command.make("demo", {}, () =>
  Effect.gen(function*() {
    const { alice, lumina, say, scratch, shared, skchat, toAlice, toLumina } = runDemo()
    try {
      say(`skchat demo: two people chat through a shared folder, in ${scratch} (removed at the end).`)
      skchat(alice, "init", "--name", "alice")
      skchat(lumina, "init", "--name", "lumina")

      // Public keys travel by any channel; the safety number is what the two compare.
      const aliceKey = join(scratch, "alice.asc")
      const luminaKey = join(scratch, "lumina.asc")
      writeFileSync(aliceKey, execFileSync(process.execPath, [process.argv[1]!, "identity", "export"], { env: alice.env }))
      writeFileSync(luminaKey, execFileSync(process.execPath, [process.argv[1]!, "identity", "export"], { env: lumina.env }))
      say("(each exported their public key with `skchat identity export > NAME.asc` and sent it to the other)")
      skchat(alice, "peers", "add", "lumina", "--key", luminaKey)
      skchat(lumina, "peers", "add", "alice", "--key", aliceKey)
      skchat(alice, "identity", "fingerprint", "lumina")
      skchat(lumina, "identity", "fingerprint", "alice")

      // A shared folder (Syncthing, NFS, ...) where one side's outbox is the other side's inbox.
      mkdirSync(toLumina, { recursive: true })
      mkdirSync(toAlice, { recursive: true })
      yield* writeConfigValue(join(alice.home, ".skchat", "config.yml"), ["transports", "file"],
        transportSettings(toAlice, toLumina))
      yield* writeConfigValue(join(lumina.home, ".skchat", "config.yml"), ["transports", "file"],
        transportSettings(toLumina, toAlice))
      say(`(both point a file transport at ${shared} in ~/.skchat/config.yml:\n` +
        `   skchat:\n     transports:\n       file:\n         settings: { inbox_path: ..., outbox_path: ... }\n` +
        ` alice's outbox is lumina's inbox and the other way round)`)

      const sent = JSON.parse(skchat(alice, "send", "lumina", "deploy done", "-t", "ops", "--json")) as {
        envelope_id: string
      }
      skchat(alice, "send", "lumina", "the staging password is hunter2 (gone in 60 s)", "--ttl", "60")
      const wire = JSON.parse(readFileSync(join(toLumina, `${sent.envelope_id}.skc.json`), "utf8")) as {
        payload: { encrypted: boolean; content: string }
      }
      say(`(on the wire, in ${toLumina}: ${sent.envelope_id}.skc.json — encrypted: ${wire.payload.encrypted}, ` +
        `content ${JSON.stringify(wire.payload.content.slice(0, 27))}...)`)
      skchat(alice, "history", "lumina")

      skchat(lumina, "receive")
      skchat(lumina, "inbox")
      skchat(lumina, "send", "alice", "thanks, checking the dashboards", "-t", "ops")

      say("(alice's receive brings lumina's reply, and lumina's signed delivery and read receipts)")
      skchat(alice, "receive")
      skchat(alice, "history", "lumina")
      skchat(alice, "threads")
      skchat(lumina, "receive")
      skchat(lumina, "history", "alice")

      // Someone with access to the shared folder edits an envelope's header: refused, quarantined, not shown.
      const archived = readdirSync(join(shared, "archive")).find((f) => f.endsWith(".skc.json"))
      if (archived !== undefined) {
        const forged = JSON.parse(readFileSync(join(shared, "archive", archived), "utf8")) as {
          envelope_id: string
          metadata: { thread_id: string | null }
        }
        forged.envelope_id = `${forged.envelope_id.slice(0, -4)}beef`
        forged.metadata.thread_id = "payroll"
        writeFileSync(join(toLumina, `${forged.envelope_id}.skc.json`), JSON.stringify(forged, null, 2))
        say("(mallory copies an envelope into lumina's inbox with its header edited)")
        skchat(lumina, "receive")
        skchat(lumina, "quarantine")
      }
      say("Done: encrypted, signed, delivered, read — and the forgery refused. Next: `skchat daemon start` keeps an " +
        "inbox current in the background; `skchat watch` shows messages live.")
    } finally {
      rmSync(scratch, { recursive: true, force: true })
    }
  })
).pipe(Command.withDescription("see skchat work in one run: two people chat through a shared folder (in a temp dir)"))
