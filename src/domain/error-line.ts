/** The first line of whatever was thrown: what a one-line error message or a log line can show. */
export const errorLine = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split("\n")[0] ?? ""
