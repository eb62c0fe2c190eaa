/**
 * Runs the cases on the runtime that runs this file (Node, Bun or Deno), against the built package
 * as installed in the node_modules beside it. Prints one line per case and a summary line, and
 * exits non-zero when a case failed.
 */
import { runCases } from './cases.mjs'

function runtimeName() {
  if (typeof globalThis.Bun !== 'undefined') return `bun ${globalThis.Bun.version}`
  if (typeof globalThis.Deno !== 'undefined') return `deno ${globalThis.Deno.version.deno}`
  return `node ${globalThis.process.versions.node}`
}

const runtime = runtimeName()
const { engine, results } = await runCases()
for (const r of results) console.log(`${r.ok ? 'ok  ' : 'FAIL'} ${r.name}${r.ok ? '' : `\n     ${r.error}`}`)
const passed = results.filter((r) => r.ok).length
console.log(`authx runtime cases on ${runtime} (engine ${engine}): ${passed}/${results.length} passed`)
if (passed !== results.length) {
  if (typeof globalThis.Deno !== 'undefined') globalThis.Deno.exit(1)
  globalThis.process.exit(1)
}
