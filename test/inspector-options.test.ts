import { Context, Effect, Exit, Layer, Scope } from "effect"
import { spawn } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { connect } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, beforeEach, expect, it } from "vitest"
import { WebSocket, WebSocketServer } from "ws"
import { createActor, createMachine } from "xstate"
import { ActorInspector, type ActorInspectorOptions, type InspectorServerInfo } from "../src/adapters/actor-inspector.js"
import { repoRoot } from "./support/temp-home.js"

interface Received {
  readonly type: string
  readonly name?: string
  readonly sessionId?: string
  readonly definition?: string
  readonly event?: { readonly type: string }
  readonly snapshot?: { readonly value?: unknown }
}

let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "skchat-inspect-"))
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

const machine = createMachine({
  id: "toggle",
  initial: "off",
  context: { flips: 0 },
  states: { off: { on: { toggle: "on" } }, on: { on: { toggle: "off" } } }
})

/** Builds the layer in a scope the test closes itself. */
const open = async (options: ActorInspectorOptions) => {
  const scope = Effect.runSync(Scope.make())
  const context = await Effect.runPromise(Layer.buildWithScope(ActorInspector.layer(options), scope))
  return {
    inspect: Context.get(context, ActorInspector).inspect,
    close: () => Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

const runToggle = (inspect: ActorInspector["Type"]["inspect"]) => {
  const actor = createActor(machine, inspect === undefined ? {} : { inspect }).start()
  actor.send({ type: "toggle" })
  return actor
}

const until = async (condition: () => boolean, what: string, ms = 5000) => {
  const deadline = Date.now() + ms
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

const client = async (url: string) => {
  const socket = new WebSocket(url)
  const messages: Array<string> = []
  let closed = false
  socket.on("message", (data) => messages.push(String(data)))
  socket.on("close", () => {
    closed = true
  })
  await new Promise((resolve, reject) => {
    socket.once("open", resolve)
    socket.once("error", reject)
  })
  return { socket, messages, received: () => messages.map((m) => JSON.parse(m) as Received), isClosed: () => closed }
}

const refuses = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect(port, "127.0.0.1")
    socket.once("connect", () => {
      socket.destroy()
      resolve(false)
    })
    socket.once("error", (error: NodeJS.ErrnoException) => resolve(error.code === "ECONNREFUSED"))
  })

/** The machine's own inspection events: it registered, took the toggle, and went from off to on. */
const expectToggleEvents = (events: ReadonlyArray<Received>) => {
  expect(events.some((e) => e.type === "@xstate.actor" && e.name === "toggle" && (e.definition ?? "").includes("\"toggle\""))).toBe(true)
  expect(events.some((e) => e.type === "@xstate.event" && e.event?.type === "toggle")).toBe(true)
  expect(events.some((e) => e.type === "@xstate.snapshot" && e.snapshot?.value === "on")).toBe(true)
}

it("with nothing asked for, there is no observer", async () => {
  for (const layer of [ActorInspector.fromEnv({}), ActorInspector.layer({ env: { SKCHAT_INSPECT: " " }, localServer: false })]) {
    const inspect = await Effect.runPromise(Effect.scoped(Layer.build(layer)).pipe(
      Effect.map((context) => Context.get(context, ActorInspector).inspect)
    ))
    expect(inspect).toBeUndefined()
  }
})

it("--inspect: a local server on 127.0.0.1 sends every inspection event to its clients, and is gone when the scope closes", async () => {
  let info: InspectorServerInfo | undefined
  const inspector = await open({ env: {}, localServer: true, onServerReady: (i) => (info = i) })
  let port = 0
  try {
    expect(inspector.inspect).toBeDefined()
    if (info === undefined) throw new Error("onServerReady was not called")
    const url = new URL(info.url)
    port = Number(url.port)
    expect(url.protocol).toBe("http:")
    expect(url.hostname).toBe("127.0.0.1")
    expect(url.pathname).toMatch(/^\/[0-9a-f]{32}$/)
    expect(info.webSocketUrl).toBe(`ws://127.0.0.1:${port}${url.pathname}`)
    expect(info.hint).toContain(info.url)
    expect(info.hint).not.toContain("\n")

    // The page to open embeds the Stately inspector and reads the events from the server's WebSocket.
    const page = await fetch(info.url)
    expect(page.status).toBe(200)
    expect(await page.text()).toContain("https://stately.ai/inspect")
    expect((await fetch(`http://127.0.0.1:${port}/`)).status).toBe(404)
    // Without the token in the path, no WebSocket either.
    await expect(client(`ws://127.0.0.1:${port}/`)).rejects.toThrow()

    const early = await client(info.webSocketUrl)
    const actor = runToggle(inspector.inspect)
    await until(() => early.received().some((e) => e.type === "@xstate.snapshot" && e.snapshot?.value === "on"), "the \"on\" snapshot")
    expectToggleEvents(early.received())
    actor.stop()

    // A client that connects later is sent what happened before it came.
    const late = await client(info.webSocketUrl)
    await until(() => late.messages.length >= early.messages.length, "the replay")
    expect(late.messages.slice(0, early.messages.length)).toEqual(early.messages)

    await inspector.close()
    await until(() => early.isClosed() && late.isClosed(), "the clients to be closed", 2000)
    expect(await refuses(port)).toBe(true)
  } finally {
    await inspector.close()
  }
})

it("SKCHAT_INSPECT_FILE: every inspection event, one JSON object per line, appended to the file", async () => {
  const file = join(dir, "inspect.jsonl")
  for (let run = 0; run < 2; run++) {
    const inspector = await open({ env: { SKCHAT_INSPECT_FILE: file }, localServer: false })
    runToggle(inspector.inspect).stop()
    await inspector.close()
  }
  const lines = readFileSync(file, "utf8").split("\n")
  expect(lines.pop()).toBe("")
  const events = lines.map((line) => JSON.parse(line) as Received)
  expectToggleEvents(events)
  // Two runs, two actors, appended one after the other.
  const sessions = [...new Set(events.filter((e) => e.type === "@xstate.actor").map((e) => e.sessionId))]
  expect(sessions).toHaveLength(2)
  const firstRun = events.map((e) => e.sessionId === sessions[0])
  expect(events.findIndex((e) => e.sessionId === sessions[1])).toBeGreaterThan(firstRun.lastIndexOf(true))
  // The events carry message text: only the owner may read them.
  expect(statSync(file).mode & 0o077).toBe(0)

  // An existing file is appended to, not replaced.
  const existing = join(dir, "existing.jsonl")
  writeFileSync(existing, "{\"before\":true}\n")
  const inspector = await open({ env: { SKCHAT_INSPECT_FILE: existing }, localServer: false })
  runToggle(inspector.inspect).stop()
  await inspector.close()
  const kept = readFileSync(existing, "utf8").trimEnd().split("\n")
  expect(kept[0]).toBe("{\"before\":true}")
  expectToggleEvents(kept.slice(1).map((line) => JSON.parse(line) as Received))
})

it("all three at once: SKCHAT_INSPECT, the local server and the file get the same JSON", async () => {
  const remote = new WebSocketServer({ host: "127.0.0.1", port: 0 })
  await new Promise((resolve) => remote.once("listening", resolve))
  const remoteMessages: Array<string> = []
  remote.on("connection", (socket) => socket.on("message", (data) => remoteMessages.push(String(data))))
  try {
    const file = join(dir, "all.jsonl")
    let info: InspectorServerInfo | undefined
    const inspector = await open({
      env: { SKCHAT_INSPECT: `ws://127.0.0.1:${(remote.address() as { port: number }).port}`, SKCHAT_INSPECT_FILE: file },
      localServer: true,
      onServerReady: (i) => (info = i)
    })
    try {
      if (info === undefined) throw new Error("onServerReady was not called")
      const local = await client(info.webSocketUrl)
      runToggle(inspector.inspect).stop()
      await until(() => local.received().some((e) => e.type === "@xstate.snapshot" && e.snapshot?.value === "on"), "the events")
      await inspector.close()
      const fileMessages = readFileSync(file, "utf8").trimEnd().split("\n")
      expectToggleEvents(fileMessages.map((line) => JSON.parse(line) as Received))
      expect(local.messages).toEqual(fileMessages)
      await until(() => remoteMessages.length >= fileMessages.length, "the remote server's copy")
      expect(remoteMessages).toEqual(fileMessages)
    } finally {
      await inspector.close()
    }
  } finally {
    await new Promise((resolve) => remote.close(resolve))
  }
})

it("a process with a local server, a connected client and a file exits on its own when its Effect ends", async () => {
  const file = join(dir, "child.jsonl")
  const child = spawn(process.execPath, ["--import", "tsx", join(repoRoot, "test/fixtures/inspector-child.ts"), file], {
    cwd: repoRoot,
    env: { PATH: process.env["PATH"], HOME: dir, NO_COLOR: "1" },
    stdio: ["pipe", "pipe", "pipe"]
  })
  let stdout = ""
  let stderr = ""
  child.stdout.on("data", (data) => (stdout += String(data)))
  child.stderr.on("data", (data) => (stderr += String(data)))
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
  let watcher: Awaited<ReturnType<typeof client>> | undefined
  try {
    await until(() => stdout.includes("\n"), `the child's server (stderr: ${stderr})`, 30_000)
    const ready = /^READY (ws:\/\/\S+)$/m.exec(stdout)
    if (ready?.[1] === undefined) throw new Error(`unexpected output: ${stdout} ${stderr}`)
    // A browser still watching must not keep the process alive either.
    watcher = await client(ready[1])
    child.stdin.write("go\n")
    const code = await Promise.race([
      exited,
      new Promise<"hung">((resolve) => setTimeout(() => resolve("hung"), 5000))
    ])
    expect(code, `the child did not exit on its own (stdout: ${stdout}, stderr: ${stderr})`).toBe(0)
    expect(stdout).toContain("DONE")
    await until(() => watcher?.isClosed() === true, "the watcher to be closed", 2000)

    const lines = readFileSync(file, "utf8").split("\n")
    expect(lines.pop()).toBe("")
    const events = lines.map((line) => JSON.parse(line) as Received)
    // What the watcher was sent is what the file holds.
    expect(lines).toEqual(watcher.messages)
    expect(events.filter((e) => e.type === "@xstate.actor").map((e) => e.name)).toEqual(["child-toggle"])
    expect(events.some((e) => e.type === "@xstate.event" && e.event?.type === "toggle")).toBe(true)
    expect(events.some((e) => e.type === "@xstate.snapshot" && e.snapshot?.value === "on")).toBe(true)
  } finally {
    watcher?.socket.terminate()
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
  }
})
