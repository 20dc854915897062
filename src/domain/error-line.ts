import { Cause, Option } from "effect"

const messageOf = (e: unknown): string =>
  e instanceof Error
    ? e.message
    : e !== null && typeof e === "object" && "message" in e && typeof e.message === "string"
    ? e.message
    : String(e)

/** The first line of whatever was thrown: what a one-line error message or a log line can show. */
export const errorLine = (e: unknown): string => messageOf(e).split("\n")[0] ?? ""

/**
 * A failed Effect's cause as one line: the error's message, `interrupted` when it was only interrupted,
 * else `internal error: ...` (a defect). A stack trace is never shown.
 */
export const causeLine = (cause: Cause.Cause<unknown>, interrupted = "interrupted"): string => {
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) return errorLine(failure.value)
  if (Cause.isInterruptedOnly(cause)) return interrupted
  return `internal error: ${errorLine(Cause.squash(cause))}`
}
