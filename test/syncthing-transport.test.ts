import { appendFileSync, mkdtempSync, readdirSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, beforeEach, expect, it } from "vitest"
import { waitFor } from "./support/cli-wait.js"
import { installIdentity, registerPeer } from "./support/identities.js"
import { startSyncthingPair, type SyncthingPair, syncthingAvailable } from "./support/syncthing.js"
import { makeTempHome, runCli, type TempHome } from "./support/temp-home.js"

/**
 * Two skchat users whose `syncthing` transports point at the two ends of one real Syncthing share (two
 * Syncthing instances on 127.0.0.1): a message and its receipts cross over Syncthing, in SKComm's layout.
 */

let root: string
let pair: SyncthingPair | undefined
let alice: TempHome
let bob: TempHome

const syncthingConfig = (uri: string, rootDir: string) =>
  `skchat:\n  identity:\n    uri: ${uri}\n  transports:\n    syncthing:\n      enabled: true\n      priority: 1\n` +
  `      settings:\n        root: ${rootDir}\n`

beforeEach(async () => {
  expect(syncthingAvailable(), "syncthing is not on PATH: install it (apt-get install -y syncthing); .ci/run does")
    .toBe(true)
  root = mkdtempSync(join(tmpdir(), "skchat-syncthing-"))
  pair = await startSyncthingPair(root)
  alice = makeTempHome()
  bob = makeTempHome()
  await installIdentity(alice, "alice", "capauth:alice@skworld.io", { writeConfig: false })
  await registerPeer(alice, "bob")
  await installIdentity(bob, "bob", "capauth:bob@skworld.io", { writeConfig: false })
  await registerPeer(bob, "alice")
  appendFileSync(join(alice.dataDir, "config.yml"), syncthingConfig("capauth:alice@skworld.io", pair.dirA))
  appendFileSync(join(bob.dataDir, "config.yml"), syncthingConfig("capauth:bob@skworld.io", pair.dirB))
}, 90_000)

afterEach(async () => {
  await pair?.stop()
  pair = undefined
  alice.remove()
  bob.remove()
  rmSync(root, { recursive: true, force: true })
})

const receiveJson = async (who: TempHome) => {
  const r = await runCli(["receive", "--json"], who.env)
  expect(r.code, r.stderr).toBe(0)
  return JSON.parse(r.stdout) as { received: number; receipts: number; status_updates: number; rejected: number }
}

it("a message goes from alice to bob over a real Syncthing share, and bob's delivery receipt comes back", async () => {
  const sent = await runCli(["send", "bob", "synced over syncthing", "--json"], alice.env)
  expect(sent.code, sent.stderr).toBe(0)
  const { envelope_id: envelopeId, id } = JSON.parse(sent.stdout) as { envelope_id: string; id: string }
  // SKComm's Syncthing layout: <root>/outbox/<peer>/<id>.skc.json.
  expect(readdirSync(join(pair!.dirA, "outbox", "bob"))).toContain(`${envelopeId}.skc.json`)

  // Bob polls until Syncthing has carried it over.
  let got = 0
  await waitFor(async () => (got += (await receiveJson(bob)).received), (n) => n >= 1,
    { timeoutMs: 60_000, intervalMs: 500, what: "the message to arrive on bob's side" })
  expect(got).toBe(1)
  const inbox = await runCli(["inbox", "--json"], bob.env)
  const messages = JSON.parse(inbox.stdout) as Array<{ id: string; content: string; verified: boolean }>
  expect(messages.map((m) => [m.id, m.content, m.verified])).toEqual([[id, "synced over syncthing", true]])
  // Consumed on bob's side (deleted: Syncthing then removes alice's copy as well).
  expect(readdirSync(join(pair!.dirB, "outbox", "bob")).filter((f) => f.endsWith(".skc.json"))).toEqual([])

  // Bob's receive sent a delivery receipt (and inbox a read receipt) into <root>/outbox/alice/.
  await waitFor(async () => {
    await receiveJson(alice)
    const history = await runCli(["history", "bob", "--json"], alice.env)
    return (JSON.parse(history.stdout) as Array<{ delivery_status: string }>)[0]?.delivery_status
  }, (status) => status === "read", { timeoutMs: 60_000, intervalMs: 500, what: "bob's read receipt to reach alice" })
  await waitFor(() => readdirSync(join(pair!.dirA, "outbox", "bob")).filter((f) => f.endsWith(".skc.json")),
    (left) => left.length === 0, { timeoutMs: 30_000, intervalMs: 250, what: "Syncthing to remove alice's sent copy" })
}, 180_000)
