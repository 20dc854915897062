import { Context, Effect, Layer } from "effect"
import type { InspectionEvent, Observer } from "xstate"

/**
 * Lets developers watch skchat's actors (delivery, expiry) in the Stately inspector: with
 * `SKCHAT_INSPECT=ws://host:port`, every actor ChatSystem runs reports to a WebSocket inspector server
 * (e.g. `createInspectorServer` from @statelyai/inspect). Unset, nothing is loaded and nothing is sent.
 *
 * The stock WebSocket inspector keeps retrying a failed connection on a timer, which keeps a short
 * process alive; this adapter queues events until the socket opens, flushes them when the scope
 * closes (waiting at most a second), never reconnects, and never delays or fails a command.
 */
export class ActorInspector extends Context.Tag("skchat/ActorInspector")<ActorInspector, {
  /** The `inspect` option for createActor, or undefined when nobody is watching. */
  readonly inspect: Observer<InspectionEvent> | undefined
}>() {
  static readonly none = Layer.succeed(ActorInspector, { inspect: undefined })

  static readonly fromEnv = (env: NodeJS.ProcessEnv = process.env) =>
    Layer.scoped(
      ActorInspector,
      Effect.gen(function*() {
        const url = env["SKCHAT_INSPECT"]?.trim()
        if (!url) return { inspect: undefined }
        const [{ createInspector }, { default: WebSocket }] = yield* Effect.promise(() =>
          Promise.all([import("@statelyai/inspect"), import("ws")])
        )
        const queue: Array<string> = []
        let socket: InstanceType<typeof WebSocket> | undefined
        let open = false
        let lastSend: Promise<void> = Promise.resolve()
        const transmit = (message: string) => {
          lastSend = new Promise((resolve) => socket?.send(message, () => resolve()))
        }
        const connect = () => {
          socket = new WebSocket(url)
          socket.on("open", () => {
            open = true
            for (const message of queue.splice(0)) transmit(message)
          })
          // A missing server must not break a command: inspection is a developer's aid.
          socket.on("error", () => {
            open = false
          })
        }
        const inspector = createInspector({
          start: connect,
          send: (event) => {
            const message = JSON.stringify(event)
            if (open) transmit(message)
            else queue.push(message)
          }
        })
        inspector.start()
        yield* Effect.addFinalizer(() =>
          Effect.promise(async () => {
            // @statelyai/inspect converts each inspection event on a zero-delay timer: let those run first.
            await new Promise((resolve) => setTimeout(resolve, 10))
            const deadline = Date.now() + 1000
            while (!open && queue.length > 0 && socket?.readyState === WebSocket.CONNECTING && Date.now() < deadline) {
              await new Promise((resolve) => setTimeout(resolve, 10))
            }
            if (open) await Promise.race([lastSend, new Promise((resolve) => setTimeout(resolve, 1000))])
            socket?.terminate()
          })
        )
        return { inspect: inspector.inspect }
      })
    )
}
