import type { MessageView, ThreadView } from "../../projections/message-queries.js"

/**
 * Human output: plain aligned columns that fit the terminal, ANSI styling only on a terminal and
 * never under NO_COLOR (no-color.org). Scripts should use --json instead of parsing this.
 */
export interface Style {
  readonly color: boolean
  /** Columns to fit in; undefined when piped without COLUMNS (then nothing is cut). */
  readonly width: number | undefined
}

export const styleFor = (stream: NodeJS.WriteStream, env: NodeJS.ProcessEnv): Style => {
  const columns = stream.isTTY ? stream.columns : Number(env["COLUMNS"])
  return {
    color: colorEnabled(stream, env),
    width: Number.isFinite(columns) && columns > 0 ? columns : undefined
  }
}

export const colorEnabled = (stream: NodeJS.WriteStream, env: NodeJS.ProcessEnv): boolean =>
  stream.isTTY === true && (env["NO_COLOR"] === undefined || env["NO_COLOR"] === "") && env["TERM"] !== "dumb"

const paint = (style: Style, code: string, text: string) => (style.color ? `\x1b[${code}m${text}\x1b[0m` : text)
export const bold = (style: Style, text: string) => paint(style, "1", text)

/** One visual line: newlines and tabs would break the table. */
const flatten = (s: string) => s.replace(/[\r\n\t]+/g, " ")

const fit = (s: string, width: number) => {
  const chars = [...s]
  if (chars.length <= width) return s + " ".repeat(width - chars.length)
  return width <= 1 ? chars.slice(0, width).join("") : chars.slice(0, width - 1).join("") + "…"
}

export interface Column<R> {
  readonly header: string
  readonly value: (row: R) => string
  /** The column that takes whatever width is left (the message text). */
  readonly flexible?: boolean
  /** On a terminal too narrow for a readable text column, columns with this are left out, lowest first. */
  readonly dropOrder?: number
}

/** The text column should keep at least this much before any other column is cut. */
const READABLE_TEXT = 24

const naturalWidth = <R>(c: Column<R>, rows: ReadonlyArray<R>) =>
  Math.max([...c.header].length, ...rows.map((r) => [...flatten(c.value(r))].length))

/** Leaves out droppable columns while the text column would be squeezed below READABLE_TEXT. */
const fitColumns = <R>(all: ReadonlyArray<Column<R>>, rows: ReadonlyArray<R>, width: number) => {
  let columns = all
  const textRoom = () =>
    width - columns.reduce((sum, c) => sum + (c.flexible ? 0 : naturalWidth(c, rows) + 2), 0)
  const droppable = all.filter((c) => c.dropOrder !== undefined)
    .sort((a, b) => a.dropOrder! - b.dropOrder!)
  for (const c of droppable) {
    if (textRoom() >= READABLE_TEXT) break
    columns = columns.filter((x) => x !== c)
  }
  return columns
}

/** Narrowest a column is cut to: the text column keeps room to be read, the others a hint. */
const MIN_FLEXIBLE = 12
const MIN_FIXED = 4

export const renderTable = <R>(style: Style, all: ReadonlyArray<Column<R>>, rows: ReadonlyArray<R>): string => {
  const columns = style.width === undefined ? all : fitColumns(all, rows, style.width)
  const cells = rows.map((r) => columns.map((c) => flatten(c.value(r))))
  const gap = 2
  const widths = columns.map((c, i) =>
    Math.max([...c.header].length, ...cells.map((row) => [...row[i]!].length))
  )
  if (style.width !== undefined) {
    // Cut the text column first, then whichever column is widest, until the table fits.
    let excess = widths.reduce((a, b) => a + b, 0) + gap * (columns.length - 1) - style.width
    const floor = (i: number) => (columns[i]!.flexible ? MIN_FLEXIBLE : MIN_FIXED)
    const flexIndex = columns.findIndex((c) => c.flexible)
    if (excess > 0 && flexIndex >= 0) {
      const cut = Math.min(excess, Math.max(0, widths[flexIndex]! - MIN_FLEXIBLE))
      widths[flexIndex] = widths[flexIndex]! - cut
      excess -= cut
    }
    while (excess > 0) {
      let widest = -1
      for (let i = 0; i < widths.length; i++) {
        if (widths[i]! > floor(i) && (widest < 0 || widths[i]! > widths[widest]!)) widest = i
      }
      if (widest < 0) break
      widths[widest] = widths[widest]! - 1
      excess -= 1
    }
  }
  const line = (values: ReadonlyArray<string>) =>
    values.map((v, i) => (i === values.length - 1 ? fit(v, widths[i]!).trimEnd() : fit(v, widths[i]!)))
      .join(" ".repeat(gap))
  return [bold(style, line(columns.map((c) => c.header))), ...cells.map(line)].join("\n")
}

export const shortTime = (iso: string) => iso.replace("T", " ").replace(/(:\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2})$/, "$1$3")

/** Said in words wherever a message is shown: what the signature and encryption did not vouch for. */
export const securityMarks = (m: MessageView): ReadonlyArray<string> => [
  ...(m.verified ? [] : ["UNVERIFIED"]),
  ...(m.encrypted ? [] : ["PLAINTEXT"])
]

export const messageColumns: ReadonlyArray<Column<MessageView>> = [
  { header: "TIME", value: (m) => shortTime(m.timestamp) },
  { header: "WITH", value: (m) => `${m.direction === "in" ? "←" : "→"} ${m.peer}` },
  { header: "STATUS", value: (m) => [m.delivery_status, ...securityMarks(m)].join(" ") + (m.expires_at === null ? "" : " ⏱") },
  { header: "THREAD", value: (m) => m.thread_id ?? "", dropOrder: 2 },
  { header: "ID", value: (m) => m.id, dropOrder: 1 },
  { header: "MESSAGE", value: (m) => m.content, flexible: true }
]

export const threadColumns: ReadonlyArray<Column<ThreadView>> = [
  { header: "THREAD", value: (t) => t.id },
  { header: "TITLE", value: (t) => t.title },
  { header: "MESSAGES", value: (t) => String(t.message_count) },
  { header: "LAST ACTIVITY", value: (t) => shortTime(t.last_activity) },
  { header: "PARTICIPANTS", value: (t) => t.participants.join(", "), flexible: true }
]
