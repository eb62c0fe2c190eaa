#!/usr/bin/env node
// `npm start` until the demo exists: say so plainly and exit 0, rather than pretend to run something.

const usage = `authx: JWT authentication for TypeScript (access and refresh tokens, freshness, scopes,
revocation, cookies with CSRF) for Node and Web-standard runtimes.

There is no demo yet: a runnable demo comes in a later issue. Until then, read README.md
(./README.md at the root of this repository) and the guides in docs/.

Use the library:
  import { AuthX } from 'authx'
  const auth = new AuthX({ secretKey: process.env.JWT_SECRET_KEY })

Work on it:
  npm test                 run the test suite (vitest)
  npx vitest run <file>    run one test file
  npm run build            build dist/ (ESM + CJS + types)
  npm run check:package    check the packed package (publint, attw)
  bash .ci/run             everything CI runs
`

const command = process.argv[2]
if (command === undefined) {
  console.log(usage)
} else {
  console.error(`scripts/start.mjs: unknown command '${command}' (expected no argument)`)
  process.exitCode = 2
}
