/**
 * `AuthManager` (docs/login-types.md, SPEC 9.1): several `AuthX` instances, one per login type
 * (user and admin, customer and staff), side by side.
 * @module
 */
import type { AuthenticateOptions, AuthX, VerifyTokenOptions } from './authx.js'
import { ConfigError } from './errors.js'
import { joinRegistry } from './login-types.js'
import type { TokenPayload } from './payload.js'
import type { RequestLike } from './request.js'

/** Options of `manager.verifyToken`: the login type, then those of `verifyToken`. */
export interface ManagerVerifyOptions extends VerifyTokenOptions {
  /** The login type whose instance verifies the token. */
  loginType: string
}

/** Options of `manager.authenticate`: the login type, then those of `authenticate`. */
export interface ManagerAuthenticateOptions extends AuthenticateOptions {
  /** The login type whose instance authenticates the request. */
  loginType: string
}

/** The brand adapters recognise a manager by (an ESM adapter with a CJS core included). */
const MANAGER_BRAND: unique symbol = Symbol.for('authx.manager') as never

/**
 * Whether `value` is an `AuthManager` (of this copy of authx or another).
 *
 * @example
 * ```ts
 * isAuthManager(new AuthManager()) // true
 * ```
 */
export function isAuthManager(value: unknown): value is AuthManager {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { [MANAGER_BRAND]?: unknown })[MANAGER_BRAND] === true
  )
}

const isLoginType = (value: unknown, path: string): void => {
  if (typeof value !== 'string' || value.length === 0)
    throw new TypeError(`${path} must be a non-empty string`)
}

/**
 * Several login types side by side. Each registered instance has its own `loginType` (unique
 * here), keys, lifetimes and store; a token of one type is refused by every other with
 * `LoginTypeMismatchError`, even when their secrets differ.
 *
 * @example
 * ```ts
 * const users = new AuthX({ secretKey: process.env.USER_SECRET, loginType: 'user' })
 * const admins = new AuthX({ secretKey: process.env.ADMIN_SECRET, loginType: 'admin' })
 * const manager = new AuthManager([users, admins])
 * const token = await manager.get('admin').createAccessToken({ uid: 'root' })
 * const payload = await manager.verifyToken(token, { loginType: 'admin' })
 * ```
 */
export class AuthManager {
  readonly [MANAGER_BRAND] = true
  readonly #byType = new Map<string, AuthX>()

  constructor(instances: Iterable<AuthX> = []) {
    for (const auth of instances) this.register(auth)
  }

  /**
   * Adds an instance. `ConfigError` when it has no `loginType`, when its type is already here,
   * or when it belongs to another manager.
   *
   * @example
   * ```ts
   * manager.register(new AuthX({ secretKey, loginType: 'staff' }))
   * ```
   */
  register(auth: AuthX): this {
    const config = (auth as { config?: { loginType?: unknown } } | null)?.config
    if (typeof auth?.verifyToken !== 'function' || config === undefined) {
      throw new TypeError('AuthManager.register: expected an AuthX instance')
    }
    const type = auth.config.loginType
    if (type === undefined) {
      throw new ConfigError(
        "AuthManager: every instance needs a loginType (new AuthX({ ..., loginType: 'admin' }))",
      )
    }
    if (this.#byType.has(type)) throw new ConfigError(`AuthManager: login type '${type}' is registered twice`)
    if (joinRegistry(auth, this) !== undefined) {
      throw new ConfigError(
        `AuthManager: the '${type}' instance is already registered with another AuthManager`,
      )
    }
    this.#byType.set(type, auth)
    return this
  }

  /**
   * The instance of a login type; `ConfigError` for a type not registered.
   *
   * @example
   * ```ts
   * const pair = await manager.get('user').createTokenPair({ uid: '42' })
   * ```
   */
  get(loginType: string): AuthX {
    const auth = typeof loginType === 'string' ? this.#byType.get(loginType) : undefined
    if (auth === undefined) {
      const known = [...this.#byType.keys()].map((t) => `'${t}'`).join(', ') || 'none'
      throw new ConfigError(
        `AuthManager: no instance of login type ${JSON.stringify(loginType)} (registered: ${known})`,
      )
    }
    return auth
  }

  /** The registered instances, in registration order. */
  get instances(): readonly AuthX[] {
    return Object.freeze([...this.#byType.values()])
  }

  /**
   * Verifies a token with the instance of `loginType` (as its `verifyToken`). A token of another
   * registered type is `LoginTypeMismatchError`, `actual` naming its type.
   *
   * @example
   * ```ts
   * const payload = await manager.verifyToken(token, { loginType: 'admin', fresh: true })
   * ```
   */
  async verifyToken<Extra extends Record<string, unknown> = Record<string, unknown>>(
    token: string,
    options: ManagerVerifyOptions,
  ): Promise<TokenPayload<Extra>> {
    const { loginType, ...rest } = this.#checked(options, 'verifyToken')
    return this.get(loginType).verifyToken<Extra>(token, rest)
  }

  /**
   * Finds and verifies the request's token with the instance of `loginType` (as its
   * `authenticate`).
   *
   * @example
   * ```ts
   * const payload = await manager.authenticate(request, { loginType: 'user', scopes: ['orders:read'] })
   * ```
   */
  async authenticate<Extra extends Record<string, unknown> = Record<string, unknown>>(
    request: RequestLike,
    options: ManagerAuthenticateOptions,
  ): Promise<TokenPayload<Extra> | null> {
    const { loginType, ...rest } = this.#checked(options, 'authenticate')
    return this.get(loginType).authenticate<Extra>(request, rest)
  }

  #checked<T extends { loginType: string }>(options: T, call: string): T {
    if (typeof options !== 'object' || options === null) {
      throw new TypeError(`AuthManager.${call}: options with a loginType are required`)
    }
    // The other options are checked by the instance's own call.
    isLoginType(options.loginType, `AuthManager.${call}: option 'loginType'`)
    return options
  }
}
