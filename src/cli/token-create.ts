/**
 * `authx token create`: signs an access or refresh token with the configured key and prints it,
 * and nothing else (so `TOKEN=$(authx token create --sub u1)` works).
 * @module
 */
import { type AuthX, parseDuration } from 'authx'
import { type Io, print, UsageError } from './io.js'

/** What `token create` was asked for. */
export interface CreateOptions {
  sub: string
  type: 'access' | 'refresh'
  fresh: boolean
  scopes: string[] | undefined
  data: string | undefined
  expires: string | undefined
  json: boolean
}

/**
 * Creates the token. Bad `--data` or `--expires` are usage errors (exit 2), with the core's
 * message for a reserved claim or a malformed duration.
 *
 * @example
 * ```ts
 * await tokenCreate(io, auth, { sub: 'u1', type: 'access', fresh: false, scopes: undefined, data: undefined, expires: '1h', json: false })
 * ```
 */
export async function tokenCreate(io: Io, auth: AuthX, options: CreateOptions): Promise<void> {
  if (options.fresh && options.type === 'refresh') {
    throw new UsageError('token create: --fresh is for access tokens (refresh tokens are never fresh)')
  }
  const common = {
    uid: options.sub,
    ...(options.scopes === undefined ? {} : { scopes: options.scopes }),
    ...(options.data === undefined ? {} : { data: dataOption(options.data) }),
    ...(options.expires === undefined ? {} : { expiry: durationOption(options.expires) }),
  }
  const token =
    options.type === 'refresh'
      ? await auth.createRefreshToken(common)
      : await auth.createAccessToken({ ...common, fresh: options.fresh })
  print(io, options.json, token, { token })
}

function dataOption(text: string): Record<string, unknown> {
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch {
    throw new UsageError('token create: --data must be a JSON object')
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new UsageError('token create: --data must be a JSON object')
  }
  return data as Record<string, unknown>
}

/** Whole seconds (`3600`) or a Duration (`1h`), as seconds. */
function durationOption(text: string): number {
  const seconds = parseDuration(/^[0-9]+$/.test(text) ? Number(text) : text)
  if (seconds === undefined) {
    throw new UsageError(
      'token create: --expires must be whole seconds or <n>s|m|h|d|w (30s, 15m, 1h, 7d, 2w)',
    )
  }
  return seconds
}
