/**
 * The optional peer dependencies (SPEC section 1) accept the majors users install today, so
 * `npm install authx ioredis` does not fail on a peer conflict when a new major comes out.
 * test/support/current-majors.json lists the current major of each peer, as checked on the npm
 * registry (its `comment` says when and how); this test holds package.json to it.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { major, satisfies, validRange } from 'semver'
import { describe, expect, it } from 'vitest'

const root = join(import.meta.dirname, '..')

interface PackageJson {
  dependencies?: Record<string, string>
  peerDependencies?: Record<string, string>
  peerDependenciesMeta?: Record<string, { optional?: boolean }>
  devDependencies?: Record<string, string>
}

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as PackageJson

interface CurrentMajor {
  major: number
  /** The dist-tag latest when the list was checked. */
  latest: string
  /** The first release of the major that authx works with, when not `<major>.0.0`. */
  from?: string
  note?: string
}

const current = JSON.parse(readFileSync(join(root, 'test', 'support', 'current-majors.json'), 'utf8')) as {
  comment: string
  checked: string
  peers: Record<string, CurrentMajor>
}
const peers = pkg.peerDependencies ?? {}
const listed = Object.entries(current.peers)

describe('peer dependencies', () => {
  it('the list of current majors says when it was checked', () => {
    expect(current.comment).toMatch(/npm view/)
    expect(Number.isNaN(Date.parse(current.checked))).toBe(false)
    expect(current.comment).toContain(current.checked)
  })

  it('every peer has an entry in the list of current majors, and every entry is a peer', () => {
    expect(Object.keys(current.peers).sort()).toEqual(Object.keys(peers).sort())
  })

  it('every peer range is a valid semver range', () => {
    const invalid = Object.entries(peers).filter(([, range]) => validRange(range) === null)
    expect(invalid).toEqual([])
  })

  it('every entry is consistent: latest and from belong to the major', () => {
    const wrong = listed.filter(
      ([, c]) => major(c.latest) !== c.major || (c.from !== undefined && major(c.from) !== c.major),
    )
    expect(wrong).toEqual([])
  })

  it.each(listed)('the %s range accepts its whole current major', (name, c) => {
    const range = peers[name]
    expect(range, `${name} is not a peer`).toBeDefined()
    for (const version of [c.from ?? `${c.major}.0.0`, c.latest]) {
      expect(satisfies(version, range as string), `${name}@${version} against "${range}"`).toBe(true)
    }
  })

  it('every peer is optional: installing authx pulls in no framework or store client', () => {
    const meta = pkg.peerDependenciesMeta ?? {}
    const required = Object.keys(peers).filter((name) => meta[name]?.optional !== true)
    expect(required).toEqual([])
    expect(Object.keys(meta).sort()).toEqual(Object.keys(peers).sort())
  })

  it('the version of each peer the tests run against is one the peer range accepts', () => {
    const outside = Object.entries(peers).flatMap(([name, range]) => {
      if (pkg.devDependencies?.[name] === undefined) return []
      const { version } = JSON.parse(
        readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8'),
      ) as { version: string }
      return satisfies(version, range) ? [] : [`${name}@${version} against "${range}"`]
    })
    expect(outside).toEqual([])
  })

  it('authx/fastify needs nothing but fastify: fastify-plugin is neither a dependency nor a peer', () => {
    expect(pkg.dependencies?.['fastify-plugin']).toBeUndefined()
    expect(peers['fastify-plugin']).toBeUndefined()
  })
})
