import { afterEach, beforeEach } from "vitest"
import { installIdentity, registerPeer } from "./identities.js"
import { makeTempHome, type TempHome } from "./temp-home.js"

/**
 * Two people for every test of the calling file: alice and bob, each in a temp home with their own key
 * pair and the other registered as a peer. Removed after each test.
 */
export const useAliceAndBob = () => {
  let pair: { alice: TempHome; bob: TempHome } | undefined
  beforeEach(async () => {
    pair = { alice: makeTempHome(), bob: makeTempHome() }
    await installIdentity(pair.alice, "alice")
    await registerPeer(pair.alice, "bob")
    await installIdentity(pair.bob, "bob")
    await registerPeer(pair.bob, "alice")
  })
  afterEach(() => {
    pair?.alice.remove()
    pair?.bob.remove()
  })
  const get = () => {
    if (pair === undefined) throw new Error("useAliceAndBob: only inside a test")
    return pair
  }
  return { alice: () => get().alice, bob: () => get().bob }
}
