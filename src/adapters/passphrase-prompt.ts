/**
 * Asks for a passphrase on the terminal without echoing it. Only ever called when stdin is a terminal:
 * without one, nothing may wait for input (an agent or a daemon would hang).
 */
export const promptPassphrase = (question: string): Promise<string> =>
  new Promise((resolve, reject) => {
    const stdin = process.stdin
    if (!stdin.isTTY) {
      reject(new Error("no terminal to ask for a passphrase on"))
      return
    }
    // Echo goes off before the question is shown: an answer typed the moment it appears is never echoed.
    stdin.setRawMode(true)
    stdin.resume()
    process.stderr.write(question)
    let answer = ""
    const finish = (error?: Error) => {
      stdin.setRawMode(false)
      stdin.pause()
      stdin.removeListener("data", onData)
      process.stderr.write("\n")
      if (error === undefined) resolve(answer)
      else reject(error)
    }
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString("utf8")) {
        if (ch === "\r" || ch === "\n") return finish()
        if (ch === "\u0003") return finish(new Error("interrupted"))
        if (ch === "\u007f" || ch === "\b") answer = answer.slice(0, -1)
        else answer += ch
      }
    }
    stdin.on("data", onData)
  })
