import type Database from "better-sqlite3"
import { afterEach, beforeEach } from "vitest"
import { historyLayer } from "../../src/entrypoints/chat-history.js"
import { provisionStore } from "./identities.js"
import { makeTempHome, storeFile, type TempHome, withDatabase } from "./temp-home.js"

/**
 * A fresh temp HOME and store for every test of the calling file, as `identity` (with a key pair, and
 * registered keys for the usual test peers so sends are sealed for real): the layer to run
 * Effect code on it, and a raw connection for looking under the hood.
 */
export const useTempStore = (identity: string) => {
  let current: TempHome | undefined
  beforeEach(async () => {
    current = makeTempHome()
    await provisionStore(current, identity)
  })
  afterEach(() => current?.remove())
  const temp = (): TempHome => {
    if (current === undefined) throw new Error("useTempStore: only inside a test")
    return current
  }
  return {
    temp,
    dbFile: () => storeFile(temp().dataDir),
    layer: () => historyLayer({ home: temp().home, dataDir: temp().dataDir, identity }),
    withRaw: <A>(f: (db: Database.Database) => A): A => withDatabase(storeFile(temp().dataDir), f)
  }
}
