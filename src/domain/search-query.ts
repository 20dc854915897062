/**
 * Turns whatever a user typed into an FTS5 query that cannot be a syntax error: every word becomes a
 * quoted term (so `NEAR`, `AND`, `-`, `(`, `:` are just text), words are ANDed, and a trailing `*` on a
 * word keeps its prefix meaning. Returns undefined when nothing searchable is left.
 * A word is what the index's unicode61 tokenizer calls a token (letters, digits, marks), so every
 * term is a single token: the index keeps no positions (detail=none), and needs none.
 */
const wordPattern = /[\p{L}\p{N}\p{M}\p{Co}]+(\*)?/gu

export const toFtsQuery = (input: string): string | undefined => {
  const terms: Array<string> = []
  for (const match of input.normalize("NFKC").matchAll(wordPattern)) {
    const word = match[0].replace(/\*$/, "")
    if (word.length === 0) continue
    // The word pattern admits no double quote, so quoting needs no escaping.
    terms.push(match[1] === "*" ? `"${word}"*` : `"${word}"`)
    if (terms.length === 16) break
  }
  return terms.length === 0 ? undefined : terms.join(" ")
}
