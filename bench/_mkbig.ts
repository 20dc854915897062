import { ManagedRuntime } from "effect"
import { join } from "node:path"
import { ChatSystem } from "../src/actors/chat-system.js"
import { historyLayer } from "../src/entrypoints/chat-history.js"
import { syntheticMessage } from "./message-fixture.js"
const dir = "/tmp/big"
const rt = ManagedRuntime.make(historyLayer({ home: dir, dataDir: join(dir, ".skchat") }))
const chat = await rt.runPromise(ChatSystem)
const t = Date.now()
for (let s = 0; s < 1_000_000; s += 5000) {
  const m = []; for (let i = s; i < s + 5000; i++) m.push(syntheticMessage(i))
  await rt.runPromise(chat.recordAll(m))
}
console.log("filled in", (Date.now() - t) / 1000, "s")
await rt.dispose()
