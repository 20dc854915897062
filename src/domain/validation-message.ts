import { ParseResult } from "effect"

/** What an optional/nullable wrapper adds for every value that is not null or absent: noise. */
const wrapperNoise = /^Expected (null|undefined), actual /

/**
 * One line a person can act on: `ttl: must be a positive whole number of seconds; content: must not be empty`.
 * The tree formatter's multi-line output is fine for developers but not for a CLI error. Per field, the
 * specific reasons win over the "Expected null / undefined" that optional and nullable wrappers add.
 */
export const formatParseError = (error: ParseResult.ParseError): string => {
  const byPath = new Map<string, Array<string>>()
  for (const issue of ParseResult.ArrayFormatter.formatErrorSync(error)) {
    const where = issue.path.length > 0 ? `${issue.path.join(".")}: ` : ""
    const message = issue._tag === "Missing" ? "is required" : issue.message.replace(/\s+/g, " ").trim()
    const list = byPath.get(where) ?? []
    if (!list.includes(message)) list.push(message)
    byPath.set(where, list)
  }
  const parts: Array<string> = []
  for (const [where, messages] of byPath) {
    const specific = messages.filter((m) => !wrapperNoise.test(m))
    for (const m of specific.length > 0 ? specific : messages.slice(0, 1)) parts.push(`${where}${m}`)
  }
  return parts.join("; ")
}
