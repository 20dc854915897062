import { randomBytes } from "node:crypto"
import { createServer, type IncomingMessage } from "node:http"
import type { Socket } from "node:net"
import { WebSocket, WebSocketServer } from "ws"

/**
 * A local inspector server for `--inspect`: the same relay as `createInspectorServer` from
 * `@statelyai/inspect/server` (one port serving a bridge page that embeds the Stately inspector web app
 * in an iframe, and a WebSocket the page reads inspection events from), reimplemented because the
 * package's server does not fit a CLI: it binds every interface on a fixed port (8080), opens a browser
 * on its own, reports neither readiness nor its port, keeps 200 events, and its `stop()` leaves
 * connected sockets open (ws 8 no longer closes them), which keeps the process alive.
 *
 * This one binds 127.0.0.1 on a free port, puts an unguessable token in the path (the events carry
 * message text in clear), replays up to the last 10,000 events to each client that connects, relays a
 * client's own messages to the others like the package's server (so another process can report here
 * with `SKCHAT_INSPECT=<webSocketUrl>`), never holds the event loop open, and `close()` ends everything.
 *
 * Loaded with a dynamic `import()` only when a local server is asked for.
 */
export interface LocalInspectorServer {
  /** The page to open in a web browser. */
  readonly url: string
  /** Where inspection events are read from (and where a `createWebSocketInspector` may report to). */
  readonly webSocketUrl: string
  /** One line telling a person how to watch. */
  readonly hint: string
  readonly port: number
  /** Sends one serialized inspection event to every client, and keeps it for clients still to come. */
  readonly send: (message: string) => void
  /** Stops listening, closes every client (terminating the ones that do not answer soon) and every connection. */
  readonly close: () => Promise<void>
}

export interface LocalInspectorServerOptions {
  /** How many events a client that connects late is sent first. Default 10,000. */
  readonly maxBufferedEvents?: number
  /** And at most this many bytes of them. Default 64 MiB. */
  readonly maxBufferedBytes?: number
}

/** The Stately inspector web app, as `@statelyai/inspect` embeds it (its `createInspectorServer` default). */
export const statelyInspectorAppUrl = "https://stately.ai/inspect"

/**
 * The bridge page: the Stately inspector in an iframe, fed over postMessage once it says
 * `@statelyai.connected` (the protocol of `createBrowserReceiver` and of the package's own bridge page).
 */
const bridgePage = () => `<!DOCTYPE html>
<html>
<head>
  <meta charset="utf-8">
  <title>skchat actors - Stately Inspector</title>
  <style>
    * { margin: 0; padding: 0; }
    html, body { height: 100%; }
    iframe { width: 100%; height: 100%; border: none; }
  </style>
</head>
<body>
  <iframe id="inspector" src="${statelyInspectorAppUrl}"></iframe>
  <script>
    const iframe = document.getElementById("inspector");
    const buffer = [];
    let connected = false;
    window.addEventListener("message", (e) => {
      if (e.source !== iframe.contentWindow) return;
      if (e.data && e.data.type === "@statelyai.connected") {
        connected = true;
        for (const event of buffer.splice(0)) iframe.contentWindow.postMessage(event, "*");
      }
    });
    const ws = new WebSocket("ws://" + location.host + location.pathname);
    ws.onmessage = (message) => {
      const event = JSON.parse(message.data);
      if (connected) iframe.contentWindow.postMessage(event, "*");
      else buffer.push(event);
    };
  </script>
</body>
</html>
`

export const startLocalInspectorServer = async (
  options: LocalInspectorServerOptions = {}
): Promise<LocalInspectorServer> => {
  const maxEvents = Math.max(0, options.maxBufferedEvents ?? 10_000)
  const maxBytes = Math.max(0, options.maxBufferedBytes ?? 64 * 1024 * 1024)
  const path = `/${randomBytes(16).toString("hex")}`

  const connections = new Set<Socket>()
  const http = createServer((request, response) => {
    if (request.method === "GET" && request.url === path) {
      response.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" })
      response.end(bridgePage())
    } else {
      response.writeHead(404, { "content-type": "text/plain; charset=utf-8" })
      response.end("not found\n")
    }
  })
  http.on("connection", (socket) => {
    // Neither the server nor its connections keep the process alive; close() still ends them.
    socket.unref()
    connections.add(socket)
    socket.on("close", () => connections.delete(socket))
  })
  // A broken connection must not crash the process being watched.
  http.on("clientError", (_error, socket) => socket.destroy())

  const wss = new WebSocketServer({
    server: http,
    maxPayload: 16 * 1024 * 1024,
    verifyClient: (info: { req: IncomingMessage }) => info.req.url === path
  })
  wss.on("error", () => {})

  // The events a client that connects late is sent first: a ring of at most maxEvents / maxBytes.
  let buffered: Array<string> = []
  let head = 0
  let bytes = 0
  const keep = (message: string) => {
    if (maxEvents === 0) return
    buffered.push(message)
    bytes += Buffer.byteLength(message)
    while (buffered.length - head > maxEvents || (bytes > maxBytes && buffered.length - head > 1)) {
      bytes -= Buffer.byteLength(buffered[head]!)
      head++
    }
    if (head > 1024 && head * 2 > buffered.length) {
      buffered = buffered.slice(head)
      head = 0
    }
  }
  let closed = false
  const broadcast = (message: string, except?: WebSocket) => {
    if (closed) return
    keep(message)
    for (const client of wss.clients) {
      if (client !== except && client.readyState === WebSocket.OPEN) client.send(message)
    }
  }
  wss.on("connection", (client) => {
    client.on("error", () => {})
    for (let i = head; i < buffered.length; i++) client.send(buffered[i]!)
    // Like the package's server: what one client reports, the others see.
    client.on("message", (data, isBinary) => {
      if (!isBinary) broadcast(String(data), client)
    })
  })

  await new Promise<void>((resolve, reject) => {
    http.once("error", reject)
    http.listen(0, "127.0.0.1", () => {
      http.off("error", reject)
      resolve()
    })
  })
  http.on("error", () => {})
  http.unref()
  const { port } = http.address() as { port: number }
  const url = `http://127.0.0.1:${port}${path}`

  return {
    url,
    webSocketUrl: `ws://127.0.0.1:${port}${path}`,
    hint: `Open ${url} in a web browser to watch the actors in the Stately inspector (the page embeds ${statelyInspectorAppUrl}).`,
    port,
    send: (message) => broadcast(message),
    close: async () => {
      if (closed) return
      closed = true
      buffered = []
      const clients = [...wss.clients]
      // A polite close lets a browser take the last events; whoever has not answered in half a second is cut off.
      await Promise.race([
        Promise.all(clients.map((client) =>
          new Promise<void>((resolve) => {
            if (client.readyState === WebSocket.CLOSED) return resolve()
            client.once("close", () => resolve())
            client.close(1001, "skchat is exiting")
          })
        )),
        new Promise<void>((resolve) => setTimeout(resolve, 500).unref())
      ])
      for (const client of wss.clients) client.terminate()
      await new Promise<void>((resolve) => wss.close(() => resolve()))
      const stopped = new Promise<void>((resolve) => http.close(() => resolve()))
      http.closeAllConnections()
      for (const socket of connections) socket.destroy()
      await stopped
    }
  }
}
