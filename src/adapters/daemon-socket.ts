import { createHash } from "node:crypto"
import { unlinkSync } from "node:fs"
import { connect, createServer, type Server } from "node:net"
import { join, resolve } from "node:path"
import { errorLine } from "../domain/error-line.js"

/**
 * The daemon's lock and control line: a Unix socket only one process can listen on per data dir. On Linux
 * it lives in the abstract namespace, so the kernel releases it the instant the daemon dies (even by
 * `kill -9`): no stale lock file, and no window where two daemons both think they won. Elsewhere a socket
 * file in the data dir, taken over when nothing answers on it.
 */
export const daemonSocketPath = (dataDir: string): string =>
  process.platform === "linux"
    ? `\0skchat-daemon-${createHash("sha256").update(resolve(dataDir)).digest("hex").slice(0, 32)}`
    : join(dataDir, "daemon.sock")

/** Another daemon holds this data dir. */
export class DaemonAlreadyRunning extends Error {
  override readonly name = "DaemonAlreadyRunning"
}

const listenOn = (server: Server, path: string) =>
  new Promise<void>((ok, fail) => {
    server.once("error", fail)
    server.listen(path, () => {
      server.off("error", fail)
      ok()
    })
  })

/**
 * Takes the data dir's daemon lock and answers one-line commands on it with `handle`'s JSON. Rejects with
 * DaemonAlreadyRunning when a live daemon holds it.
 */
export const listenDaemonSocket = async (
  dataDir: string,
  handle: (command: string) => Promise<unknown>
): Promise<Server> => {
  const path = daemonSocketPath(dataDir)
  const server = createServer((socket) => {
    let buffer = ""
    socket.setEncoding("utf8")
    socket.on("error", () => socket.destroy())
    socket.on("data", (chunk) => {
      buffer += chunk
      const newline = buffer.indexOf("\n")
      if (newline < 0) return
      const command = buffer.slice(0, newline).trim()
      handle(command).then(
        (reply) => socket.end(`${JSON.stringify(reply)}\n`),
        (e) => socket.end(`${JSON.stringify({ error: errorLine(e) })}\n`)
      )
    })
  })
  try {
    await listenOn(server, path)
  } catch (e) {
    if ((e as { code?: string }).code !== "EADDRINUSE") throw e
    if (path.startsWith("\0") || (await askDaemon(dataDir, "status")) !== undefined) {
      throw new DaemonAlreadyRunning("a daemon is already running for this data dir")
    }
    // A socket file left by a daemon that died: nobody answers on it.
    unlinkSync(path)
    await listenOn(server, path)
  }
  return server
}

/** Sends one command to the data dir's daemon: its reply, or undefined when no daemon is running. */
export const askDaemon = (dataDir: string, command: string, timeoutMs = 5000): Promise<unknown> =>
  new Promise((done) => {
    const socket = connect(daemonSocketPath(dataDir))
    let buffer = ""
    const timer = setTimeout(() => {
      socket.destroy()
      done(undefined)
    }, timeoutMs)
    socket.setEncoding("utf8")
    socket.on("connect", () => socket.write(`${command}\n`))
    socket.on("data", (chunk) => {
      buffer += chunk
    })
    socket.on("error", () => {
      clearTimeout(timer)
      done(undefined)
    })
    socket.on("close", () => {
      clearTimeout(timer)
      try {
        done(buffer.trim() === "" ? undefined : JSON.parse(buffer))
      } catch {
        done(undefined)
      }
    })
  })
