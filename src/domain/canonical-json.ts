/**
 * The bytes a signature covers (DESIGN.md §2): object keys sorted recursively by UTF-16 code unit, no
 * whitespace, UTF-8. Two implementations that agree on this agree on the signed bytes, whatever order
 * their JSON libraries emit. `undefined` members are left out, as JSON.stringify does.
 */
export const canonicalJson = (value: unknown): string => {
  if (value === null || typeof value !== "object") {
    const text = JSON.stringify(value)
    if (text === undefined) throw new TypeError(`cannot encode ${typeof value} as canonical JSON`)
    return text
  }
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? "null" : canonicalJson(v))).join(",")}]`
  const record = value as Record<string, unknown>
  const members: Array<string> = []
  for (const key of Object.keys(record).sort()) {
    const v = record[key]
    if (v !== undefined) members.push(`${JSON.stringify(key)}:${canonicalJson(v)}`)
  }
  return `{${members.join(",")}}`
}
