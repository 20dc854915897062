import { appendFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { installIdentity, registerPeer } from "./identities.js"
import { makeTempHome, type TempHome } from "./temp-home.js"

/** One person of a chatting pair: their temp home and the folders their file transport uses. */
export interface Chatter extends TempHome {
  readonly name: string
  readonly uri: string
  readonly inbox: string
  readonly outbox: string
  readonly archive: string
}

export interface ChattingPair {
  readonly alice: Chatter
  readonly bob: Chatter
  /** The folder both transports' folders live in. */
  readonly shared: string
  readonly remove: () => void
}

/** The file transport section of config.yml, with extra `skchat:` lines appended after it. */
export const fileTransportConfig = (uri: string, inbox: string, outbox: string, extra = ""): string =>
  `skchat:\n  identity:\n    uri: ${uri}\n  transports:\n    file:\n      enabled: true\n      priority: 1\n` +
  `      settings:\n        inbox_path: ${inbox}\n        outbox_path: ${outbox}\n${extra}`

/**
 * Alice and bob, each in their own temp home with a key pair and the other as a registered peer, and a
 * file transport over a shared folder where one side's outbox is the other side's inbox (SKComm's layout;
 * Syncthing or NFS would carry the files in real life). `extra` is appended to both config.yml files.
 */
export const makeChattingPair = async (extra = ""): Promise<ChattingPair> => {
  const shared = mkdtempSync(join(tmpdir(), "skchat-shared-"))
  const toBob = join(shared, "alice-to-bob")
  const toAlice = join(shared, "bob-to-alice")
  const make = async (name: string, inbox: string, outbox: string, peer: string): Promise<Chatter> => {
    const home = makeTempHome()
    const uri = `capauth:${name}@skworld.io`
    await installIdentity(home, name, uri, { writeConfig: false })
    await registerPeer(home, peer)
    mkdirSync(home.dataDir, { recursive: true })
    appendFileSync(join(home.dataDir, "config.yml"), fileTransportConfig(uri, inbox, outbox, extra))
    return { ...home, name, uri, inbox, outbox, archive: join(shared, "archive") }
  }
  const alice = await make("alice", toAlice, toBob, "bob")
  const bob = await make("bob", toBob, toAlice, "alice")
  return {
    alice,
    bob,
    shared,
    remove: () => {
      alice.remove()
      bob.remove()
      rmSync(shared, { recursive: true, force: true })
    }
  }
}
