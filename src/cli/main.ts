#!/usr/bin/env node
/**
 * The `authx` program (package.json `bin`; built to dist/cli.js). Everything it does is in
 * `run`; this file connects it to the process: arguments, stdout, stderr, stdin, environment,
 * exit code. It sets `process.exitCode` instead of calling `process.exit()`, so piped output is
 * flushed before the process ends.
 * @module
 */
import { createRequire } from 'node:module'
import { run } from './run.js'

/** The version of the package this program belongs to (`authx` resolves to itself). */
function version(): string {
  try {
    return (createRequire(import.meta.url)('authx/package.json') as { version: string }).version
  } catch {
    return 'unknown'
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

run(process.argv.slice(2), {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  readStdin,
  env: process.env,
  version: version(),
}).then((code) => {
  process.exitCode = code
})
