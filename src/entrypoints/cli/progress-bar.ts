import { humanBytes } from "../../domain/file-attachment.js"

/**
 * A one-line progress bar with rate and time left, redrawn in place on a terminal's stderr (never on a pipe:
 * a log would fill with carriage returns).
 */
export const makeProgressBar = (stream: NodeJS.WriteStream, total: number) => {
  const started = Date.now()
  const draw = stream.isTTY === true
  let shown = false
  return {
    update: (done: number) => {
      if (!draw) return
      const seconds = Math.max(0.001, (Date.now() - started) / 1000)
      const rate = done / seconds
      const fraction = total === 0 ? 1 : Math.min(1, done / total)
      const width = 24
      const filled = Math.round(fraction * width)
      const eta = rate > 0 && done < total ? `ETA ${Math.ceil((total - done) / rate)}s` : ""
      stream.write(`\r[${"#".repeat(filled)}${".".repeat(width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}% ` +
        `${humanBytes(done)} of ${humanBytes(total)}, ${humanBytes(Math.round(rate))}/s ${eta}\x1b[K`)
      shown = true
    },
    end: () => {
      if (shown) stream.write("\n")
    }
  }
}
