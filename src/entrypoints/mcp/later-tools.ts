import { Effect } from "effect"
import { InvalidInput } from "../../domain/errors.js"
import { agentTool } from "./agent-tool.js"
import * as schema from "./tool-schemas.js"

/**
 * Tools whose capabilities are not built yet, registered now with their final schemas so that agents and
 * their hosts can be configured once. Each answers with a tool error saying so — never a pretend success.
 */
const notYet = (what: string, meanwhile: string) =>
  Effect.fail(new InvalidInput({ message: `not available yet: ${what} is not in this version of skchat; ${meanwhile}` }))

export const laterTools = [
  agentTool({
    name: "create_group",
    title: "Create a group",
    description: "Create a group chat with registered peers. (Not available yet in this version.)",
    schema: schema.createGroup,
    annotations: { openWorldHint: true },
    run: () => notYet("group chat", "message each member with send_message meanwhile")
  })
]
