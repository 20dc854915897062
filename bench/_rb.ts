import { ManagedRuntime } from "effect"
import { join } from "node:path"
import { performance } from "node:perf_hooks"
import { ChatSystem } from "../src/actors/chat-system.js"
import { historyLayer } from "../src/entrypoints/chat-history.js"
const dir = "/tmp/bigcopy"
const rt = ManagedRuntime.make(historyLayer({ home: dir, dataDir: join(dir, ".skchat") }))
const chat = await rt.runPromise(ChatSystem)
const t = performance.now()
console.log(await rt.runPromise(chat.rebuild()), ((performance.now() - t) / 1000).toFixed(2), "s")
await rt.dispose()
