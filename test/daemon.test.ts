import { execFileSync, spawnSync } from "node:child_process"
import { randomUUID } from "node:crypto"
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync
} from "node:fs"
import { basename, join } from "node:path"
import { gzipSync } from "node:zlib"
import { afterEach, describe, expect, it } from "vitest"
import { openHistory } from "../src/index.js"
import {
  DaemonReaper,
  daemonStatus,
  type DaemonStatus,
  eventually,
  isAlive,
  waitGone
} from "./support/daemon-process.js"
import { sleep } from "./support/cli-wait.js"
import { type ChattingPair, makeChattingPair } from "./support/shared-folder.js"
import { filesUnder, makeTempHome, runCli, storeFile, withDatabase } from "./support/temp-home.js"

/**
 * `skchat daemon` as a user runs it: real detached and foreground processes of the built CLI, real
 * file-system notifications, real signals (SIGTERM, SIGKILL), real OpenPGP and SQLite. Every daemon a
 * test starts is stopped in afterEach, and afterEach fails if any process is left.
 */

const reaper = new DaemonReaper()
const pairs: Array<ChattingPair> = []

afterEach(async () => {
  const left = await reaper.reap()
  for (const pair of pairs.splice(0)) pair.remove()
  expect(left, "daemon processes left running after the test").toEqual([])
})

const newPair = async (extra = "") => {
  const pair = await makeChattingPair(extra)
  pairs.push(pair)
  return pair
}

const pidFileOf = (dataDir: string) => join(dataDir, "daemon.pid")
const defaultLogOf = (dataDir: string) => join(dataDir, "daemon.log")

/** The one line of a CLI error: exactly one non-empty line on stderr. */
const oneLine = (stderr: string): string => {
  const lines = stderr.split("\n").filter((l) => l.trim() !== "")
  expect(lines, `expected one error line, got:\n${stderr}`).toHaveLength(1)
  return lines[0]!
}

/** Rejects when `promise` has not settled within `ms` (a bound on a wait, never a timing assertion). */
const within = <A>(promise: Promise<A>, ms: number, what: string): Promise<A> =>
  Promise.race([
    promise,
    new Promise<never>((_, fail) => setTimeout(() => fail(new Error(`${what}: nothing after ${ms} ms`)), ms).unref())
  ])

/** Waits until the data dir's daemon answers with `check` true, and returns its status. */
const statusWhen = (env: NodeJS.ProcessEnv, what: string, check: (s: DaemonStatus) => boolean, timeoutMs = 30_000) =>
  eventually(what, async () => {
    const { status } = await daemonStatus(env)
    return status.running && check(status) ? status : undefined
  }, timeoutMs, 200)

/** Inbound messages in a store (0 while it does not exist yet or is being created). */
const inboundCount = (dataDir: string): number => {
  if (!existsSync(storeFile(dataDir))) return 0
  try {
    return withDatabase(storeFile(dataDir), (db) =>
      db.prepare("SELECT count(*) FROM messages WHERE direction='in'").pluck().get() as number)
  } catch {
    return 0
  }
}

const entriesOf = (dir: string): Array<string> => (existsSync(dir) ? readdirSync(dir) : [])

interface Rejection {
  readonly reason: string
  readonly detail: string
  readonly claimed_id: string | null
  readonly size: number
  readonly file: string | null
}

const quarantineOf = async (env: NodeJS.ProcessEnv): Promise<Array<Rejection>> => {
  const r = await runCli(["quarantine", "--json", "-n", "100000"], env)
  expect(r.code, r.stderr).toBe(0)
  return JSON.parse(r.stdout) as Array<Rejection>
}

describe("daemon lifecycle", () => {
  it("starts, reports its status, keeps a PID file and a log, and stops", async () => {
    const { bob } = await newPair()
    const before = await runCli(["daemon", "status"], bob.env)
    expect(before.code).toBe(3)
    expect(before.stdout.trim()).toBe("skchat daemon is not running")

    const started = await reaper.start(bob.env, ["-i", "1"])
    expect(started.code, started.stderr).toBe(0)
    const pid = started.pid!
    expect(started.stdout.trim()).toBe(`skchat daemon started (pid ${pid}); log: ${defaultLogOf(bob.dataDir)}`)
    expect(isAlive(pid)).toBe(true)

    const status = await runCli(["daemon", "status"], bob.env)
    expect(status.code).toBe(0)
    expect(status.stdout).toContain(`skchat daemon is running (pid ${pid}, since `)
    expect(status.stdout).toContain("transports: file; polling every 1s")
    const json = await daemonStatus(bob.env)
    expect(json.code).toBe(0)
    expect(json.status).toMatchObject({
      running: true,
      pid,
      interval: 1,
      transports: ["file"],
      log_file: defaultLogOf(bob.dataDir),
      received: 0,
      rejected: 0
    })
    expect(readFileSync(pidFileOf(bob.dataDir), "utf8").trim()).toBe(String(pid))

    const stopped = await runCli(["daemon", "stop"], bob.env)
    expect(stopped.code, stopped.stderr).toBe(0)
    expect(stopped.stdout.trim()).toBe(`skchat daemon stopped (pid ${pid})`)
    expect(existsSync(pidFileOf(bob.dataDir))).toBe(false)
    await waitGone(pid)
    expect(isAlive(pid)).toBe(false)

    const log = readFileSync(defaultLogOf(bob.dataDir), "utf8")
    expect(log).toMatch(new RegExp(`^\\S+ started \\(pid ${pid}, data dir ${bob.dataDir}, transports: file, every 1s\\)$`, "m"))
    expect(log).toMatch(/^\S+ stopping \(signal received\)$/m)

    const again = await runCli(["daemon", "stop"], bob.env)
    expect(again.code).toBe(0)
    expect(again.stdout.trim()).toBe("skchat daemon is not running")
    expect((await runCli(["daemon", "status"], bob.env)).code).toBe(3)
  })

  it("stops cleanly on SIGTERM in the foreground: exit 0, PID file removed", async () => {
    const { bob } = await newPair()
    const daemon = reaper.spawn(bob.env, ["-f", "-i", "1"])
    await statusWhen(bob.env, "the foreground daemon to serve", (s) => s.pid === daemon.pid)
    expect(readFileSync(pidFileOf(bob.dataDir), "utf8").trim()).toBe(String(daemon.pid))

    process.kill(daemon.pid, "SIGTERM")
    const exit = await within(daemon.exited, 15_000, "the daemon's exit after SIGTERM")
    expect(exit, daemon.stderr()).toEqual({ code: 0, signal: null })
    expect(existsSync(pidFileOf(bob.dataDir))).toBe(false)
    await waitGone(daemon.pid)
    // In a terminal's foreground it echoes its log lines.
    expect(daemon.stdout()).toMatch(/ started \(pid \d+/)
    expect(daemon.stdout()).toMatch(/ stopping \(signal received\)/)
    expect(readFileSync(defaultLogOf(bob.dataDir), "utf8")).toMatch(/ stopping \(signal received\)$/m)
    expect((await runCli(["daemon", "status"], bob.env)).code).toBe(3)
  })
})

describe("one daemon per data dir", () => {
  it("refuses a second daemon, detached or in the foreground", async () => {
    const { bob } = await newPair()
    const first = await reaper.start(bob.env, ["-i", "1"])
    expect(first.code, first.stderr).toBe(0)
    const pid = first.pid!

    const second = await reaper.start(bob.env, ["-i", "1"])
    expect(second.code).toBe(1)
    expect(second.pid).toBeUndefined()
    expect(oneLine(second.stderr)).toBe(`skchat: the daemon is already running (pid ${pid})`)

    const foreground = reaper.spawn(bob.env, ["-f"])
    const exit = await within(foreground.exited, 30_000, "the second foreground daemon's exit")
    expect(exit.code).not.toBe(0)
    expect(exit.code).not.toBeNull()
    expect(oneLine(foreground.stderr())).toMatch(/^skchat: a daemon is already running for .* \(see `skchat daemon status`\)$/)
    await waitGone(foreground.pid)

    // The first one is untouched.
    const { status } = await daemonStatus(bob.env)
    expect(status).toMatchObject({ running: true, pid })
    expect(readFileSync(pidFileOf(bob.dataDir), "utf8").trim()).toBe(String(pid))
  })

  it("lets exactly one of two daemons started at the same moment on a fresh data dir stay up", async () => {
    const { alice } = await newPair()
    expect(existsSync(storeFile(alice.dataDir))).toBe(false)
    const one = reaper.spawn(alice.env, ["-f", "-i", "1"])
    const two = reaper.spawn(alice.env, ["-f", "-i", "1"])

    const loser = await eventually("one of the two daemons to give up",
      () => (one.exitCode() !== undefined ? one : two.exitCode() !== undefined ? two : undefined), 45_000)
    const winner = loser === one ? two : one
    const status = await statusWhen(alice.env, "the other daemon to serve", () => true, 45_000)
    expect(status.pid).toBe(winner.pid)
    expect(loser.exitCode()).not.toBe(0)
    expect(oneLine(loser.stderr())).toMatch(/already running/)
    await waitGone(loser.pid)

    // The winner keeps running and owns the PID file.
    await sleep(1500)
    expect(winner.exitCode(), winner.stderr()).toBeUndefined()
    expect(isAlive(winner.pid)).toBe(true)
    expect((await daemonStatus(alice.env)).status).toMatchObject({ running: true, pid: winner.pid })
    expect(readFileSync(pidFileOf(alice.dataDir), "utf8").trim()).toBe(String(winner.pid))
  })

  it("is not blocked by a stale PID file", async () => {
    const { bob } = await newPair()
    // The pid of a process that has exited: what a daemon killed with -9 leaves behind.
    const dead = spawnSync(process.execPath, ["-e", ""]).pid
    await waitGone(dead)
    mkdirSync(bob.dataDir, { recursive: true })
    writeFileSync(pidFileOf(bob.dataDir), `${dead}\n`)

    expect((await runCli(["daemon", "status"], bob.env)).code).toBe(3)
    const started = await reaper.start(bob.env, ["-i", "1"])
    expect(started.code, started.stderr).toBe(0)
    expect(started.pid).not.toBe(dead)
    expect(readFileSync(pidFileOf(bob.dataDir), "utf8").trim()).toBe(String(started.pid))
    expect((await daemonStatus(bob.env)).status).toMatchObject({ running: true, pid: started.pid })
  })
})

describe("daemon settings", () => {
  it("logs where SKCHAT_DAEMON_LOG says", async () => {
    const { bob } = await newPair()
    const log = join(bob.home, "logs", "skchat-daemon.log")
    const started = await reaper.start(bob.env, ["-i", "1"], { SKCHAT_DAEMON_LOG: log })
    expect(started.code, started.stderr).toBe(0)
    expect(started.stdout.trim()).toBe(`skchat daemon started (pid ${started.pid}); log: ${log}`)
    expect((await daemonStatus(bob.env)).status.log_file).toBe(log)
    expect(readFileSync(log, "utf8")).toMatch(new RegExp(`^\\S+ started \\(pid ${started.pid}, `, "m"))
    expect(existsSync(defaultLogOf(bob.dataDir))).toBe(false)
    expect((await runCli(["daemon", "stop"], bob.env)).code).toBe(0)
    await waitGone(started.pid!)
    expect(readFileSync(log, "utf8")).toMatch(/ stopping \(signal received\)$/m)
  })

  it("takes the interval from the flag, then SKCHAT_DAEMON_INTERVAL, then skchat.daemon.poll_interval", async () => {
    const { bob } = await newPair()
    const intervalWith = async (args: ReadonlyArray<string>, extraEnv: NodeJS.ProcessEnv = {}) => {
      const started = await reaper.start(bob.env, args, extraEnv)
      expect(started.code, started.stderr).toBe(0)
      const { status } = await daemonStatus(bob.env)
      expect(status.pid).toBe(started.pid)
      const stopped = await runCli(["daemon", "stop"], bob.env)
      expect(stopped.code, stopped.stderr).toBe(0)
      await waitGone(started.pid!)
      return status.interval
    }
    expect(await intervalWith([])).toBe(5)
    expect(await intervalWith([], { SKCHAT_DAEMON_INTERVAL: "2" })).toBe(2)

    appendFileSync(join(bob.dataDir, "config.yml"), "  daemon:\n    poll_interval: 3\n")
    expect(await intervalWith([])).toBe(3)
    expect(await intervalWith([], { SKCHAT_DAEMON_INTERVAL: "2" })).toBe(2)
    expect(await intervalWith(["-i", "1"], { SKCHAT_DAEMON_INTERVAL: "2" })).toBe(1)
    expect(readFileSync(defaultLogOf(bob.dataDir), "utf8")).toMatch(/ started \(.*, every 3s\)$/m)
  })

  it("refuses a bad interval with one line, and starts nothing", async () => {
    const { bob } = await newPair()
    for (const [args, extra] of [
      [["-i", "0"], {}],
      [["-i", "-5"], {}],
      [[], { SKCHAT_DAEMON_INTERVAL: "abc" }],
      [["-f"], { SKCHAT_DAEMON_INTERVAL: "abc" }]
    ] as const) {
      const r = await reaper.start(bob.env, args, extra)
      expect(r.code, `${args.join(" ")} ${JSON.stringify(extra)}: ${r.stdout}`).toBe(1)
      expect(r.pid).toBeUndefined()
      expect(oneLine(r.stderr)).toMatch(/^skchat: the daemon interval .* must be a number of seconds above 0$/)
    }
    expect((await runCli(["daemon", "status"], bob.env)).code).toBe(3)
    expect(existsSync(pidFileOf(bob.dataDir))).toBe(false)
  })

  it("does not start without a key it can use: none yet, or a protected one without SKCHAT_PASSPHRASE", async () => {
    const home = makeTempHome()
    try {
      const none = await reaper.start(home.env, ["-i", "1"])
      expect(none.code).toBe(1)
      expect(none.pid).toBeUndefined()
      expect(oneLine(none.stderr)).toMatch(/no identity key at .*run `skchat init` first/)

      const init = await runCli(["init", "--name", "dana"], home.env, { SKCHAT_PASSPHRASE: "correct horse" })
      expect(init.code, init.stderr).toBe(0)
      appendFileSync(join(home.dataDir, "config.yml"),
        "  transports:\n    file:\n      settings:\n" +
        `        inbox_path: ${join(home.home, "in")}\n        outbox_path: ${join(home.home, "out")}\n`)
      const locked = await reaper.start(home.env, ["-i", "1"])
      expect(locked.code).toBe(1)
      expect(locked.pid).toBeUndefined()
      expect(oneLine(locked.stderr)).toMatch(/passphrase-protected: set SKCHAT_PASSPHRASE/)
      expect((await runCli(["daemon", "status"], home.env)).code).toBe(3)

      const unlocked = await reaper.start(home.env, ["-i", "1"], { SKCHAT_PASSPHRASE: "correct horse" })
      expect(unlocked.code, unlocked.stderr).toBe(0)
      expect((await daemonStatus(home.env)).status.running).toBe(true)
      expect((await runCli(["daemon", "stop"], home.env)).code).toBe(0)
    } finally {
      await reaper.reap()
      home.remove()
    }
  })

  it("with SKCHAT_DAEMON_QUIET=1 logs that it started, but not what it received", async () => {
    const { alice, bob } = await newPair()
    const started = await reaper.start(bob.env, ["-i", "1"], { SKCHAT_DAEMON_QUIET: "1" })
    expect(started.code, started.stderr).toBe(0)
    const sent = await runCli(["send", "bob", "quiet please"], alice.env)
    expect(sent.code, sent.stderr).toBe(0)
    await statusWhen(bob.env, "bob's daemon to receive", (s) => s.received === 1)
    await eventually("bob's inbox folder to be emptied", () => entriesOf(bob.inbox).length === 0)

    const log = readFileSync(defaultLogOf(bob.dataDir), "utf8")
    expect(log).toMatch(new RegExp(`^\\S+ started \\(pid ${started.pid}, `, "m"))
    expect(log).not.toMatch(/ received /)
    expect(log).not.toMatch(/acknowledged/)
  })
})

describe("the daemon at work", () => {
  it("re-arms a TTL deadline from the log on start: a message received earlier expires on time, long before its interval",
    async () => {
      const { alice, bob } = await newPair()
      const sent = await runCli(["send", "bob", "gone in a few seconds", "--ttl", "4"], alice.env)
      expect(sent.code, sent.stderr).toBe(0)
      const got = await runCli(["receive", "--json"], bob.env)
      expect((JSON.parse(got.stdout) as { received: number }).received).toBe(1)
      expect(inboundCount(bob.dataDir)).toBe(1)

      // A daemon started afterwards knows the deadline only from the log; its interval alone would be a minute.
      const started = await reaper.start(bob.env, ["-i", "60"])
      expect(started.code, started.stderr).toBe(0)
      await eventually("bob's daemon to expire the message at its deadline", () => inboundCount(bob.dataDir) === 0,
        30_000, 200)
      await eventually("the daemon's log to say so",
        () => readFileSync(defaultLogOf(bob.dataDir), "utf8").includes("expired 1 message(s)"))
      expect((await daemonStatus(bob.env)).status.running).toBe(true)
    }, 60_000)

  it("takes in a message on notification, long before its interval, and acknowledges it", async () => {
    const { alice, bob } = await newPair()
    const started = await reaper.start(bob.env, ["-i", "60"])
    expect(started.code, started.stderr).toBe(0)
    // Let the first round (right after start) pass, so only a notification can bring the message in.
    await statusWhen(bob.env, "bob's daemon's first round", (s) => (s.rounds ?? 0) >= 1)
    await sleep(1000)

    const sent = await runCli(["send", "bob", "hi", "--json"], alice.env)
    expect(sent.code, sent.stderr).toBe(0)
    const message = JSON.parse(sent.stdout) as { id: string; delivery_status: string }
    expect(message.delivery_status).toBe("sent")

    // Well under the 60 s interval: the file-system notification woke the daemon.
    await statusWhen(bob.env, "bob's daemon to take the message in", (s) => s.received === 1, 20_000)
    // Nothing of bob's but the daemon ran: the delivery receipt in alice's inbox folder is the daemon's.
    await eventually("the delivery receipt in alice's inbox folder",
      () => entriesOf(alice.inbox).some((n) => n.endsWith(".skc.json")), 20_000)

    const received = await runCli(["receive", "--json"], alice.env)
    expect(received.code, received.stderr).toBe(0)
    expect(JSON.parse(received.stdout)).toMatchObject({ received: 0, receipts: 1, status_updates: 1, rejected: 0 })
    const history = await runCli(["history", "bob", "--json"], alice.env)
    expect(history.code, history.stderr).toBe(0)
    const mine = (JSON.parse(history.stdout) as Array<{ id: string; delivery_status: string }>)
      .find((m) => m.id === message.id)
    expect(mine?.delivery_status).toBe("delivered")

    const inbox = await runCli(["inbox", "--json"], bob.env)
    expect(inbox.code, inbox.stderr).toBe(0)
    expect(JSON.parse(inbox.stdout)).toEqual([
      expect.objectContaining({ id: message.id, sender: alice.uri, content: "hi", verified: true })
    ])
    expect(readFileSync(defaultLogOf(bob.dataDir), "utf8")).toContain(`received ${message.id} from ${alice.uri}`)
  })

  it("refuses hostile files in the inbox folder, keeps running and still takes in real mail", async () => {
    const pair = await newPair()
    const { alice, bob } = pair
    const started = await reaper.start(bob.env, ["-i", "1"])
    expect(started.code, started.stderr).toBe(0)
    const pid = started.pid!
    mkdirSync(bob.inbox, { recursive: true })

    // Each file is made in a staging folder beside the inbox, then renamed in whole.
    const staging = join(pair.shared, "staging")
    mkdirSync(staging)
    const legacy = (id: string, payload: Record<string, unknown>) => ({
      skcomm_version: "1.0.0",
      envelope_id: id,
      sender: alice.uri,
      recipient: bob.uri,
      payload: { content_type: "text", encrypted: false, compressed: false, signature: null, ...payload },
      metadata: { created_at: new Date().toISOString() }
    })
    const stage = (name: string, text: string | Buffer) => writeFileSync(join(staging, name), text)
    stage("a-invalid.skc.json", `{"skcomm_version": "1.0.0", "envelope_id": oops}`)
    const whole = JSON.stringify(legacy(randomUUID(), { content: "a message cut short" }), null, 2)
    stage("b-truncated.skc.json", whole.slice(0, Math.floor(whole.length / 2)))
    const aMinuteAgo = new Date(Date.now() - 60_000)
    utimesSync(join(staging, "b-truncated.skc.json"), aMinuteAgo, aMinuteAgo)
    stage("c-not-an-envelope.skc.json", JSON.stringify({ hello: "world", n: 1 }))
    stage("d-oversized.skc.json", `{"x":"${"a".repeat(2 * 1024 * 1024)}"}`)
    const bomb = "gz:" + gzipSync(Buffer.alloc(50 * 1024 * 1024)).toString("base64")
    stage("e-bomb.skc.json", JSON.stringify(legacy(randomUUID(), { content: bomb, compressed: true }), null, 2))
    stage("f-bad-id.skc.json", JSON.stringify(legacy("../../etc/passwd", { content: "hello" }), null, 2))
    symlinkSync("/etc/hostname", join(staging, "evil.skc.json"))
    execFileSync("mkfifo", [join(staging, "fifo.skc.json")])
    const hostile = readdirSync(staging).sort()
    expect(hostile).toHaveLength(8)
    const hostname = readFileSync("/etc/hostname")
    for (const name of hostile) renameSync(join(staging, name), join(bob.inbox, name))

    const sent = await runCli(["send", "bob", "the real one", "--json"], alice.env)
    expect(sent.code, sent.stderr).toBe(0)
    const real = JSON.parse(sent.stdout) as { id: string }

    const status = await statusWhen(bob.env, "bob's daemon to handle all nine files",
      (s) => s.received === 1 && s.rejected === hostile.length && entriesOf(bob.inbox).length === 0, 60_000)
    expect(status.pid).toBe(pid)
    expect(entriesOf(bob.inbox)).toEqual([])

    // Which file was refused for what, from the daemon's log lines "rejected <file>: <reason> (...)".
    const log = readFileSync(defaultLogOf(bob.dataDir), "utf8")
    const reasonByFile = Object.fromEntries(
      [...log.matchAll(/ rejected (\S+): (\w+) \(/g)].map((m) => [basename(m[1]!), m[2]!])
    )
    expect(reasonByFile).toEqual({
      "a-invalid.skc.json": "malformed",
      "b-truncated.skc.json": "malformed",
      "c-not-an-envelope.skc.json": "malformed",
      "d-oversized.skc.json": "oversized",
      // Inflated (to at most the size limit) before anything else is looked at: a bomb is stopped there.
      "e-bomb.skc.json": "decompression_limit",
      "f-bad-id.skc.json": "malformed",
      "evil.skc.json": "malformed",
      "fifo.skc.json": "malformed"
    })

    const rejections = await quarantineOf(bob.env)
    expect(rejections.map((r) => r.reason).sort()).toEqual([
      "decompression_limit",
      "malformed",
      "malformed",
      "malformed",
      "malformed",
      "malformed",
      "malformed",
      "oversized"
    ])
    const detailed = (pattern: RegExp) => {
      const found = rejections.filter((r) => pattern.test(r.detail))
      expect(found, `a rejection whose detail matches ${pattern}: ${JSON.stringify(rejections, null, 2)}`).toHaveLength(1)
      return found[0]!
    }
    const symlink = detailed(/symbolic link/)
    expect(symlink.reason).toBe("malformed")
    detailed(/not a regular file/)
    const badId = rejections.find((r) => r.claimed_id === "../../etc/passwd")
    expect(badId).toMatchObject({ reason: "malformed" })
    expect(badId!.detail).toMatch(/id/)
    // Never read whole: the record gives its real size, the quarantined copy holds at most limit + 1 bytes.
    const oversized = rejections.find((r) => r.reason === "oversized")!
    const oversizedBytes = `{"x":""}`.length + 2 * 1024 * 1024
    expect(oversized.detail).toBe(`${oversizedBytes} bytes, over the 1048576-byte limit`)
    expect(oversized.size).toBe(oversizedBytes)
    expect(oversized.file === null ? -1 : statSync(oversized.file).size).toBe(1048576 + 1)
    expect(rejections.find((r) => r.reason === "decompression_limit")!.detail).toMatch(/inflates past/)

    // The symlink was never followed: nothing of /etc/hostname was copied into quarantine.
    expect(symlink.size).toBe(0)
    const quarantined = filesUnder(join(bob.dataDir, "quarantine"))
    expect(quarantined.length).toBeGreaterThan(0)
    for (const file of quarantined) {
      expect(readFileSync(file).equals(hostname) && hostname.length > 0, `${file} is a copy of /etc/hostname`).toBe(false)
      expect(statSync(file).mode & 0o777).toBe(0o600)
    }
    if (symlink.file !== null) expect(statSync(symlink.file).size).toBe(0)
    expect(readFileSync("/etc/hostname").equals(hostname)).toBe(true)

    // The daemon is still there, and the real message arrived.
    const after = await runCli(["daemon", "status"], bob.env)
    expect(after.code).toBe(0)
    expect(after.stdout).toContain(`skchat daemon is running (pid ${pid}, `)
    expect(after.stdout).toContain(`received 1, rejected ${hostile.length}`)
    const inbox = await runCli(["inbox", "--json"], bob.env)
    expect(inbox.code, inbox.stderr).toBe(0)
    expect(JSON.parse(inbox.stdout)).toEqual([
      expect.objectContaining({ id: real.id, sender: alice.uri, content: "the real one", verified: true })
    ])
  })
})

describe("crash safety", () => {
  it("loses and duplicates nothing when the daemon is killed with SIGKILL in the middle of 2,000 messages",
    async () => {
      const pair = await newPair()
      const { alice, bob } = pair
      const total = 2000

      // 2,000 real sealed envelopes from alice to bob, made in-process.
      const staging = join(pair.shared, "staging")
      mkdirSync(staging)
      const sentIds: Array<string> = []
      const history = await openHistory({ home: alice.home, dataDir: alice.dataDir, identity: alice.uri })
      try {
        for (let i = 0; i < total; i++) {
          const r = await history.sendSealed({ recipient: bob.uri, content: `m${i}` })
          writeFileSync(join(staging, `${r.envelopeId}.skc.json`), r.envelope)
          sentIds.push(r.message.id)
        }
      } finally {
        await history.close()
      }
      const files = readdirSync(staging).sort()
      expect(files).toHaveLength(total)
      mkdirSync(bob.inbox, { recursive: true })
      let moved = 0
      const moveChunk = (n: number) => {
        for (const name of files.slice(moved, moved + n)) renameSync(join(staging, name), join(bob.inbox, name))
        moved = Math.min(files.length, moved + n)
      }

      const first = await reaper.start(bob.env, ["-i", "1"])
      expect(first.code, first.stderr).toBe(0)
      const firstPid = first.pid!

      // Feed it in chunks; at most half the files go in before the kill, so it dies before all arrived.
      // Its count is watched closely, so the kill often lands while it is still consuming a committed batch.
      let nextChunkAt = 0
      const countAtKill = await eventually("bob's daemon to take in 500 messages", async () => {
        if (moved < total / 2 && Date.now() >= nextChunkAt) {
          moveChunk(100)
          nextChunkAt = Date.now() + 50
        }
        const n = inboundCount(bob.dataDir)
        if (n < 500) return undefined
        process.kill(firstPid, "SIGKILL")
        return n
      }, 120_000, 2)
      await waitGone(firstPid)
      expect(countAtKill).toBeGreaterThanOrEqual(500)
      const recordedAtKill = inboundCount(bob.dataDir)
      expect(recordedAtKill).toBeLessThan(total)
      // Files whose message was committed but which the daemon had not consumed yet when it died.
      const recordedNotConsumed = recordedAtKill - (moved - entriesOf(bob.inbox).length)
      expect(recordedNotConsumed).toBeGreaterThanOrEqual(0)
      // SIGKILL leaves the PID file behind; it must not stop the next start.
      expect(existsSync(pidFileOf(bob.dataDir))).toBe(true)

      while (moved < total) moveChunk(100)
      expect(readdirSync(staging)).toEqual([])
      const second = await reaper.start(bob.env, ["-i", "1"])
      expect(second.code, second.stderr).toBe(0)

      let last = -1
      let stableSince = Date.now()
      const settled = await eventually("bob's daemon to take in everything", () => {
        const n = inboundCount(bob.dataDir)
        if (entriesOf(bob.inbox).length > 0 || n !== last) {
          last = n
          stableSince = Date.now()
          return undefined
        }
        return Date.now() - stableSince >= 3000 ? n : undefined
      }, 180_000, 250)
      const stopped = await runCli(["daemon", "stop"], bob.env)
      expect(stopped.code, stopped.stderr).toBe(0)
      await waitGone(second.pid!)

      expect(settled).toBe(total)
      // Those came back after the restart as quiet duplicates: consumed, not recorded twice, not refused.
      const duplicates = [...readFileSync(defaultLogOf(bob.dataDir), "utf8").matchAll(/ (\d+) duplicate\(s\) consumed$/gm)]
        .reduce((sum, m) => sum + Number(m[1]), 0)
      expect(duplicates).toBe(recordedNotConsumed)
      expect(inboundCount(bob.dataDir)).toBe(total)
      expect(entriesOf(bob.inbox)).toEqual([])
      const events = withDatabase(storeFile(bob.dataDir), (db) =>
        db.prepare("SELECT count(*) AS n, count(DISTINCT message_id) AS distinct_ids FROM events " +
          "WHERE type = 'MessageReceived'").get())
      expect(events).toEqual({ n: total, distinct_ids: total })

      const bobs = await openHistory({ home: bob.home, dataDir: bob.dataDir, identity: bob.uri })
      try {
        const inbox = await bobs.inbox(10 * total)
        expect(inbox).toHaveLength(total)
        expect(new Set(inbox.map((m) => m.content))).toEqual(new Set(Array.from({ length: total }, (_, i) => `m${i}`)))
        expect(new Set(inbox.map((m) => m.id))).toEqual(new Set(sentIds))
        expect(inbox.every((m) => m.sender === alice.uri && m.verified)).toBe(true)
      } finally {
        await bobs.close()
      }

      const rejections = await quarantineOf(bob.env)
      expect(rejections.filter((r) => r.reason === "replay")).toEqual([])
      expect(rejections).toEqual([])
      const verify = await runCli(["admin", "verify"], bob.env)
      expect(verify.code, verify.stderr).toBe(0)
      expect(verify.stdout).toMatch(/^ok: \d+ events, hash chain intact$/m)
    }, 240_000)
})
