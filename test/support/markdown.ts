/**
 * Code-block extraction for the docs tests: every fenced block of a Markdown file, with the
 * line of its opening fence, so a failing sample is reported as `docs/keys.md:42`.
 * @module
 */

/** One fenced code block. */
export interface CodeBlock {
  /** 1-based line of the opening fence. */
  line: number
  /** 1-based line of the closing fence. */
  endLine: number
  /** First word of the info string (`ts`, `sh`, ...); `''` when there is none. */
  lang: string
  /** The other words of the info string (`nocheck`, ...). */
  meta: string[]
  /** The block's text, without the fences. */
  code: string
}

const FENCE = /^( {0,3})(`{3,}|~{3,})(.*)$/

/**
 * Every fenced code block of a Markdown text, in order. An unclosed fence is an error: it would
 * silently swallow the rest of the file.
 *
 * @example
 * ```ts
 * codeBlocks('```ts\nconst a = 1\n```\n') // [{ line: 1, endLine: 3, lang: 'ts', meta: [], code: 'const a = 1\n' }]
 * ```
 */
export function codeBlocks(markdown: string): CodeBlock[] {
  const lines = markdown.split('\n')
  const blocks: CodeBlock[] = []
  let open: { line: number; indent: number; fence: string; lang: string; meta: string[] } | undefined
  let body: string[] = []
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i] as string
    const match = FENCE.exec(text)
    if (open === undefined) {
      if (match === null) continue
      const [, indent = '', fence = '', info = ''] = match
      const [lang = '', ...meta] = info.trim().split(/\s+/).filter(Boolean)
      open = { line: i + 1, indent: indent.length, fence, lang, meta }
      body = []
    } else if (
      match !== null &&
      match[3]?.trim() === '' &&
      match[2]?.[0] === open.fence[0] &&
      (match[2]?.length ?? 0) >= open.fence.length
    ) {
      blocks.push({
        line: open.line,
        endLine: i + 1,
        lang: open.lang,
        meta: open.meta,
        code: `${body.join('\n')}\n`,
      })
      open = undefined
    } else {
      // Strip at most the fence's own indentation, as CommonMark does.
      const strip = Math.min(open.indent, text.length - text.trimStart().length)
      body.push(text.slice(strip))
    }
  }
  if (open !== undefined) throw new Error(`unclosed code fence opened on line ${open.line}`)
  return blocks
}

/** Whether a block is a TypeScript sample the docs test must run (` ```ts ` without `nocheck`). */
export function isRunnable(block: CodeBlock): boolean {
  return (block.lang === 'ts' || block.lang === 'typescript') && !block.meta.includes('nocheck')
}

/**
 * The module specifiers a sample imports (static `import ... from`, side-effect imports and
 * dynamic `import()` with a string literal).
 *
 * @example
 * ```ts
 * importedModules("import { AuthX } from 'authx'") // ['authx']
 * ```
 */
export function importedModules(code: string): string[] {
  const found: string[] = []
  const patterns = [
    /\bfrom\s*(['"])([^'"]+)\1/g,
    /^\s*import\s*(['"])([^'"]+)\1/gm,
    /\bimport\s*\(\s*(['"])([^'"]+)\1\s*\)/g,
  ]
  for (const pattern of patterns) for (const m of code.matchAll(pattern)) found.push(m[2] as string)
  return found
}

/**
 * Relative Markdown link targets (`[text](./file.md#anchor)`), without the anchor; external
 * links (with a scheme) and pure anchors are left out.
 *
 * @example
 * ```ts
 * relativeLinks('see [keys](./keys.md#kid)') // ['./keys.md']
 * ```
 */
export function relativeLinks(markdown: string): string[] {
  const lines = markdown.split('\n')
  for (const block of codeBlocks(markdown)) lines.fill('', block.line - 1, block.endLine)
  // Inline code spans are not links either.
  const withoutCode = lines.join('\n').replace(/`[^`\n]*`/g, '')
  const links: string[] = []
  for (const m of withoutCode.matchAll(/\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
    const target = m[1] as string
    if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('#')) continue
    links.push(target.split('#')[0] as string)
  }
  return links
}
