import { type ChildProcess, execFile, spawn } from "node:child_process"
import { accessSync, constants, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { createServer, type Server } from "node:net"
import { delimiter, join } from "node:path"

/**
 * Two real Syncthing instances on loopback only, sharing one folder between two local directories.
 *
 * Nothing leaves 127.0.0.1: no global or local (LAN broadcast) discovery, no relays, no NAT traversal (UPnP,
 * NAT-PMP, STUN), no usage or crash reporting, no upgrade checks (STNOUPGRADE=1, autoUpgradeIntervalH=0).
 * Each instance listens for the sync protocol on tcp://127.0.0.1:<port>; A dials B at that explicit address
 * and B accepts A (see below why only one side dials). The GUI/REST API of each is on
 * http://127.0.0.1:<port> with an API key of our own. HOME and the XDG dirs of both processes point under
 * `root`, so the real home directory is never touched. Both run with --no-restart: one process each, no
 * monitor process.
 *
 * The shared folder (id "skchat", sendreceive) has the filesystem watcher on with its shortest delay (1 s),
 * so a file written on one side typically shows up on the other about a second later. Each folder gets a
 * `.stfolder` marker and a `.stignore` (by default ignoring `.*.tmp`, the store's write-then-rename temps).
 */

export const FOLDER_ID = "skchat"

/** Is the `syncthing` binary on PATH? */
export const syncthingAvailable = (): boolean => findOnPath("syncthing") !== undefined

export interface SyncthingInstance {
  readonly name: string
  readonly home: string
  readonly dir: string
  readonly deviceId: string
  /** http://127.0.0.1:<port> */
  readonly guiUrl: string
  readonly apiKey: string
  /** tcp://127.0.0.1:<port> */
  readonly listenAddress: string
  readonly pid: number
  /** Has the process exited (and been reaped)? */
  readonly exited: () => boolean
  /** The last lines syncthing printed (stdout and stderr). */
  readonly outputTail: () => string
  /** GET on the REST API (with the API key); parsed JSON. */
  readonly rest: (path: string) => Promise<unknown>
}

export interface SyncthingPair {
  /** The folder on instance A. */
  readonly dirA: string
  /** The same folder on instance B. */
  readonly dirB: string
  readonly a: SyncthingInstance
  readonly b: SyncthingInstance
  /** Kills both processes (SIGTERM, then SIGKILL after a grace period) and waits until both have exited. */
  readonly stop: () => Promise<void>
}

export interface SyncthingPairOptions {
  /** Full rescan interval in seconds; the filesystem watcher does the fast path. Default 10. */
  readonly rescanIntervalS?: number
  /** How long to wait for both to be up, connected and idle. Default 60 s. */
  readonly startTimeoutMs?: number
  /** Extra .stignore lines for both folders. Default: ignore the store's `.<name>.tmp` write-then-rename temps. */
  readonly ignorePatterns?: ReadonlyArray<string>
}

const TAIL_LINES = 80

/**
 * Generates two Syncthing homes under `root` (A and B), configures them for each other on loopback only,
 * starts both and resolves once both are up, connected to each other and the shared folder is idle on both.
 * The folder is `root/A/sync` and `root/B/sync`.
 */
export const startSyncthingPair = async (
  root: string,
  options: SyncthingPairOptions = {}
): Promise<SyncthingPair> => {
  const binary = findOnPath("syncthing")
  if (binary === undefined) {
    throw new Error("syncthing is not on PATH (Debian: apt-get install -y syncthing)")
  }
  const rescanIntervalS = options.rescanIntervalS ?? 10
  const startTimeoutMs = options.startTimeoutMs ?? 60_000
  const ignorePatterns = options.ignorePatterns ?? ["(?d).*.tmp"]

  const fakeHome = join(root, "home")
  for (const sub of ["", ".config", ".local/share", ".local/state", ".cache"]) {
    mkdirSync(join(fakeHome, sub), { recursive: true })
  }
  const env: NodeJS.ProcessEnv = {
    PATH: process.env["PATH"] ?? "/usr/bin:/bin",
    HOME: fakeHome,
    XDG_CONFIG_HOME: join(fakeHome, ".config"),
    XDG_DATA_HOME: join(fakeHome, ".local/share"),
    XDG_STATE_HOME: join(fakeHome, ".local/state"),
    XDG_CACHE_HOME: join(fakeHome, ".cache"),
    LANG: "C.UTF-8",
    STNOUPGRADE: "1",
    STNORESTART: "1",
    STNODEFAULTFOLDER: "1",
    // Naming the SHA-256 implementation skips the hashing benchmark at startup (about a second each).
    STHASHING: "minio"
  }

  const names = ["A", "B"] as const
  const specs = await Promise.all(names.map(async (name) => {
    const base = join(root, name)
    const home = join(base, "home")
    const dir = join(base, "sync")
    mkdirSync(home, { recursive: true })
    mkdirSync(join(dir, ".stfolder"), { recursive: true })
    writeFileSync(join(dir, ".stignore"), ignorePatterns.map((p) => `${p}\n`).join(""))
    const { deviceId, configVersion } = await generate(binary, home, env)
    return {
      name,
      home,
      dir,
      deviceId,
      configVersion,
      apiKey: `skchat-test-${name}-${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`
    }
  }))
  // All four ports held open at once, so no two are the same.
  const [guiA, listenA, guiB, listenB] = (await freePorts(4)) as [number, number, number, number]
  const [specA, specB] = [
    { ...specs[0]!, guiPort: guiA, listenPort: listenA },
    { ...specs[1]!, guiPort: guiB, listenPort: listenB }
  ]

  // Only A dials (it has B's explicit address; B knows A's device but has no address for it, so it only
  // accepts). Syncthing 1.19 exchanges Hellos on one connection at a time, in one queue for dialed and accepted
  // connections alike: when both sides dial each other at once, each waits for a Hello on its own dialed
  // connection while the peer's Hello sits behind it, and both stall for the 20 s Hello timeout.
  for (const [self, peer, peerAddress] of [
    [specA, specB, `tcp://127.0.0.1:${specB.listenPort}`],
    [specB, specA, "dynamic"]
  ] as const) {
    writeFileSync(join(self.home, "config.xml"), configXml({
      version: self.configVersion,
      self: { id: self.deviceId, name: self.name },
      peer: { id: peer.deviceId, name: peer.name, address: peerAddress },
      guiAddress: `127.0.0.1:${self.guiPort}`,
      apiKey: self.apiKey,
      listenAddress: `tcp://127.0.0.1:${self.listenPort}`,
      folderPath: self.dir,
      rescanIntervalS
    }))
  }

  const instances: Array<Running> = []
  const stop = async (): Promise<void> => {
    await Promise.all(instances.map((i) => i.kill()))
  }
  try {
    // B (the one that only accepts) first, so that A's first dial finds B listening: a failed first dial
    // costs a 5 s wait for the next one.
    const b = launch(binary, specB, env)
    instances.push(b)
    await waitFor("Syncthing B's REST API answers", startTimeoutMs, instances, async () => {
      await b.instance.rest("/rest/system/ping")
      return true
    })
    const a = launch(binary, specA, env)
    instances.push(a)
    await waitFor("Syncthing A's REST API answers", startTimeoutMs, instances, async () => {
      await a.instance.rest("/rest/system/ping")
      return true
    })
    await waitFor("A and B connected to each other", startTimeoutMs, instances, async () =>
      (await connected(a.instance, b.instance.deviceId)) && (await connected(b.instance, a.instance.deviceId)))
    await waitFor(`folder "${FOLDER_ID}" idle on both`, startTimeoutMs, instances, async () =>
      (await folderState(a.instance)) === "idle" && (await folderState(b.instance)) === "idle")
    return { dirA: a.instance.dir, dirB: b.instance.dir, a: a.instance, b: b.instance, stop }
  } catch (error) {
    await stop()
    throw error
  }
}

// --- processes -------------------------------------------------------------------------------------------

interface Running {
  readonly instance: SyncthingInstance
  readonly kill: () => Promise<void>
}

/** Children still running, killed hard if the test process exits without stopping them. */
const live = new Set<ChildProcess>()
let exitHookInstalled = false
const installExitHook = () => {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.once("exit", () => {
    for (const child of live) child.kill("SIGKILL")
  })
}

const launch = (
  binary: string,
  spec: { name: string; home: string; dir: string; deviceId: string; guiPort: number; listenPort: number; apiKey: string },
  env: NodeJS.ProcessEnv
): Running => {
  installExitHook()
  const child = spawn(binary, [
    "serve",
    `--home=${spec.home}`,
    "--no-browser",
    "--no-restart",
    "--no-upgrade",
    "--no-default-folder",
    "--skip-port-probing",
    "--logflags=3"
  ], { env, stdio: ["ignore", "pipe", "pipe"] })
  live.add(child)
  const tail: Array<string> = []
  let partial = ""
  const onData = (chunk: Buffer) => {
    const lines = (partial + chunk.toString("utf8")).split("\n")
    partial = lines.pop() ?? ""
    tail.push(...lines)
    if (tail.length > TAIL_LINES) tail.splice(0, tail.length - TAIL_LINES)
  }
  child.stdout?.on("data", onData)
  child.stderr?.on("data", onData)
  let exitInfo: string | undefined
  const exitedPromise = new Promise<void>((resolve) => {
    const done = (code: number | null, signal: NodeJS.Signals | null) => {
      if (exitInfo === undefined) exitInfo = signal !== null ? `signal ${signal}` : `code ${code}`
      live.delete(child)
      resolve()
    }
    child.once("exit", done)
    child.once("error", (error) => {
      exitInfo = `spawn error: ${error.message}`
      live.delete(child)
      resolve()
    })
  })
  const guiUrl = `http://127.0.0.1:${spec.guiPort}`
  const outputTail = () =>
    [`--- syncthing ${spec.name} (pid ${child.pid ?? "?"}${exitInfo !== undefined ? `, exited: ${exitInfo}` : ""}) ---`,
      ...tail, ...(partial === "" ? [] : [partial])].join("\n")
  const rest = async (path: string): Promise<unknown> => {
    const response = await fetch(`${guiUrl}${path}`, {
      headers: { "X-API-Key": spec.apiKey },
      signal: AbortSignal.timeout(5_000)
    })
    if (!response.ok) throw new Error(`GET ${path}: HTTP ${response.status} ${await response.text()}`)
    return response.json()
  }
  const instance: SyncthingInstance = {
    name: spec.name,
    home: spec.home,
    dir: spec.dir,
    deviceId: spec.deviceId,
    guiUrl,
    apiKey: spec.apiKey,
    listenAddress: `tcp://127.0.0.1:${spec.listenPort}`,
    pid: child.pid ?? -1,
    exited: () => exitInfo !== undefined,
    outputTail,
    rest
  }
  const kill = async (): Promise<void> => {
    if (exitInfo !== undefined) return
    child.kill("SIGTERM")
    const graceful = await Promise.race([
      exitedPromise.then(() => true),
      sleep(10_000).then(() => false)
    ])
    if (!graceful) {
      child.kill("SIGKILL")
      const killed = await Promise.race([exitedPromise.then(() => true), sleep(10_000).then(() => false)])
      if (!killed) throw new Error(`syncthing ${spec.name} (pid ${child.pid}) did not exit after SIGKILL\n${outputTail()}`)
    }
  }
  return { instance, kill }
}

/** Runs `syncthing generate` into `home`; returns the device ID and the config version this binary writes. */
const generate = (binary: string, home: string, env: NodeJS.ProcessEnv) =>
  new Promise<{ deviceId: string; configVersion: string }>((resolve, reject) => {
    execFile(binary, ["generate", `--home=${home}`, "--no-default-folder", "--skip-port-probing"], { env, timeout: 60_000 },
      (error, stdout, stderr) => {
        const output = `${String(stdout)}${String(stderr)}`
        if (error !== null) {
          reject(new Error(`syncthing generate --home=${home} failed: ${error.message}\n${output}`))
          return
        }
        const id = /Device ID:\s*([A-Z0-9]{7}(?:-[A-Z0-9]{7}){7})/.exec(output)?.[1]
        let version: string | undefined
        try {
          version = /<configuration version="(\d+)"/.exec(readFileSync(join(home, "config.xml"), "utf8"))?.[1]
        } catch {
          version = undefined
        }
        if (id === undefined || version === undefined) {
          reject(new Error(`syncthing generate --home=${home}: no device ID or config.xml\n${output}`))
          return
        }
        resolve({ deviceId: id, configVersion: version })
      })
  })

// --- REST polling ----------------------------------------------------------------------------------------

const connected = async (self: SyncthingInstance, peerId: string): Promise<boolean> => {
  const body = await self.rest("/rest/system/connections") as { connections?: Record<string, { connected?: boolean }> }
  return body.connections?.[peerId]?.connected === true
}

const folderState = async (self: SyncthingInstance): Promise<string | undefined> => {
  const body = await self.rest(`/rest/db/status?folder=${FOLDER_ID}`) as { state?: string }
  return body.state
}

const waitFor = async (
  what: string,
  timeoutMs: number,
  instances: ReadonlyArray<Running>,
  check: () => Promise<boolean>
): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  let lastError = ""
  for (;;) {
    const dead = instances.find((i) => i.instance.exited())
    if (dead !== undefined) {
      throw new Error(`syncthing ${dead.instance.name} exited while waiting for: ${what}\n${tails(instances)}`)
    }
    try {
      if (await check()) return
      lastError = ""
    } catch (error) {
      lastError = error instanceof Error ? `${error.message}${error.cause instanceof Error ? ` (${error.cause.message})` : ""}` : String(error)
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}` +
        `${lastError === "" ? "" : `\nlast error: ${lastError}`}\n${tails(instances)}`)
    }
    await sleep(250)
  }
}

const tails = (instances: ReadonlyArray<Running>) => instances.map((i) => i.instance.outputTail()).join("\n")

// --- config ----------------------------------------------------------------------------------------------

const xml = (s: string) =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;")

const configXml = (c: {
  version: string
  self: { id: string; name: string }
  peer: { id: string; name: string; address: string }
  guiAddress: string
  apiKey: string
  listenAddress: string
  folderPath: string
  rescanIntervalS: number
}): string => `<configuration version="${xml(c.version)}">
    <folder id="${FOLDER_ID}" label="${FOLDER_ID}" path="${xml(c.folderPath)}" type="sendreceive" rescanIntervalS="${c.rescanIntervalS}" fsWatcherEnabled="true" fsWatcherDelayS="1" ignorePerms="false" autoNormalize="true">
        <filesystemType>basic</filesystemType>
        <device id="${xml(c.self.id)}" introducedBy=""></device>
        <device id="${xml(c.peer.id)}" introducedBy=""></device>
        <minDiskFree unit="%">0</minDiskFree>
        <markerName>.stfolder</markerName>
        <paused>false</paused>
    </folder>
    <device id="${xml(c.self.id)}" name="${xml(c.self.name)}" compression="metadata" introducer="false">
        <address>dynamic</address>
        <paused>false</paused>
        <autoAcceptFolders>false</autoAcceptFolders>
    </device>
    <device id="${xml(c.peer.id)}" name="${xml(c.peer.name)}" compression="metadata" introducer="false">
        <address>${xml(c.peer.address)}</address>
        <paused>false</paused>
        <autoAcceptFolders>false</autoAcceptFolders>
    </device>
    <gui enabled="true" tls="false" debugging="false">
        <address>${xml(c.guiAddress)}</address>
        <apikey>${xml(c.apiKey)}</apikey>
        <theme>default</theme>
    </gui>
    <options>
        <listenAddress>${xml(c.listenAddress)}</listenAddress>
        <globalAnnounceServer></globalAnnounceServer>
        <globalAnnounceEnabled>false</globalAnnounceEnabled>
        <localAnnounceEnabled>false</localAnnounceEnabled>
        <reconnectionIntervalS>1</reconnectionIntervalS>
        <relaysEnabled>false</relaysEnabled>
        <startBrowser>false</startBrowser>
        <natEnabled>false</natEnabled>
        <urAccepted>-1</urAccepted>
        <urSeen>3</urSeen>
        <urURL></urURL>
        <urInitialDelayS>86400</urInitialDelayS>
        <restartOnWakeup>false</restartOnWakeup>
        <autoUpgradeIntervalH>0</autoUpgradeIntervalH>
        <upgradeToPreReleases>false</upgradeToPreReleases>
        <releasesURL></releasesURL>
        <minHomeDiskFree unit="%">0</minHomeDiskFree>
        <setLowPriority>false</setLowPriority>
        <crashReportingEnabled>false</crashReportingEnabled>
        <crashReportingURL></crashReportingURL>
        <stunKeepaliveStartS>0</stunKeepaliveStartS>
        <stunServer></stunServer>
        <announceLANAddresses>false</announceLANAddresses>
    </options>
</configuration>
`

// --- small helpers ---------------------------------------------------------------------------------------

const findOnPath = (command: string): string | undefined => {
  for (const dir of (process.env["PATH"] ?? "").split(delimiter)) {
    if (dir === "") continue
    const candidate = join(dir, command)
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      // not here
    }
  }
  return undefined
}

/** `n` distinct ports that were free on 127.0.0.1 a moment ago: listen on port 0 `n` times, read them, close all. */
const freePorts = async (n: number): Promise<Array<number>> => {
  const servers = await Promise.all(Array.from({ length: n }, () =>
    new Promise<Server>((resolve, reject) => {
      const server = createServer()
      server.unref()
      server.once("error", reject)
      server.listen(0, "127.0.0.1", () => resolve(server))
    })))
  const ports = servers.map((server) => {
    const address = server.address()
    return typeof address === "object" && address !== null ? address.port : 0
  })
  await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))))
  if (ports.some((port) => port === 0)) throw new Error("could not get free ports on 127.0.0.1")
  return ports
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))
