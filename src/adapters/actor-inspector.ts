import { Context, Effect, Layer } from "effect"
import { appendFileSync, closeSync, openSync } from "node:fs"
import type { InspectionEvent, Observer } from "xstate"

/** What `--inspect` prints: the page to open and how to use it. */
export interface InspectorServerInfo {
  /** The local page to open in a web browser (http://127.0.0.1:PORT/TOKEN). */
  readonly url: string
  /** One line telling a person how to watch. */
  readonly hint: string
  /** The server's WebSocket (ws://127.0.0.1:PORT/TOKEN): inspection events come out of it, and another
   * process may report into it (`SKCHAT_INSPECT=<this>`). */
  readonly webSocketUrl: string
}

export interface ActorInspectorOptions {
  /** SKCHAT_INSPECT=ws://host:port (report to that inspector server), SKCHAT_INSPECT_FILE=PATH (append JSON Lines). */
  readonly env: NodeJS.ProcessEnv
  /** Start a local inspector server on 127.0.0.1 (`--inspect`). */
  readonly localServer: boolean
  /** Called once the local server listens. */
  readonly onServerReady?: (info: InspectorServerInfo) => void
}

/**
 * Lets developers watch skchat's actors (delivery, expiry) as the Stately inspector sees them, three ways
 * that may be combined; the `inspect` observer fans every event out to each:
 *
 * - `SKCHAT_INSPECT=ws://host:port`: report to a WebSocket inspector server (e.g. `createInspectorServer`
 *   from @statelyai/inspect/server). The stock WebSocket inspector keeps retrying a failed connection on a
 *   timer, which keeps a short process alive; this one queues events until the socket opens, flushes them
 *   when the scope closes (waiting at most a second), never reconnects, and never delays or fails a command.
 * - `localServer` (`--inspect`): serve the events on 127.0.0.1 (see inspector-server.ts); `onServerReady`
 *   gets the page to open.
 * - `SKCHAT_INSPECT_FILE=PATH`: append them to PATH, one JSON object per line (created 0600: the events carry
 *   message text in clear).
 *
 * Every destination gets the same JSON: the event as @statelyai/inspect's `createInspector` converts it
 * (what its WebSocket inspector sends), stringified safely. Nothing is loaded when nothing is asked for, and
 * nothing keeps the process alive once the layer's scope closes: the finalizers close the server, its
 * client sockets and the file.
 */
export class ActorInspector extends Context.Tag("skchat/ActorInspector")<ActorInspector, {
  /** The `inspect` option for createActor, or undefined when nobody is watching. */
  readonly inspect: Observer<InspectionEvent> | undefined
}>() {
  static readonly none = Layer.succeed(ActorInspector, { inspect: undefined })

  static readonly layer = (options: ActorInspectorOptions) =>
    Layer.scoped(
      ActorInspector,
      Effect.gen(function*() {
        const url = options.env["SKCHAT_INSPECT"]?.trim()
        const file = options.env["SKCHAT_INSPECT_FILE"]?.trim()
        if (!url && !file && !options.localServer) return { inspect: undefined }
        const { createInspector } = yield* Effect.promise(() => import("@statelyai/inspect"))
        // @statelyai/inspect converts each inspection event on a zero-delay timer: every sink lets those
        // run before it closes (whatever order the finalizers run in).
        const settled = memo(() => new Promise<void>((resolve) => setTimeout(resolve, 10)))
        const sinks: Array<(message: string) => void> = []
        if (url) sinks.push(yield* remoteSink(url, settled))
        if (file) {
          const sink = yield* fileSink(file, settled)
          if (sink) sinks.push(sink)
        }
        if (options.localServer) {
          const server = yield* localServerSink(settled)
          if (server) {
            sinks.push(server.send)
            options.onServerReady?.({ url: server.url, hint: server.hint, webSocketUrl: server.webSocketUrl })
          }
        }
        if (sinks.length === 0) return { inspect: undefined }
        const inspector = createInspector({
          send: (event) => {
            const message = serializeInspectionEvent(event)
            if (message === undefined) return
            for (const sink of sinks) sink(message)
          }
        })
        return { inspect: inspector.inspect }
      })
    )

  static readonly fromEnv = (env: NodeJS.ProcessEnv = process.env) => ActorInspector.layer({ env, localServer: false })
}

const warn = (line: string) => {
  process.stderr.write(`skchat: ${line}\n`)
}

const memo = <A>(f: () => A): () => A => {
  let value: { readonly a: A } | undefined
  return () => (value ??= { a: f() }).a
}

/** Objects nested deeper than this are cut off, as @statelyai/inspect's WebSocket inspector does. */
const maxDepth = 10

/**
 * One inspection event as JSON, the way @statelyai/inspect's WebSocket inspector makes it safe: `toJSON`
 * honoured, a cycle becomes "[Circular]", objects deeper than 10 levels "[Object]" / "[Array]", a bigint
 * its digits (a string), functions dropped. Undefined when the event cannot be read at all.
 */
export const serializeInspectionEvent = (event: unknown): string | undefined => {
  const ancestors: Array<object> = []
  const walk = (key: string, input: unknown, depth: number): unknown => {
    let value = input
    if (value !== null && typeof value === "object" && typeof (value as { toJSON?: unknown }).toJSON === "function") {
      value = (value as { toJSON: (key: string) => unknown }).toJSON(key)
    }
    if (typeof value === "bigint") return value.toString()
    if (typeof value === "function" || typeof value === "symbol") return undefined
    if (value === null || typeof value !== "object") return value
    if (ancestors.includes(value)) return "[Circular]"
    if (depth >= maxDepth) return Array.isArray(value) ? "[Array]" : "[Object]"
    ancestors.push(value)
    try {
      if (Array.isArray(value)) return value.map((item, i) => walk(String(i), item, depth + 1))
      const out: Record<string, unknown> = {}
      for (const [k, v] of Object.entries(value)) out[k] = walk(k, v, depth + 1)
      return out
    } finally {
      ancestors.pop()
    }
  }
  try {
    return JSON.stringify(walk("", event, 0))
  } catch {
    return undefined
  }
}

/** SKCHAT_INSPECT: a WebSocket inspector server somewhere else. */
const remoteSink = (url: string, settled: () => Promise<void>) =>
  Effect.gen(function*() {
    const { default: WebSocket } = yield* Effect.promise(() => import("ws"))
    const queue: Array<string> = []
    let socket: InstanceType<typeof WebSocket> | undefined
    let open = false
    let lastSend: Promise<void> = Promise.resolve()
    const transmit = (message: string) => {
      lastSend = new Promise((resolve) => socket?.send(message, () => resolve()))
    }
    try {
      socket = new WebSocket(url)
      socket.on("open", () => {
        open = true
        for (const message of queue.splice(0)) transmit(message)
      })
      // A missing server must not break a command: inspection is a developer's aid.
      socket.on("error", () => {
        open = false
      })
      socket.on("close", () => {
        open = false
      })
    } catch (error) {
      warn(`SKCHAT_INSPECT: ${error instanceof Error ? error.message : String(error)}; actors are not reported there`)
      socket = undefined
    }
    yield* Effect.addFinalizer(() =>
      Effect.promise(async () => {
        await settled()
        const deadline = Date.now() + 1000
        while (!open && queue.length > 0 && socket?.readyState === WebSocket.CONNECTING && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 10))
        }
        if (open) await Promise.race([lastSend, new Promise((resolve) => setTimeout(resolve, 1000))])
        socket?.terminate()
        socket = undefined
        open = false
        queue.length = 0
      })
    )
    return (message: string) => {
      if (socket === undefined) return
      if (open) transmit(message)
      else if (socket.readyState === WebSocket.CONNECTING) queue.push(message)
    }
  })

/** SKCHAT_INSPECT_FILE: JSON Lines appended synchronously, so the file is whole whenever the process ends. */
const fileSink = (path: string, settled: () => Promise<void>) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      try {
        return { fd: openSync(path, "a", 0o600) as number | undefined }
      } catch (error) {
        warn(`SKCHAT_INSPECT_FILE: ${error instanceof Error ? error.message : String(error)}; actors are not recorded`)
        return undefined
      }
    }),
    (handle) =>
      handle === undefined ? Effect.void : Effect.promise(async () => {
        await settled()
        const fd = handle.fd
        handle.fd = undefined
        if (fd !== undefined) closeSync(fd)
      })
  ).pipe(Effect.map((handle) =>
    handle === undefined ? undefined : (message: string) => {
      if (handle.fd === undefined) return
      try {
        appendFileSync(handle.fd, `${message}\n`)
      } catch (error) {
        warn(`SKCHAT_INSPECT_FILE: ${error instanceof Error ? error.message : String(error)}; recording stopped`)
        const fd = handle.fd
        handle.fd = undefined
        try {
          closeSync(fd)
        } catch {
          // Already unusable: nothing more to do.
        }
      }
    }
  ))

/** --inspect: a server on 127.0.0.1, loaded only now. */
const localServerSink = (settled: () => Promise<void>) =>
  Effect.acquireRelease(
    Effect.tryPromise(() => import("./inspector-server.js").then((m) => m.startLocalInspectorServer())).pipe(
      Effect.catchAll((error) => {
        warn(`--inspect: ${String(error.error)}; no local inspector server`)
        return Effect.succeed(undefined)
      })
    ),
    (server) =>
      server === undefined ? Effect.void : Effect.promise(async () => {
        await settled()
        await server.close()
      })
  )
