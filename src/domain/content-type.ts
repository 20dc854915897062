import { Schema } from "effect"

/**
 * The three content types skchat itself produces. Other MIME-like strings from
 * peers are kept verbatim (INTEROP.md), so the wire type is an open string.
 */
export const KnownContentType = Schema.Literal("text/plain", "text/markdown", "text/system")
export type KnownContentType = typeof KnownContentType.Type

const shortForms: Readonly<Record<string, KnownContentType>> = {
  text: "text/plain",
  plain: "text/plain",
  markdown: "text/markdown",
  system: "text/system"
}

/** Expands the short forms the Python skchat writes (`text`, `markdown`, `system`). */
export const normalizeContentType = (raw: string): string => shortForms[raw.trim()] ?? raw.trim()

/** Wire content type: short forms in, full forms out. */
export const ContentType = Schema.transform(
  Schema.String.annotations({ message: () => "content_type must be a string" }),
  Schema.String,
  { strict: true, decode: normalizeContentType, encode: (s) => s }
).annotations({ identifier: "ContentType" })
