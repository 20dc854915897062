#!/usr/bin/env node
"use strict"
// The MCP server as a plain command for an MCP host's config: `node /path/to/skchat/bin/skchat-mcp.cjs`
// is `skchat mcp`.
process.argv.splice(2, 0, "mcp")
require("./skchat.cjs")
