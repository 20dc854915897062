import { ParseResult } from "effect"

/**
 * One line a person can act on: `ttl: must be a positive whole number of seconds; content: must not be empty`.
 * The tree formatter's multi-line output is fine for developers but not for a CLI error.
 */
export const formatParseError = (error: ParseResult.ParseError): string => {
  const issues = ParseResult.ArrayFormatter.formatErrorSync(error)
  const seen = new Set<string>()
  const parts: Array<string> = []
  for (const issue of issues) {
    const where = issue.path.length > 0 ? `${issue.path.join(".")}: ` : ""
    const message = issue.message.replace(/\s+/g, " ").trim()
    const line = issue._tag === "Missing" ? `${where}is required` : `${where}${message}`
    if (!seen.has(line)) {
      seen.add(line)
      parts.push(line)
    }
  }
  return parts.join("; ")
}
