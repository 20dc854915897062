#!/usr/bin/env node
"use strict"
// Start-up is most of a CLI command's time. The bundle is compiled with a V8 code cache kept next to
// it (Node 20 has no module compile cache), refreshed whenever V8 rejects it or it is missing.
const fs = require("node:fs")
const path = require("node:path")
const vm = require("node:vm")
const Module = require("node:module")

const file = path.join(__dirname, "..", "dist", "cli.cjs")
const cacheFile = file + ".cache"
let source
try {
  source = fs.readFileSync(file, "utf8")
} catch {
  process.stderr.write("skchat: not built yet: run `npm run build` in the skchat checkout\n")
  process.exit(1)
}
let cachedData
try {
  cachedData = fs.readFileSync(cacheFile)
} catch {}
const script = new vm.Script(Module.wrap(source), { filename: file, cachedData })
if (cachedData === undefined || script.cachedDataRejected) {
  process.once("exit", () => {
    try {
      const tmp = `${cacheFile}.${process.pid}.tmp`
      fs.writeFileSync(tmp, script.createCachedData())
      fs.renameSync(tmp, cacheFile)
    } catch {}
  })
}
const mod = { exports: {} }
script.runInThisContext()(mod.exports, Module.createRequire(file), mod, file, path.dirname(file))
