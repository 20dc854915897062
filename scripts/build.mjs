// Bundles the CLI (one CommonJS file, so the bin can load it with a V8 code cache) and the library,
// then warms the code cache by running the CLI once against a throw-away store.
import { build } from "esbuild"
import { execFileSync } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("..", import.meta.url))
rmSync(join(root, "dist"), { recursive: true, force: true })

await build({
  entryPoints: [join(root, "src/entrypoints/cli/main.ts")],
  outfile: join(root, "dist/cli.cjs"),
  bundle: true,
  platform: "node",
  target: "node20",
  format: "cjs",
  minify: true,
  sourcemap: false,
  legalComments: "none",
  // Native addons: loaded from node_modules at run time.
  external: ["better-sqlite3", "node-datachannel"],
  // CommonJS has no import.meta; the code that needs a module URL falls back to __filename.
  define: { "import.meta.url": "undefined" },
  // OpenPGP.js's own CommonJS build: its ES build needs import.meta.url. It is imported dynamically,
  // so it is bundled (and in the code cache) but only initialised by the commands that sign or decrypt.
  plugins: [{
    name: "openpgp-cjs",
    setup: (b) => b.onResolve({ filter: /^openpgp$/ }, () => ({
      path: join(root, "node_modules/openpgp/dist/node/openpgp.min.cjs")
    }))
  }],
  logLevel: "warning"
})

await build({
  entryPoints: [join(root, "src/index.ts")],
  outfile: join(root, "dist/index.mjs"),
  bundle: true,
  platform: "node",
  target: "node20",
  format: "esm",
  packages: "external",
  logLevel: "warning"
})

const scratch = mkdtempSync(join(tmpdir(), "skchat-build-"))
try {
  const env = { ...process.env, HOME: scratch, SKCHAT_HOME: join(scratch, ".skchat"), NO_COLOR: "1" }
  const run = (...args) =>
    execFileSync(process.execPath, [join(root, "bin/skchat.cjs"), ...args], { env, stdio: ["ignore", "pipe", "ignore"] })
  // Every path worth caching: start-up, key generation, sealing (OpenPGP.js), reads and search.
  run("inbox")
  run("init", "--name", "warmup")
  const keyFile = join(scratch, "warmup.asc")
  writeFileSync(keyFile, run("identity", "export"))
  run("peers", "add", "echo", "--key", keyFile, "--uri", "capauth:echo@localhost")
  run("send", "echo", "warm-up")
  run("search", "warm")
} finally {
  rmSync(scratch, { recursive: true, force: true })
}
console.log("skchat built: dist/cli.cjs, dist/index.mjs")
