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

/** A command that signs or decrypts, run before `skchat init` made a key pair. */
export class IdentityMissing extends Schema.TaggedError<IdentityMissing>()("IdentityMissing", {
  keyFile: Schema.String
}) {
  override get message(): string {
    return `no identity key at ${this.keyFile}: run \`skchat init\` first`
  }
}

/** `skchat init` where an identity already exists. */
export class IdentityExists extends Schema.TaggedError<IdentityExists>()("IdentityExists", {
  keyFile: Schema.String,
  fingerprint: Schema.String
}) {
  override get message(): string {
    return `an identity already exists (${this.fingerprint}, ${this.keyFile}); ` +
      "use --force to replace it (the old key is kept beside it)"
  }
}

/** Fail closed: no key to encrypt to, and no explicit `--plaintext`. */
export class MissingRecipientKey extends Schema.TaggedError<MissingRecipientKey>()("MissingRecipientKey", {
  recipient: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `no usable public key for ${this.recipient} (${this.reason}): add one with` +
      " `skchat peers add NAME --key FILE.asc` (or send with --plaintext to send it unencrypted on purpose)"
  }
}

/** A peer's registered key is not the one pinned when the peer was first added or used. */
export class KeyChanged extends Schema.TaggedError<KeyChanged>()("KeyChanged", {
  peer: Schema.String,
  pinned: Schema.String,
  found: Schema.String
}) {
  override get message(): string {
    return `the key of ${this.peer} changed: pinned ${this.pinned}, now ${this.found}. ` +
      "Compare safety numbers with them (`skchat identity fingerprint NAME`), then " +
      "`skchat peers remove NAME` and `skchat peers add NAME --key FILE.asc` to accept the new key"
  }
}

/** The private key is passphrase-protected and no passphrase could be asked for or was right. */
export class PassphraseRequired extends Schema.TaggedError<PassphraseRequired>()("PassphraseRequired", {
  message: Schema.String
}) {}

/**
 * A send whose idempotency key is already in the log. `sameRequest`: it was for the same recipient, text and
 * options (a retry: the message was sent once, as `messageId`); otherwise the key was reused for another one.
 */
export class IdempotencyKeyUsed extends Schema.TaggedError<IdempotencyKeyUsed>()("IdempotencyKeyUsed", {
  key: Schema.String,
  messageId: Schema.String,
  sameRequest: Schema.Boolean
}) {
  override get message(): string {
    return this.sameRequest
      ? `idempotency key "${this.key}" was already used: message ${this.messageId} was sent once and is not sent again`
      : `idempotency key "${this.key}" was already used for a different message (${this.messageId}): ` +
        "use a new key for a new message"
  }
}
