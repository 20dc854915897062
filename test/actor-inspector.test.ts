import { appendFileSync, mkdirSync, readdirSync } from "node:fs"
import { createServer } from "node:net"
import { join } from "node:path"
import { afterEach, beforeEach, expect, it } from "vitest"
import { WebSocketServer } from "ws"
import { makeCliHome } from "./support/identities.js"
import { fileTransportConfig } from "./support/shared-folder.js"
import { runCli, type TempHome } from "./support/temp-home.js"

let t: TempHome
let outbox: string
beforeEach(async () => {
  t = await makeCliHome()
  // A send runs the delivery actor only when a transport is configured: a file transport in the temp home.
  const inbox = join(t.home, "transport", "inbox")
  outbox = join(t.home, "transport", "outbox")
  mkdirSync(inbox, { recursive: true })
  mkdirSync(outbox, { recursive: true })
  mkdirSync(t.dataDir, { recursive: true })
  appendFileSync(join(t.dataDir, "config.yml"), fileTransportConfig("capauth:local@skchat", inbox, outbox))
})
afterEach(() => t.remove())

const sentFiles = () => readdirSync(outbox).filter((f) => f.endsWith(".skc.json"))

it("with SKCHAT_INSPECT, the actors a command runs report to a Stately inspector server", async () => {
  const server = new WebSocketServer({ host: "127.0.0.1", port: 0 })
  await new Promise((resolve) => server.once("listening", resolve))
  const received: Array<{ type: string; name?: string; definition?: string }> = []
  server.on("connection", (socket) => socket.on("message", (data) => received.push(JSON.parse(String(data)))))
  try {
    const { port } = server.address() as { port: number }
    const r = await runCli(["send", "capauth:bob@skworld.io", "watched message"], t.env, {
      SKCHAT_INSPECT: `ws://127.0.0.1:${port}`
    })
    expect(r.code, r.stderr).toBe(0)
    // The delivery actor registered itself and reported its snapshots.
    const actors = received.filter((e) => e.type === "@xstate.actor")
    expect(actors.some((e) => (e.definition ?? "").includes("\"delivery\""))).toBe(true)
    expect(received.some((e) => e.type === "@xstate.snapshot")).toBe(true)
    expect(sentFiles()).toHaveLength(1)
  } finally {
    await new Promise((resolve) => server.close(resolve))
  }
})

it("an inspector address where nothing listens changes nothing: the command succeeds and exits", async () => {
  // A port that was free a moment ago: nothing listens there.
  const probe = createServer()
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve))
  const { port } = probe.address() as { port: number }
  await new Promise((resolve) => probe.close(resolve))
  const r = await runCli(["send", "capauth:bob@skworld.io", "nobody watching"], t.env, {
    SKCHAT_INSPECT: `ws://127.0.0.1:${port}`
  })
  expect(r.code, r.stderr).toBe(0)
  expect(r.stderr).toBe("")
  const history = await runCli(["history", "capauth:bob@skworld.io", "--json"], t.env)
  const rows = JSON.parse(history.stdout) as Array<{ content: string; delivery_status: string }>
  expect(rows.map((m) => [m.content, m.delivery_status])).toEqual([["nobody watching", "sent"]])
  expect(sentFiles()).toHaveLength(1)
})
