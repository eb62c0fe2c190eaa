/**
 * The browser client of docs/dpop.md ("A browser client") is the demo's own
 * examples/demo/public/dpop.js, which test/e2e/demo.e2e.ts runs in Chromium: the guide must show
 * that file exactly, so that the code readers copy is the code that was tested.
 */
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { codeBlocks } from './support/markdown.js'

const guide = fileURLToPath(new URL('../docs/dpop.md', import.meta.url))
const client = fileURLToPath(new URL('../examples/demo/public/dpop.js', import.meta.url))

const guideExists = existsSync(guide)

describe('the browser client of the DPoP guide', () => {
  // Skipped only while the guide does not exist; once it does, a guide without the code fails.
  it.skipIf(!guideExists)(
    guideExists
      ? 'docs/dpop.md shows examples/demo/public/dpop.js verbatim in a js block'
      : 'docs/dpop.md shows examples/demo/public/dpop.js (skipped: docs/dpop.md does not exist yet)',
    () => {
      const code = readFileSync(client, 'utf8')
      const blocks = codeBlocks(readFileSync(guide, 'utf8')).filter((block) => block.lang === 'js')
      expect(
        blocks.some((block) => block.code === code),
        'docs/dpop.md has no ```js block equal to examples/demo/public/dpop.js: paste it into "A browser client"',
      ).toBe(true)
    },
  )
})
