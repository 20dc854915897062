import { Schema } from "effect"

/** A conversation thread as the threads projection shows it. */
export class Thread extends Schema.Class<Thread>("Thread")({
  id: Schema.String,
  title: Schema.String,
  participants: Schema.Array(Schema.String),
  message_count: Schema.Number,
  last_activity: Schema.String
}) {}
