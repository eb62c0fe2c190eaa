/**
 * Requests for core tests: one neutral description of a request, turned into a Web `Request` or
 * into a request view built by hand the way an adapter builds one, so every case runs on both.
 */
import fc from 'fast-check'
import { vi } from 'vitest'
import type { AuthXRequest, RequestLike } from '../../src/index.js'

/** Any UTF-16 string, lone surrogates included (fast-check's 'binary' unit is slow to generate). */
export function anyUtf16(maxLength: number): fc.Arbitrary<string> {
  return fc
    .array(fc.integer({ min: 0, max: 0xffff }), { maxLength })
    .map((codes) => String.fromCharCode(...codes))
}

/** A neutral description of a request. */
export interface Spec {
  method?: string
  url?: string
  headers?: Record<string, string>
  body?: string | FormData
}

export function web(spec: Spec): Request {
  const init: RequestInit = { method: spec.method ?? 'GET' }
  if (spec.headers !== undefined) init.headers = spec.headers
  if (spec.body !== undefined) init.body = spec.body
  return new Request(new URL(spec.url ?? '/api', 'https://app.test'), init)
}

/** A hand-made request view; `form` is a spy so tests can tell whether the body was read. */
export function view(spec: Spec): AuthXRequest & { form: ReturnType<typeof vi.fn> } {
  const url = new URL(spec.url ?? '/api', 'https://app.test')
  const headers = new Map(Object.entries(spec.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]))
  const cookies = new Map<string, string>()
  for (const pair of (headers.get('cookie') ?? '').split(';')) {
    const eq = pair.indexOf('=')
    const name = pair.slice(0, eq).trim()
    if (eq > 0 && !cookies.has(name)) cookies.set(name, pair.slice(eq + 1).trim())
  }
  const type = (headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase()
  const body = spec.body
  return {
    method: spec.method ?? 'GET',
    path: url.pathname,
    header: (name) => headers.get(name.toLowerCase()),
    cookie: (name) => cookies.get(name),
    query: (name) => url.searchParams.get(name) ?? undefined,
    json: async () => {
      if (type !== 'application/json' || typeof body !== 'string') return undefined
      try {
        return JSON.parse(body)
      } catch {
        return undefined
      }
    },
    form: vi.fn(async () => {
      if (body instanceof FormData) return Object.fromEntries(body)
      if (type === 'application/x-www-form-urlencoded' && typeof body === 'string')
        return Object.fromEntries(new URLSearchParams(body))
      return undefined
    }),
  }
}

export const KINDS: [string, (spec: Spec) => RequestLike][] = [
  ['Web Request', web],
  ['request view', view],
]
