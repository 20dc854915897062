import { Options } from "@effect/cli"
import { Console, Effect } from "effect"
import { InvalidInput } from "../../domain/errors.js"
import { type Column, renderTable, styleFor } from "./render.js"

export const json = Options.boolean("json").pipe(
  Options.withDescription("print a JSON array (wire field names) instead of a table")
)

/** `--limit/-n N`, a positive whole number, as the Python skchat spells it. */
export const limit = (fallback: number) =>
  Options.integer("limit").pipe(
    Options.withAlias("n"),
    Options.withDefault(fallback),
    Options.withDescription(`how many to show (default ${fallback})`)
  )

export const checkLimit = (n: number) =>
  n > 0 && n <= 100_000 ? Effect.succeed(n) : Effect.fail(new InvalidInput({ message: "--limit must be between 1 and 100000" }))

/** A listing: JSON for scripts and agents, an aligned table (or a friendly line when empty) for people. */
export const printRows = <R>(
  asJson: boolean,
  rows: ReadonlyArray<R>,
  columns: ReadonlyArray<Column<R>>,
  whenEmpty: string
) =>
  Console.log(
    asJson
      ? JSON.stringify(rows, null, 2)
      : rows.length === 0
      ? whenEmpty
      : renderTable(styleFor(process.stdout, process.env), columns, rows)
  )
