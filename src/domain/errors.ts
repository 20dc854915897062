import { Schema } from "effect"

/** Input a person or peer gave us that does not validate. `message` is one actionable line. */
export class InvalidInput extends Schema.TaggedError<InvalidInput>()("InvalidInput", {
  message: Schema.String
}) {}

/** A recipient name that matches no peer. */
export class UnknownRecipient extends Schema.TaggedError<UnknownRecipient>()("UnknownRecipient", {
  name: Schema.String,
  suggestions: Schema.Array(Schema.String)
}) {
  override get message(): string {
    const hint = this.suggestions.length > 0 ? ` Did you mean: ${this.suggestions.join(", ")}?` : ""
    return `unknown recipient "${this.name}": no peer in ~/.skcapstone/peers has that name or handle` +
      ` (a capauth:name@host URI works for anyone).${hint}`
  }
}

/** The local store could not be opened, read or written. */
export class StoreError extends Schema.TaggedError<StoreError>()("StoreError", {
  message: Schema.String
}) {}

/** The event log's hash chain does not hold. */
export class LogDamaged extends Schema.TaggedError<LogDamaged>()("LogDamaged", {
  seq: Schema.Number,
  reason: Schema.String
}) {
  override get message(): string {
    return `event log damaged at sequence ${this.seq}: ${this.reason}`
  }
}

/** A config or identity file exists but cannot be understood. */
export class ConfigError extends Schema.TaggedError<ConfigError>()("ConfigError", {
  message: Schema.String
}) {}
