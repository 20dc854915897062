import { type ChildProcess, spawn } from "node:child_process"
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, expect, it } from "vitest"
import { WebSocket } from "ws"
import { type ChattingPair, makeChattingPair } from "./support/shared-folder.js"
import { cliBin, runCli } from "./support/temp-home.js"

/** A long-running CLI process (watch, daemon --foreground) whose output is collected as it comes. */
interface Running {
  readonly pid: number
  readonly stdout: () => string
  readonly stderr: () => string
  /** Its exit code once stdout and stderr are closed (null when a signal ended it). */
  readonly closed: Promise<number | null>
  readonly hasExited: () => boolean
  readonly signal: (signal: NodeJS.Signals) => void
}

const children: Array<ChildProcess> = []

const start = (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv, extraEnv: NodeJS.ProcessEnv = {}): Running => {
  const child = spawn(process.execPath, [cliBin, ...args], { env: { ...env, ...extraEnv }, stdio: ["ignore", "pipe", "pipe"] })
  children.push(child)
  let out = ""
  let err = ""
  let exited = false
  child.stdout!.setEncoding("utf8").on("data", (d: string) => {
    out += d
  })
  child.stderr!.setEncoding("utf8").on("data", (d: string) => {
    err += d
  })
  const closed = new Promise<number | null>((resolve) => {
    child.once("close", (code) => {
      exited = true
      resolve(code)
    })
  })
  if (child.pid === undefined) throw new Error(`could not spawn skchat ${args.join(" ")}`)
  return {
    pid: child.pid,
    stdout: () => out,
    stderr: () => err,
    closed,
    hasExited: () => exited,
    signal: (signal) => {
      if (!exited) child.kill(signal)
    }
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Polls `condition` until it holds; fails with `what` (and what the process printed) when it never does. */
const until = async (condition: () => boolean, what: () => string, ms = 15_000) => {
  const deadline = Date.now() + ms
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what()}`)
    await sleep(50)
  }
}

const output = (p: Running) => `\n--- stdout:\n${p.stdout()}\n--- stderr:\n${p.stderr()}`

/** Resolves to the exit code, or to "still running" after `ms`. */
const exitWithin = (p: Running, ms: number) =>
  Promise.race([p.closed, sleep(ms).then(() => "still running" as const)])

/** True once no process has that pid any more (kill 0 answers ESRCH). */
const isGone = (pid: number) => {
  try {
    process.kill(pid, 0)
    return false
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "ESRCH"
  }
}

/** A detached daemon is reaped by init, not by us: give it time to disappear from the process table. */
const expectGone = async (pid: number) => {
  await until(() => isGone(pid), () => `process ${pid} to be gone`, 30_000)
  expect(isGone(pid)).toBe(true)
}

/** Ends `p` for good (SIGKILL if it is still there) and checks no process is left. */
const finish = async (p: Running | undefined) => {
  if (p === undefined) return
  p.signal("SIGKILL")
  await p.closed
  await expectGone(p.pid)
}

let pair: ChattingPair | undefined
afterEach(async () => {
  // A test that failed half-way must not leave a process behind either.
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
  }
  if (pair !== undefined) {
    for (const who of [pair.alice, pair.bob]) {
      const status = await runCli(["daemon", "status", "--json"], who.env)
      if (status.code === 0) {
        const { pid } = JSON.parse(status.stdout) as { pid: number }
        await runCli(["daemon", "stop"], who.env)
        if (!isGone(pid)) process.kill(pid, "SIGKILL")
      }
    }
    pair.remove()
    pair = undefined
  }
})

const ok = (r: { code: number; stdout: string; stderr: string }) => {
  expect(r.code, r.stderr).toBe(0)
  return r.stdout
}

const send = async (from: ChattingPair["alice"], to: string, text: string, ...more: Array<string>) =>
  JSON.parse(ok(await runCli(["send", to, text, "--json", ...more], from.env))) as { id: string; envelope_id: string }

interface Inspected {
  readonly type: string
  readonly definition?: string
  readonly actorRef?: { readonly id?: string }
  readonly sessionId?: string
}

const HEADER = "Watching for messages"
const openLine = /^Open (http:\/\/127\.0\.0\.1:(\d+)(\/\S+)) in a web browser/m

it("watch without a daemon polls the transports, prints what arrives, marks it read, and stops on SIGINT", async () => {
  pair = await makeChattingPair()
  const { alice, bob } = pair
  const watch = start(["watch", "-i", "0.5"], bob.env)
  try {
    await until(() => watch.stdout().includes(HEADER), () => `the header${output(watch)}`)
    expect(watch.stdout()).toContain("polling every 0.5s")
    const sent = await send(alice, "bob", "live one")
    await until(() => watch.stdout().split("\n").some((l) => l.includes("live one") && l.includes(alice.uri)),
      () => `"live one" from ${alice.uri}${output(watch)}`)
    watch.signal("SIGINT")
    expect(await exitWithin(watch, 15_000), output(watch)).toBe(0)
    const lines = watch.stdout().trimEnd().split("\n")
    expect(lines[0]).toContain(HEADER)
    expect(lines.filter((l) => l.includes("live one"))).toHaveLength(1)
    expect(lines.at(-1)).toBe("Stopped watching.")
    expect(watch.stderr()).toBe("")
    // Shown once by watch: marked read in bob's store (inbox shows the status it found, then marks).
    const inbox = JSON.parse(ok(await runCli(["inbox", "--json"], bob.env))) as Array<
      { id: string; content: string; delivery_status: string }
    >
    expect(inbox.map((m) => [m.id, m.content, m.delivery_status])).toEqual([[sent.id, "live one", "read"]])
  } finally {
    await finish(watch)
  }
}, 60_000)

it("watch -n 2 first prints the two newest messages already received, and stops on SIGTERM", async () => {
  pair = await makeChattingPair()
  const { alice, bob } = pair
  for (const text of ["first of three", "second of three", "third of three"]) await send(alice, "bob", text)
  const received = JSON.parse(ok(await runCli(["receive", "--json"], bob.env))) as { received: number }
  expect(received.received).toBe(3)
  const watch = start(["watch", "-n", "2", "-i", "0.5"], bob.env)
  try {
    await until(() => watch.stdout().includes("third of three"), () => `the newest message${output(watch)}`)
    watch.signal("SIGTERM")
    expect(await exitWithin(watch, 15_000), output(watch)).toBe(0)
    const lines = watch.stdout().trimEnd().split("\n")
    expect(lines).toHaveLength(4)
    expect(lines[0]).toContain(HEADER)
    expect(lines[1]).toContain("second of three")
    expect(lines[1]).toContain(alice.uri)
    expect(lines[2]).toContain("third of three")
    expect(lines[3]).toBe("Stopped watching.")
    expect(watch.stdout()).not.toContain("first of three")
  } finally {
    await finish(watch)
  }
}, 60_000)

it("with a daemon running, watch follows it: the daemon consumes the file and watch prints the message", async () => {
  pair = await makeChattingPair()
  const { alice, bob } = pair
  const started = await runCli(["daemon", "start", "-i", "1"], bob.env)
  expect(started.code, started.stderr).toBe(0)
  expect(started.stdout).toMatch(/^skchat daemon started \(pid \d+\)/)
  const { pid: daemonPid } = JSON.parse(ok(await runCli(["daemon", "status", "--json"], bob.env))) as { pid: number }
  const watch = start(["watch", "-i", "0.5"], bob.env)
  try {
    await until(() => watch.stdout().includes(HEADER), () => `the header${output(watch)}`)
    expect(watch.stdout().split("\n")[0]).toContain("following the daemon")
    const sent = await send(alice, "bob", "via the daemon")
    await until(() => watch.stdout().split("\n").some((l) => l.includes("via the daemon") && l.includes(alice.uri)),
      () => `"via the daemon"${output(watch)}`)
    // The daemon took the file in, not watch.
    const log = readFileSync(join(bob.dataDir, "daemon.log"), "utf8")
    expect(log).toContain(`received ${sent.id} from ${alice.uri}`)
    expect(existsSync(join(bob.inbox, `${sent.envelope_id}.skc.json`))).toBe(false)
    watch.signal("SIGINT")
    expect(await exitWithin(watch, 15_000), output(watch)).toBe(0)
    expect(watch.stdout().trimEnd().split("\n").at(-1)).toBe("Stopped watching.")
    const stopped = await runCli(["daemon", "stop"], bob.env)
    expect(stopped.code, stopped.stderr).toBe(0)
    expect(stopped.stdout.trim()).toBe(`skchat daemon stopped (pid ${daemonPid})`)
    await expectGone(daemonPid)
    expect(existsSync(join(bob.dataDir, "daemon.pid"))).toBe(false)
  } finally {
    await finish(watch)
    if (!isGone(daemonPid)) {
      await runCli(["daemon", "stop"], bob.env)
      if (!isGone(daemonPid)) process.kill(daemonPid, "SIGKILL")
    }
    await expectGone(daemonPid)
  }
}, 90_000)

/** A WebSocket client of the inspector server, keeping every event it is sent. */
const connectClient = async (url: string) => {
  const socket = new WebSocket(url)
  const events: Array<Inspected> = []
  let closed = false
  socket.on("message", (data) => events.push(JSON.parse(String(data)) as Inspected))
  socket.on("close", () => {
    closed = true
  })
  await new Promise((resolve, reject) => {
    socket.once("open", resolve)
    socket.once("error", reject)
  })
  return { socket, events, isClosed: () => closed }
}

it("watch --inspect serves inspection events on 127.0.0.1 and leaves no process behind", async () => {
  pair = await makeChattingPair()
  const { alice, bob } = pair
  const watch = start(["watch", "--inspect", "-i", "0.5"], bob.env)
  let client: Awaited<ReturnType<typeof connectClient>> | undefined
  try {
    await until(() => openLine.test(watch.stdout()) && watch.stdout().includes(HEADER),
      () => `the Open line and the header${output(watch)}`)
    const [, url, , path] = openLine.exec(watch.stdout())!
    const page = await fetch(url!)
    expect(page.status).toBe(200)
    expect(await page.text()).toContain("stately.ai/inspect")
    client = await connectClient(url!.replace(/^http:/, "ws:"))
    // Another path on the same port is refused: the token guards the events.
    const wrong = new WebSocket(url!.replace(/^http:/, "ws:").replace(path!, "/not-the-token"))
    await expect(new Promise((resolve, reject) => {
      wrong.once("open", resolve)
      wrong.once("error", reject)
    })).rejects.toThrow()
    // The delivery actor runs on alice's side; on bob's side watch runs the expiry machine of a TTL
    // message once its time is up.
    const sent = await send(alice, "bob", "gone soon", "--ttl", "3")
    await until(() => watch.stdout().includes("gone soon"), () => `"gone soon"${output(watch)}`)
    await until(() => client!.events.some((e) => e.type === "@xstate.actor" && (e.definition ?? "").includes("\"expiry\"")),
      () => `an expiry actor event (got ${JSON.stringify(client!.events.map((e) => e.type))})${output(watch)}`, 30_000)
    expect(client.events.every((e) => typeof e.type === "string" && e.type.startsWith("@xstate."))).toBe(true)
    expect(client.events.some((e) => e.type === "@xstate.snapshot")).toBe(true)
    expect(JSON.stringify(client.events)).toContain(sent.id)
    // The ws client is still connected: SIGINT must end the process anyway.
    expect(client.isClosed()).toBe(false)
    watch.signal("SIGINT")
    expect(await exitWithin(watch, 5_000), output(watch)).toBe(0)
    expect(watch.stdout().trimEnd().split("\n").at(-1)).toBe("Stopped watching.")
    await until(() => client!.isClosed(), () => "the server to close the client")
  } finally {
    client?.socket.terminate()
    await finish(watch)
  }
}, 90_000)

it("daemon start --foreground --inspect serves the inspector and exits on SIGTERM, PID file removed", async () => {
  pair = await makeChattingPair()
  const { bob } = pair
  const daemon = start(["daemon", "start", "--foreground", "--inspect", "-i", "0.5"], bob.env)
  let client: Awaited<ReturnType<typeof connectClient>> | undefined
  try {
    await until(() => openLine.test(daemon.stdout()) && / started \(pid \d+/.test(daemon.stdout()),
      () => `the Open line and the daemon's start${output(daemon)}`)
    const [, url] = openLine.exec(daemon.stdout())!
    const page = await fetch(url!)
    expect(page.status).toBe(200)
    client = await connectClient(url!.replace(/^http:/, "ws:"))
    const status = JSON.parse(ok(await runCli(["daemon", "status", "--json"], bob.env))) as { pid: number }
    expect(status.pid).toBe(daemon.pid)
    expect(existsSync(join(bob.dataDir, "daemon.pid"))).toBe(true)
    daemon.signal("SIGTERM")
    expect(await exitWithin(daemon, 5_000), output(daemon)).toBe(0)
    expect(existsSync(join(bob.dataDir, "daemon.pid"))).toBe(false)
    expect(daemon.stdout()).toContain("stopping (signal received)")
    await until(() => client!.isClosed(), () => "the server to close the client")
  } finally {
    client?.socket.terminate()
    await finish(daemon)
  }
}, 60_000)

it("SKCHAT_INSPECT_FILE on the daemon records the delivery machine that sends a pending message", async () => {
  pair = await makeChattingPair("  delivery:\n    retry_backoff: [0.2, 0.2]\n")
  const { alice, bob } = pair
  const scratch = mkdtempSync(join(tmpdir(), "skchat-inspect-file-"))
  const eventsFile = join(scratch, "events.jsonl")
  let daemon: Running | undefined
  try {
    // Alice's outbox is a file, not a folder: the message stays pending.
    writeFileSync(alice.outbox, "not a folder")
    const r = await runCli(["send", "bob", "held back", "--json"], alice.env)
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toContain("not sent yet")
    const held = JSON.parse(r.stdout) as { id: string; delivery_status: string }
    expect(held.delivery_status).toBe("pending")
    rmSync(alice.outbox)

    daemon = start(["daemon", "start", "--foreground", "-i", "0.5"], alice.env, { SKCHAT_INSPECT_FILE: eventsFile })
    await until(() => daemon!.stdout().includes("sent 1 message(s)"), () => `the retry${output(daemon!)}`, 30_000)
    daemon.signal("SIGTERM")
    expect(await exitWithin(daemon, 15_000), output(daemon)).toBe(0)
    await expectGone(daemon.pid)

    const lines = readFileSync(eventsFile, "utf8").split("\n")
    expect(lines.pop()).toBe("")
    const events = lines.map((l) => JSON.parse(l) as Inspected)
    expect(events.length).toBeGreaterThan(0)
    expect(events.some((e) => e.type === "@xstate.actor" && (e.definition ?? "").includes("\"delivery\""))).toBe(true)
    expect(JSON.stringify(events)).toContain(held.id)
    // And it was sent for real: the envelope is in bob's inbox, and bob can read it.
    expect(readdirSync(bob.inbox).filter((f) => f.endsWith(".skc.json"))).toHaveLength(1)
    const got = JSON.parse(ok(await runCli(["receive", "--json"], bob.env))) as { messages: Array<{ id: string }> }
    expect(got.messages.map((m) => m.id)).toEqual([held.id])
  } finally {
    await finish(daemon)
    rmSync(scratch, { recursive: true, force: true })
  }
}, 90_000)

it("daemon start --inspect without --foreground is refused with one line, and no daemon runs", async () => {
  pair = await makeChattingPair()
  const { bob } = pair
  const r = await runCli(["daemon", "start", "--inspect"], bob.env)
  expect(r.code).toBe(1)
  expect(r.stdout).toBe("")
  expect(r.stderr.trimEnd().split("\n")).toHaveLength(1)
  expect(r.stderr).toContain("--foreground")
  const status = await runCli(["daemon", "status"], bob.env)
  expect(status.code).toBe(3)
  expect(status.stdout.trim()).toBe("skchat daemon is not running")
  expect(existsSync(join(bob.dataDir, "daemon.pid"))).toBe(false)
})
