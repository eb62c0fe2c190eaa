/**
 * `AuthX`: creates, decodes, verifies and revokes tokens. All options are checked and all keys
 * imported in the constructor; the per-call paths only use what it prepared.
 * @module
 */
import type { JWK } from 'jose'
import { MemoryStore } from '../stores/memory.js'
import { checkBinding, unbound } from './binding.js'
import {
  AUTHENTICATE_CHECKS,
  type AuthenticateOptions,
  COOKIE_CHECKS,
  type CookieCallOptions,
  CREATE_CHECKS,
  CREATE_REFRESH_CHECKS,
  checkCallOptions,
  GET_TOKEN_CHECKS,
  PAIR_CHECKS,
  REFRESH_CHECKS,
  scopeArguments,
  VERIFY_CHECKS,
  type VerifyTokenOptions,
} from './call-options.js'

export type { AuthenticateOptions, CookieCallOptions, VerifyTokenOptions } from './call-options.js'

import {
  buildClaims,
  type CreateAccessTokenOptions,
  type CreateRefreshTokenOptions,
  type CreateTokenPairOptions,
  extraHeaders,
  type TokenPair,
  type TokenSpec,
} from './claims.js'
import { type ResolvedConfig, resolveConfig } from './config.js'
import { clearCookies, tokenCookies } from './cookies.js'
import { constantTimeEqual } from './csrf.js'
import { createDecoder, type Decoder, parseSegment, parseToken } from './decode.js'
import { DPoP } from './dpop/index.js'
import { durationSeconds } from './duration.js'
import { createJoseEngine } from './engine/jose.js'
import { createNodeEngine } from './engine/node.js'
import type { Engine, EngineKey } from './engine/types.js'
import { optionsFromEnv, renameEnvError } from './env.js'
import {
  AccessTokenRequiredError,
  AuthXError,
  ConfigError,
  CSRFError,
  FreshTokenRequiredError,
  InsufficientScopeError,
  InvalidTokenError,
  RefreshTokenRequiredError,
  RevokedTokenError,
} from './errors.js'
import { type AuthXEventName, type AuthXEvents, type AuthXListener, Emitter } from './events.js'
import { extractToken, failedLocation, type GetTokenOptions, type RequestToken } from './extract.js'
import { type ImplicitRefreshContext, implicitRefreshCookies } from './implicit-refresh.js'
import { checkKeySpec, importKeyNode, importKeyWeb, type KeyEntry } from './keys.js'
import { checkLoginType, decodeForLoginType } from './login-types.js'
import { type OpenAPIOptions, type OpenAPISecurity, openapiSecurity } from './openapi.js'
import type { AuthXOptions } from './options.js'
import { markVerified, TokenPayload, type TokenType, verifiedToken } from './payload.js'
import { Policy, type PolicyOptions } from './policy.js'
import { RateLimiter, type RateLimiterOptions } from './rate-limit.js'
import { type AuthXRequest, type RequestLike, toRequestView } from './request.js'
import { localResolver, remoteResolver } from './resolvers.js'
import { NO_EXPIRY, Revoker } from './revoker.js'
import { type RefreshOptions, type RotationContext, rotate } from './rotation.js'
import {
  type LogoutAnswer,
  logoutAnswer,
  type RefreshRouteOptions,
  type RouteAnswer,
  type RouteContext,
  refreshAnswer,
  refreshRouteOptions,
} from './routes.js'
import { nodeCrypto } from './runtime.js'
import { hasAllScopes, hasSomeScope } from './scopes.js'
import { Sessions } from './sessions.js'
import type { AuthXStore } from './store.js'
import { createTelemetry, type Telemetry, type TelemetryOperation } from './telemetry.js'
import { TokenCache } from './token-cache.js'
import { headerTyp } from './token-types.js'
import {
  type UpgradeRequest,
  WEBSOCKET_CHECKS,
  type WebSocketAuthOptions,
  websocketToken,
} from './websocket.js'

/** Where `authenticate` found the token, for the `verify.failed` event. */
interface Attempt {
  location: string | undefined
}

/** A guard: authenticates a request and resolves to its payload. */
export type RequestGuard = (request: RequestLike) => Promise<TokenPayload>

/** Loads the user of a verified token, for `getCurrentSubject`. */
export type SubjectGetter<Subject = unknown> = (
  uid: string,
  payload: TokenPayload,
) => Subject | Promise<Subject>

/** The result of `decodeUnverified`: header and claims, unchecked. */
export interface UnverifiedToken {
  header: Record<string, unknown>
  payload: Record<string, unknown>
}

/** A public JWK set, for `/.well-known/jwks.json`. */
export interface JwkSet {
  keys: JWK[]
}

/** The default options object of the hot paths: known to be valid, so not checked per call. */
const NO_OPTIONS = Object.freeze({})
/** Options objects already checked by `guardOptions`: guards skip the per-request check. */
const checkedOptions = new WeakSet<object>()
/** Route options already checked by `refreshRouteOptions`. */
const checkedRouteOptions = new WeakSet<object>()

/**
 * The authx instance.
 *
 * @example
 * ```ts
 * const auth = new AuthX({ secretKey: process.env.JWT_SECRET_KEY })
 * const token = await auth.createAccessToken({ uid: 'user123', fresh: true })
 * const payload = await auth.verifyToken(token, { fresh: true })
 * ```
 */
export class AuthX {
  /** The validated configuration with every default applied. */
  readonly config: ResolvedConfig
  /** The store revocations and refresh-token use are kept in. */
  readonly store: AuthXStore
  /** Sessions linked to tokens (docs/sessions.md): list, get and end a user's sessions. */
  readonly sessions: Sessions
  readonly #engine: Engine
  readonly #keys: KeyEntry[] | Promise<KeyEntry[]>
  readonly #decode: Decoder
  #subjectGetter: SubjectGetter | undefined
  readonly #events = new Emitter()
  readonly #stopStoreEvents: (() => void) | undefined
  readonly #rotation: RotationContext
  readonly #routes: RouteContext
  readonly #implicitRefresh: ImplicitRefreshContext
  /** The header of each signing key without extra fields: one frozen object, which the node engine encodes once. */
  /** The plain header of each key, per token type (the `typ` may differ: docs/token-types.md). */
  readonly #plainHeaders = {
    access: new WeakMap<KeyEntry, Record<string, unknown>>(),
    refresh: new WeakMap<KeyEntry, Record<string, unknown>>(),
  }
  readonly #telemetry: Telemetry | undefined
  readonly #dpop: DPoP | undefined
  readonly #revoker: Revoker

  /** Guard for routes that need a valid access token. */
  readonly accessRequired: RequestGuard = (request) => this.authenticate(request) as Promise<TokenPayload>
  /** Guard for the refresh route: a valid refresh token. */
  readonly refreshRequired: RequestGuard = (request) =>
    this.authenticate(request, { type: 'refresh' }) as Promise<TokenPayload>
  /** Guard for sensitive routes: a valid, fresh access token. */
  readonly freshRequired: RequestGuard = (request) =>
    this.authenticate(request, { fresh: true }) as Promise<TokenPayload>

  constructor(options?: AuthXOptions) {
    const { config, keySpecs } = resolveConfig(options)
    this.config = config
    const crypto = nodeCrypto()
    this.#engine = crypto ? createNodeEngine(crypto) : createJoseEngine()
    if (crypto) {
      this.#keys = keySpecs.map((spec) => importKeyNode(spec, crypto))
    } else {
      for (const spec of keySpecs) checkKeySpec(spec)
      const pending = Promise.all(keySpecs.map((spec) => importKeyWeb(spec)))
      // A bad key rejects the first call that needs keys; never an unhandled rejection.
      pending.catch(() => {})
      this.#keys = pending
    }
    this.#telemetry = createTelemetry(config.telemetry, this.#events)
    const store = config.store ?? new MemoryStore({ clock: config.clock })
    this.store = this.#telemetry === undefined ? store : this.#telemetry.instrumentStore(store)
    this.#dpop =
      config.dpop &&
      new DPoP(config.dpop, {
        store: this.store,
        clock: config.clock,
        timeoutMs: config.revocation.timeoutMs,
        crypto,
      })
    this.#revoker = new Revoker({
      config,
      store: this.store,
      events: this.#events,
      sessions: () => this.sessions,
    })
    // The store's own events (circuit breaker, mirror) reach `auth.on()` listeners too.
    this.#stopStoreEvents = this.store.onEvent?.((event, data) => this.#events.emit(event, data as never))
    this.#decode = createDecoder(
      {
        algorithms: new Set(config.algorithms),
        maxTokenBytes: config.maxTokenBytes,
        leeway: config.leeway,
        issuer: config.verifyIssuer,
        audience: config.verifyAudience,
        requireExp: { access: config.accessTtl !== false, refresh: config.refreshTtl !== false },
        clock: config.clock,
        tokenTypes: config.tokenTypes,
      },
      config.jwksUrl ? remoteResolver(config.jwksUrl, crypto, config.remoteKeys) : localResolver(this.#keys),
      this.#engine,
      {
        tokens: config.cacheSize > 0 ? new TokenCache(config.cacheSize) : undefined,
        remoteKeys: config.jwksUrl !== undefined,
      },
    )
    this.sessions = new Sessions({
      store: this.store,
      timeoutMs: config.revocation.timeoutMs,
      clock: config.clock,
      leeway: config.leeway,
      events: this.#events,
      issuer: this.#revoker.issuer,
      loginType: config.loginType,
      coveringLifetime: this.#revoker.coveringLifetime,
      expiryOf: (token) => this.decodeUnverified(token).payload.exp,
    })
    this.#rotation = {
      config,
      store: this.store,
      events: this.#events,
      longestLifetime: NO_EXPIRY,
      unconfirmed: new Map(),
      create: async (spec) => this.#create(spec, undefined),
      revokeFamily: (fid) => this.revokeFamily(fid),
      jtiOf: (token) => this.decodeUnverified(token).payload.jti as string,
    }
    this.#implicitRefresh = {
      config,
      decode: (token) => this.#decode(token),
      checkRevoked: (payload) => this.#revoker.check(payload),
      create: (spec) => this.#create(spec, undefined),
      accessCookies: (token) => this.accessCookies(token),
    }
    this.#routes = {
      config,
      authenticate: (request, options) => this.authenticate(request, options),
      refresh: (payload, options) => this.refresh(payload, options),
      accessCookies: (token) => this.accessCookies(token),
      refreshCookies: (token) => this.refreshCookies(token),
      unsetCookies: () => this.unsetCookies(),
      decodeIgnoringExpiry: (token) => this.#decodeIgnoringExpiry(token),
      isRevoked: (payload) => this.isRevoked(payload),
      revokeFamily: (fid) => this.revokeFamily(fid),
      revokeToken: (payload) => this.revokeToken(payload),
      // On a store without sessions (a token from another instance), the family revocation
      // already ends the token's session.
      endSession: (sid) => (this.sessions.supported ? this.sessions.revoke(sid) : Promise.resolve(false)),
    }
  }

  /**
   * Builds an instance from Python AuthX's `JWT_*` environment variables.
   *
   * @example
   * ```ts
   * const auth = AuthX.fromEnv(process.env, { cookies: { secure: false } })
   * ```
   */
  static fromEnv(env?: Record<string, string | undefined>, overrides?: AuthXOptions): AuthX {
    const options = optionsFromEnv(env, overrides)
    try {
      return new AuthX(options)
    } catch (err) {
      throw err instanceof ConfigError ? renameEnvError(err, env, overrides) : err
    }
  }

  /** Which signing engine this instance uses: `'node'` (node:crypto) or `'jose'`. */
  get engine(): 'node' | 'jose' {
    return this.#engine.name
  }

  /**
   * Creates an access token.
   *
   * @example
   * ```ts
   * const token = await auth.createAccessToken({ uid: 'user123', fresh: true, scopes: ['users:read'] })
   * ```
   */
  createAccessToken<Data extends Record<string, unknown>>(
    options: CreateAccessTokenOptions<Data>,
  ): Promise<string> {
    try {
      const o = checkCallOptions(options, 'createAccessToken', CREATE_CHECKS) as Partial<
        CreateAccessTokenOptions<Data>
      >
      return Promise.resolve(
        this.#create(
          {
            type: 'access',
            uid: o?.uid,
            fresh: o?.fresh,
            expiry: o?.expiry,
            data: o?.data,
            scopes: o?.scopes,
            audience: o?.audience,
            jkt: o?.jkt,
          },
          o?.headers,
        ),
      )
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /**
   * Creates a refresh token of a new family (`fid`).
   *
   * @example
   * ```ts
   * const refresh = await auth.createRefreshToken({ uid: 'user123' })
   * ```
   */
  async createRefreshToken<Data extends Record<string, unknown>>(
    options: CreateRefreshTokenOptions<Data>,
  ): Promise<string> {
    if (typeof options === 'object' && options !== null && 'fresh' in options)
      throw new TypeError('createRefreshToken: refresh tokens are never fresh (no fresh option)')
    const o = checkCallOptions(options, 'createRefreshToken', CREATE_REFRESH_CHECKS) as Partial<
      CreateAccessTokenOptions<Data>
    >
    return this.#create(
      {
        type: 'refresh',
        uid: o?.uid,
        expiry: o?.expiry,
        data: o?.data,
        scopes: o?.scopes,
        audience: o?.audience,
        fid: crypto.randomUUID(),
        jkt: o?.jkt,
      },
      o?.headers,
    )
  }

  /**
   * Creates an access token and a refresh token of one new family.
   *
   * @example
   * ```ts
   * const { accessToken, refreshToken, tokenType } = await auth.createTokenPair({ uid: 'user123', fresh: true })
   * ```
   */
  async createTokenPair<Data extends Record<string, unknown>>(
    options: CreateTokenPairOptions<Data>,
  ): Promise<TokenPair> {
    const o = checkCallOptions(options, 'createTokenPair', PAIR_CHECKS) as Partial<
      CreateTokenPairOptions<Data>
    >
    const fid = crypto.randomUUID()
    const session = o.session === undefined ? undefined : this.sessions.prepare(o.session)
    const common = { uid: o.uid, data: o.data, scopes: o.scopes, fid, sid: session?.sid, jkt: o.jkt }
    const [accessToken, refreshToken] = await Promise.all([
      this.#create({ ...common, type: 'access', fresh: o.fresh, expiry: o.accessExpiry }, undefined),
      this.#create({ ...common, type: 'refresh', expiry: o.refreshExpiry }, undefined),
    ])
    if (session !== undefined)
      await this.sessions.create(session, o.uid as string, [accessToken, refreshToken])
    return this.#pair(accessToken, refreshToken, o.jkt !== undefined)
  }

  /**
   * The RFC 7638 thumbprint of the key of the request's DPoP proof (docs/dpop.md), to bind a
   * login's tokens: `createTokenPair({ uid, jkt: await auth.dpopThumbprint(request) })`.
   * `undefined` when the request carries no proof (`DPoPProofError` when `dpop.required`); the
   * proof is checked as any other (method, URL, age, replay). `ConfigError` without `dpop`.
   *
   * @example
   * ```ts
   * const pair = await auth.createTokenPair({ uid: 'user123', jkt: await auth.dpopThumbprint(request) })
   * ```
   */
  async dpopThumbprint(request: RequestLike): Promise<string | undefined> {
    const dpop = this.#dpop
    if (dpop === undefined) throw new ConfigError('dpop: dpopThumbprint needs the dpop option')
    try {
      return await dpop.thumbprint(toRequestView(request))
    } catch (err) {
      if (err instanceof AuthXError) dpop.challenge(err)
      throw err
    }
  }

  /**
   * The CSRF value of a token (its `csrf` claim), for a page that sends it back in the
   * `X-CSRF-TOKEN` header, or `undefined` when the token has none. Reads the claim without
   * verifying the token: use it on tokens this instance just made.
   *
   * @example
   * ```ts
   * const csrf = auth.getCsrfToken(pair.accessToken)
   * ```
   */
  getCsrfToken(token: string): string | undefined {
    if (typeof token !== 'string') throw new TypeError('getCsrfToken: token must be a string')
    const csrf = this.decodeUnverified(token).payload.csrf
    return typeof csrf === 'string' ? csrf : undefined
  }

  /**
   * Checks signature, algorithm, structure and registered claims; not type, freshness, scopes
   * or revocation.
   *
   * @example
   * ```ts
   * const payload = await auth.decodeToken(token)
   * ```
   */
  decodeToken<Extra extends Record<string, unknown> = Record<string, unknown>>(
    token: string,
  ): Promise<TokenPayload<Extra>> {
    try {
      return Promise.resolve(this.#decode(token)) as Promise<TokenPayload<Extra>>
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /**
   * `decodeToken` plus the type check, revocation, freshness and scopes. What every guard uses.
   *
   * @example
   * ```ts
   * const payload = await auth.verifyToken(token, { type: 'access', fresh: true, scopes: ['admin:*'] })
   * ```
   */
  verifyToken<Extra extends Record<string, unknown> = Record<string, unknown>>(
    token: string,
    options: VerifyTokenOptions = NO_OPTIONS,
  ): Promise<TokenPayload<Extra>> {
    try {
      if (options !== NO_OPTIONS) checkCallOptions(options, 'verifyToken', VERIFY_CHECKS)
    } catch (err) {
      return Promise.reject(err)
    }
    // The hot paths allocate no closure for telemetry when it is off.
    if (this.#telemetry === undefined) return this.#verifyAt<Extra>(token, options, undefined)
    return this.#telemetry.run(
      'verify',
      () => this.#verifyAt<Extra>(token, options, undefined),
      () => ({ type: options.type ?? 'access' }),
    )
  }

  /**
   * `verifyToken` once its options are checked; a failure is reported (`verify.failed`) with the
   * location the token came from. Written without async/await: a token that needs no wait (cache
   * hit, node:crypto, a store answering from memory) costs one resolved promise, not one per step.
   */
  #verifyAt<Extra extends Record<string, unknown>>(
    token: string,
    options: VerifyTokenOptions,
    location: string | undefined,
  ): Promise<TokenPayload<Extra>> {
    try {
      const payload = this.#verified(token, options.type ?? 'access')
      if (payload instanceof TokenPayload) {
        this.checkGrants(unbound(payload), options)
        return Promise.resolve(payload as TokenPayload<Extra>)
      }
      return payload.then(
        (verified) => {
          try {
            this.checkGrants(unbound(verified), options)
          } catch (err) {
            this.#failed(err, location)
            throw err
          }
          return verified as TokenPayload<Extra>
        },
        (err: unknown) => {
          this.#failed(err, location)
          throw err
        },
      )
    } catch (err) {
      this.#failed(err, location)
      return Promise.reject(err)
    }
  }

  /**
   * Freshness and scope checks on a verified payload (the last steps of `verifyToken`).
   *
   * @example
   * ```ts
   * auth.checkGrants(payload, { scopes: ['admin'] })
   * ```
   */
  checkGrants(
    payload: TokenPayload,
    options: Pick<VerifyTokenOptions, 'fresh' | 'scopes' | 'anyScope'>,
  ): void {
    if (!(payload instanceof TokenPayload)) throw new TypeError('checkGrants: payload must be a TokenPayload')
    if (options.fresh === true && payload.fresh !== true) throw new FreshTokenRequiredError()
    const scopes = options.scopes
    if (scopes !== undefined && scopes.length > 0) {
      const granted = options.anyScope
        ? hasSomeScope(payload.scopes, scopes)
        : hasAllScopes(payload.scopes, scopes)
      if (!granted) throw new InsufficientScopeError(scopes, payload.scopes ?? [])
    }
  }

  /**
   * Header and claims without any check, for tooling only. Throws `InvalidTokenError`
   * (`malformed`) when the token cannot be split and parsed.
   *
   * @example
   * ```ts
   * const { header, payload } = auth.decodeUnverified(token)
   * ```
   */
  decodeUnverified(token: string): UnverifiedToken {
    const { header, parts } = parseToken(token, this.config.maxTokenBytes)
    const payload = parseSegment(parts.payload64)
    if (payload === undefined) throw new InvalidTokenError('malformed', 'Token payload is not a JSON object')
    return { header, payload }
  }

  /**
   * The public JWK set of the asymmetric keys (`kid`, `alg`, `use: 'sig'`); never any private
   * or secret material. Empty for HMAC-only instances.
   *
   * @example
   * ```ts
   * app.get('/.well-known/jwks.json', async (_req, res) => res.json(await auth.jwks()))
   * ```
   */
  async jwks(): Promise<JwkSet> {
    const keys = await this.#keys
    const now = this.config.clock()
    return {
      keys: keys
        .filter((k) => k.publicJwk !== undefined && (k.retireAt === undefined || now < k.retireAt))
        .map((k) => ({ ...k.publicJwk })),
    }
  }

  /**
   * OpenAPI 3.1 security schemes of the token locations, and the security requirements of a
   * route (docs/openapi.md). Nothing secret: names of headers, cookies and parameters only.
   *
   * @example
   * ```ts
   * const { securitySchemes, security } = auth.openapi({ scopes: ['admin:*'] })
   * ```
   */
  openapi(options?: OpenAPIOptions): OpenAPISecurity {
    return openapiSecurity(this.config, options)
  }

  /**
   * A policy: allow and deny rules on actions and resources (docs/policies.md). Rules are checked
   * here (`ConfigError`); conditions get the subject when a subject getter is set.
   *
   * @example
   * ```ts
   * const policy = auth.policy({ rules: [{ effect: 'allow', actions: ['posts:read'], resources: ['*'] }] })
   * ```
   */
  policy(options: PolicyOptions): Policy {
    return new Policy(options, {
      clock: this.config.clock,
      events: this.#events,
      subject: async (payload) => (this.#subjectGetter === undefined ? undefined : this.loadSubject(payload)),
    })
  }

  /**
   * A sliding-window rate limiter on the instance's store (docs/rate-limiting.md). A
   * `ConfigError` when the store has no `hit` method.
   *
   * @example
   * ```ts
   * const limiter = auth.rateLimiter({ max: 5, window: '1m', name: 'login' })
   * ```
   */
  rateLimiter<R = unknown>(options: RateLimiterOptions<R>): RateLimiter<R> {
    const { store, config } = this
    return new RateLimiter(options, {
      store,
      timeoutMs: config.revocation.timeoutMs,
      clock: config.clock,
      events: this.#events,
    })
  }

  /**
   * Exchanges a refresh token for new tokens (docs/rotation.md). With rotation on, the presented
   * token is consumed atomically and a new refresh token of the same family is issued;
   * presenting a consumed token again revokes the whole family and throws
   * `RefreshTokenReusedError` (unless replayed within `reuseGraceSeconds`). The new access
   * token is not fresh; `scopes` and custom data are inherited unless given.
   *
   * @example
   * ```ts
   * const { accessToken, refreshToken } = await auth.refresh(oldRefreshToken)
   * ```
   */
  refresh<Data extends Record<string, unknown>>(
    refreshToken: string | TokenPayload,
    options: RefreshOptions<Data> = {},
  ): Promise<TokenPair> {
    return this.#traced('refresh', () => this.#refresh(refreshToken, options))
  }

  async #refresh<Data extends Record<string, unknown>>(
    refreshToken: string | TokenPayload,
    options: RefreshOptions<Data>,
  ): Promise<TokenPair> {
    checkCallOptions(options, 'refresh', REFRESH_CHECKS)
    let payload: TokenPayload
    let token: string
    if (typeof refreshToken === 'string') {
      payload = await this.verifyToken(refreshToken, { type: 'refresh' })
      token = refreshToken
    } else {
      const known = refreshToken instanceof TokenPayload ? verifiedToken(refreshToken, this) : undefined
      if (known === undefined) {
        // A hand-made payload must never mint tokens: only one this instance verified.
        throw new TypeError(
          'refresh: expected a refresh token string or a payload this instance verified (req.authx after refreshRequired)',
        )
      }
      if (refreshToken.type !== 'refresh') throw new RefreshTokenRequiredError(refreshToken.type)
      // Checked again: the token may have been revoked since the guard ran.
      await this.#revoker.check(refreshToken)
      payload = refreshToken
      token = known
    }
    const rotated = () => rotate(this.#rotation, payload, token, options)
    const { accessToken, refreshToken: newRefresh } =
      payload.sid === undefined ? await rotated() : await this.sessions.renew(payload, rotated)
    return this.#pair(accessToken, newRefresh, payload.jkt !== undefined)
  }

  /**
   * Checks the options of a refresh route once (a `TypeError` for an unknown name or a wrong
   * type), for adapters that make the route.
   *
   * @example
   * ```ts
   * const options = auth.refreshRouteOptions({ scopes: ['users:read'] })
   * ```
   */
  refreshRouteOptions(options?: RefreshRouteOptions): RefreshRouteOptions {
    return refreshRouteOptions(options)
  }

  /**
   * What the ready-made refresh route answers (docs/adapters.md): the refresh token is verified
   * from any enabled location (CSRF included) and rotated; the answer carries the new pair,
   * `Cache-Control: no-store`, and both cookies when cookies are a location. Throws the usual
   * errors. Adapters' `refreshRoute` write this answer.
   *
   * @example
   * ```ts
   * const answer = await auth.refreshFromRequest(request)
   * answer.body // { access_token, refresh_token, token_type: 'bearer' }
   * ```
   */
  refreshFromRequest(request: RequestLike, options: RefreshRouteOptions = {}): Promise<RouteAnswer> {
    const checked = checkedRouteOptions.has(options) ? options : this.refreshRouteOptions(options)
    checkedRouteOptions.add(checked)
    return refreshAnswer(this.#routes, request, checked)
  }

  /**
   * What the ready-made logout route does (docs/adapters.md): revokes the family (or the token) of
   * the access token, expired ones included (signature still checked), and of the refresh
   * token the request carries, and gives the cookies that clear every token and CSRF cookie.
   * Never throws for request input; `error` is set when the store could not record the
   * revocation (answer it; the cookies are still cleared).
   *
   * @example
   * ```ts
   * const { cookies, error } = await auth.logoutFromRequest(request)
   * ```
   */
  logoutFromRequest(request: RequestLike): Promise<LogoutAnswer> {
    return logoutAnswer(this.#routes, request)
  }

  /**
   * Listens to an audit event. Events never carry a token string.
   *
   * @example
   * ```ts
   * auth.on('token.reused', ({ sub, fid }) => alert(`refresh token reuse for ${sub} (${fid})`))
   * ```
   */
  on<E extends AuthXEventName>(event: E, listener: AuthXListener<E>): this {
    this.#events.on(event, listener)
    return this
  }

  /**
   * Stops listening to an audit event.
   *
   * @example
   * ```ts
   * auth.off('token.reused', listener)
   * ```
   */
  off<E extends AuthXEventName>(event: E, listener: AuthXListener<E>): this {
    this.#events.off(event, listener)
    return this
  }

  /**
   * Finds the request's token (not verified), or `null` when `optional` and there is none.
   *
   * @example
   * ```ts
   * const found = await auth.getTokenFromRequest(request, { type: 'refresh' })
   * found?.location // 'cookies'
   * ```
   */
  async getTokenFromRequest(
    request: RequestLike,
    options: GetTokenOptions = NO_OPTIONS,
  ): Promise<RequestToken | null> {
    if (options !== NO_OPTIONS) checkCallOptions(options, 'getTokenFromRequest', GET_TOKEN_CHECKS)
    return extractToken(this.config, toRequestView(request), options)
  }

  /**
   * Finds and verifies the request's token. Order: find, decode, type, revocation, CSRF,
   * freshness, scopes. Resolves to `null` only when `optional` and no token is present.
   *
   * @example
   * ```ts
   * const payload = await auth.authenticate(request, { scopes: ['users:read'] })
   * ```
   */
  authenticate<Extra extends Record<string, unknown> = Record<string, unknown>>(
    request: RequestLike,
    options: AuthenticateOptions = NO_OPTIONS,
  ): Promise<TokenPayload<Extra> | null> {
    // As verifyToken: no async/await, so a request whose token needs no wait resolves at once.
    try {
      if (options !== NO_OPTIONS && !checkedOptions.has(options)) {
        checkCallOptions(options, 'authenticate', AUTHENTICATE_CHECKS)
      }
    } catch (err) {
      return Promise.reject(err)
    }
    const attempt: Attempt = { location: undefined }
    if (this.#telemetry === undefined) return this.#authenticate<Extra>(request, options, attempt)
    return this.#telemetry.run(
      'verify',
      () => this.#authenticate<Extra>(request, options, attempt),
      () => ({ location: attempt.location, type: options.type ?? 'access' }),
    )
  }

  #authenticate<Extra extends Record<string, unknown>>(
    request: RequestLike,
    options: AuthenticateOptions,
    attempt: Attempt,
  ): Promise<TokenPayload<Extra> | null> {
    try {
      const view = toRequestView(request)
      const found = extractToken(this.config, view, options)
      const result =
        found instanceof Promise
          ? found.then((token) => this.#authenticated(token, options, attempt, view))
          : this.#authenticated(found, options, attempt, view)
      if (!(result instanceof Promise)) return Promise.resolve(result as TokenPayload<Extra> | null)
      return result.then(undefined, (err: unknown) => {
        this.#failed(err, attempt.location ?? failedLocation(err))
        throw err
      }) as Promise<TokenPayload<Extra> | null>
    } catch (err) {
      this.#failed(err, attempt.location ?? failedLocation(err))
      return Promise.reject(err)
    }
  }

  /** `authenticate` once the token is found: verification, then CSRF, freshness and scopes. */
  #authenticated(
    found: RequestToken | null,
    options: AuthenticateOptions,
    attempt: Attempt,
    view: AuthXRequest,
  ): TokenPayload | null | Promise<TokenPayload> {
    if (found === null) return null
    attempt.location = found.location
    const payload = this.#verified(found.token, options.type ?? 'access')
    return payload instanceof TokenPayload
      ? this.#proven(this.#granted(payload, found, options), found, view)
      : payload.then((verified) => this.#proven(this.#granted(verified, found, options), found, view))
  }

  /** The DPoP check of a request's token (docs/dpop.md); a bound token fails without DPoP. */
  #proven(
    payload: TokenPayload,
    found: RequestToken,
    view: AuthXRequest,
  ): TokenPayload | Promise<TokenPayload> {
    if (this.#dpop === undefined) return unbound(payload)
    const checked = this.#dpop.check(view, found.token, payload, found.scheme, found.location)
    return checked === undefined ? payload : checked.then(() => payload)
  }

  #granted(payload: TokenPayload, found: RequestToken, options: AuthenticateOptions): TokenPayload {
    if (found.csrfRequired) {
      const source = found.csrfSource ?? 'the CSRF header'
      if (found.csrf === undefined) throw new CSRFError('missing', source)
      if (payload.csrf === undefined || !constantTimeEqual(found.csrf, payload.csrf)) {
        throw new CSRFError('mismatch', source)
      }
    }
    this.checkGrants(payload, options)
    return payload
  }

  /**
   * Authenticates a WebSocket upgrade request (a Node `IncomingMessage` or a Web `Request`) by its
   * access token (docs/websocket.md): from the `websocket.queryName` query parameter, the header,
   * a `Sec-WebSocket-Protocol` entry `authx.bearer.<token>`, or the access cookie for the
   * `websocket.allowedOrigins` only. Revocation, freshness and scopes as in `verifyToken`.
   *
   * @example
   * ```ts
   * server.on('upgrade', async (req, socket, head) => {
   *   const payload = await auth.authenticateWebSocket(req)
   * })
   * ```
   */
  authenticateWebSocket<Extra extends Record<string, unknown> = Record<string, unknown>>(
    request: UpgradeRequest,
    options: WebSocketAuthOptions = NO_OPTIONS,
  ): Promise<TokenPayload<Extra>> {
    let found: { token: string; location: string }
    try {
      if (options !== NO_OPTIONS) checkCallOptions(options, 'authenticateWebSocket', WEBSOCKET_CHECKS)
      found = websocketToken(this.config, request)
    } catch (err) {
      this.#failed(err, undefined)
      return Promise.reject(err)
    }
    return this.#verifyAt<Extra>(found.token, options, found.location)
  }

  /**
   * A guard with fixed options: `(request) => Promise<TokenPayload>`.
   *
   * @example
   * ```ts
   * const adminOnly = auth.tokenRequired({ scopes: ['admin:*'] })
   * const payload = await adminOnly(request)
   * ```
   */
  tokenRequired(options: Omit<AuthenticateOptions, 'optional'> = {}): RequestGuard {
    const fixed = this.guardOptions(options, 'tokenRequired')
    return (request) => this.authenticate(request, fixed) as Promise<TokenPayload>
  }

  /**
   * Checks a guard's options once, where the guard is made (an unknown name or a wrong type is
   * a `TypeError` at route definition), and returns them ready for `authenticate`. Adapters
   * build their `tokenRequired` on this.
   *
   * @example
   * ```ts
   * const options = auth.guardOptions({ scopes: ['admin:*'] }, 'tokenRequired')
   * ```
   */
  guardOptions(options: Omit<AuthenticateOptions, 'optional'>, call = 'tokenRequired'): AuthenticateOptions {
    if (checkedOptions.has(options)) return options
    if (typeof options === 'object' && options !== null && 'optional' in options) {
      throw new TypeError(`${call}: unknown option 'optional' (use accessOptional for optional tokens)`)
    }
    checkCallOptions(options, call, AUTHENTICATE_CHECKS)
    const fixed = Object.freeze({ ...options, optional: false })
    checkedOptions.add(fixed)
    return fixed
  }

  /**
   * A guard requiring every given scope on a valid access token.
   *
   * @example
   * ```ts
   * const payload = await auth.scopesRequired('admin:*')(request)
   * ```
   */
  scopesRequired(...scopes: string[]): RequestGuard {
    return this.tokenRequired({ scopes: scopeArguments(scopes, 'scopesRequired') })
  }

  /**
   * Sets the function that loads the user of a token for `getCurrentSubject`.
   *
   * @example
   * ```ts
   * auth.setSubjectGetter(async (uid) => db.users.find(uid))
   * ```
   */
  setSubjectGetter<Subject>(getter: SubjectGetter<Subject>): void {
    if (typeof getter !== 'function') throw new TypeError('getter: expected a function')
    this.#subjectGetter = getter
  }

  /**
   * Authenticates the request (access token) and loads its subject with the subject getter.
   * Throws `ConfigError` when no getter is set.
   *
   * @example
   * ```ts
   * const user = await auth.getCurrentSubject(request)
   * ```
   */
  async getCurrentSubject<Subject = unknown>(
    request: RequestLike,
    options: AuthenticateOptions = {},
  ): Promise<Subject> {
    if (this.#subjectGetter === undefined) throw new ConfigError('setSubjectGetter: no subject getter is set')
    checkCallOptions(options, 'getCurrentSubject', AUTHENTICATE_CHECKS)
    const payload = (await this.authenticate(request, { ...options, optional: false })) as TokenPayload
    return this.loadSubject<Subject>(payload)
  }

  /**
   * Loads the subject of an already verified payload with the subject getter (what
   * `getCurrentSubject` does after authenticating). Throws `ConfigError` when no getter is set.
   *
   * @example
   * ```ts
   * const payload = await auth.authenticate(request)
   * const user = await auth.loadSubject(payload!)
   * ```
   */
  async loadSubject<Subject = unknown>(payload: TokenPayload): Promise<Subject> {
    const getter = this.#subjectGetter
    if (getter === undefined) throw new ConfigError('setSubjectGetter: no subject getter is set')
    return (await getter(payload.sub, payload)) as Subject
  }

  /**
   * `Set-Cookie` values storing an access token and its CSRF cookie. Works on expired tokens.
   *
   * @example
   * ```ts
   * for (const cookie of auth.accessCookies(token)) headers.append('Set-Cookie', cookie)
   * ```
   */
  accessCookies(token: string, options: CookieCallOptions = {}): string[] {
    return this.#tokenCookies('access', token, options)
  }

  /**
   * `Set-Cookie` values storing a refresh token and its CSRF cookie.
   *
   * @example
   * ```ts
   * auth.refreshCookies(pair.refreshToken)
   * ```
   */
  refreshCookies(token: string, options: CookieCallOptions = {}): string[] {
    return this.#tokenCookies('refresh', token, options)
  }

  /**
   * `Set-Cookie` values deleting the access cookies.
   *
   * @example
   * ```ts
   * auth.unsetAccessCookies()
   * ```
   */
  unsetAccessCookies(): string[] {
    return clearCookies(this.config, 'access')
  }

  /**
   * `Set-Cookie` values deleting the refresh cookies.
   *
   * @example
   * ```ts
   * auth.unsetRefreshCookies()
   * ```
   */
  unsetRefreshCookies(): string[] {
    return clearCookies(this.config, 'refresh')
  }

  /**
   * `Set-Cookie` values deleting every token and CSRF cookie.
   *
   * @example
   * ```ts
   * auth.unsetCookies() // on logout
   * ```
   */
  unsetCookies(): string[] {
    return [...this.unsetAccessCookies(), ...this.unsetRefreshCookies()]
  }

  /**
   * Implicit refresh (docs/adapters.md): when enabled and the request's access cookie holds a
   * valid, unrevoked access token expiring within `implicitRefresh.within`, the `Set-Cookie`
   * values of a new, non-fresh access token with the same subject, scopes, family and custom
   * data. Otherwise `[]`. Never throws for request input; it reads only (no CSRF check).
   *
   * @example
   * ```ts
   * const cookies = await auth.implicitRefreshCookies(request)
   * ```
   */
  implicitRefreshCookies(request: RequestLike): Promise<string[]> {
    return implicitRefreshCookies(this.#implicitRefresh, request)
  }

  /**
   * Whether the payload is revoked (jti, family, subject cut-off or the `revocation.isRevoked`
   * callback): the same check as verification. Throws only `StoreUnavailableError`, when the
   * store or the callback cannot answer.
   *
   * @example
   * ```ts
   * if (await auth.isRevoked(payload)) console.log('signed out')
   * ```
   */
  async isRevoked(payload: TokenPayload): Promise<boolean> {
    if (!(payload instanceof TokenPayload)) throw new TypeError('isRevoked: payload must be a TokenPayload')
    try {
      await this.#revoker.check(payload)
      return false
    } catch (err) {
      if (err instanceof RevokedTokenError) return true
      throw err
    }
  }

  /**
   * Revokes one token by issuer and `jti`. A token string is verified first (signature and
   * structure; expiry not required), so a forged string revokes nothing.
   *
   * @example
   * ```ts
   * await auth.revokeToken(payload)
   * ```
   */
  revokeToken(token: string | TokenPayload): Promise<void> {
    return this.#traced('revoke', () => this.#revokeToken(token))
  }

  async #revokeToken(token: string | TokenPayload): Promise<void> {
    if (typeof token !== 'string' && !(token instanceof TokenPayload)) {
      throw new TypeError('revokeToken: expected a token string or a TokenPayload')
    }
    await this.#revoker.token(typeof token === 'string' ? await this.#decodeIgnoringExpiry(token) : token)
  }

  /**
   * Revokes every token of a refresh family (refresh tokens and the access tokens minted with them).
   *
   * @example
   * ```ts
   * await auth.revokeFamily(payload.fid!)
   * ```
   */
  revokeFamily(fid: string): Promise<void> {
    return this.#traced('revoke', () => this.#revoker.family(fid))
  }

  /**
   * Revokes every token of the subject issued before the current second.
   *
   * @example
   * ```ts
   * await auth.revokeAllForSubject('user123') // "log out everywhere"
   * ```
   */
  revokeAllForSubject(sub: string): Promise<void> {
    return this.#traced('revoke', () => this.#revoker.subject(sub))
  }

  /**
   * Closes the instance's store.
   *
   * @example
   * ```ts
   * await auth.close()
   * ```
   */
  async close(): Promise<void> {
    this.#stopStoreEvents?.()
    await this.store.close?.()
  }

  /** The pair as `createTokenPair` and `refresh` answer it; `bound`: DPoP-bound (`cnf.jkt`). */
  #pair(accessToken: string, refreshToken: string, bound: boolean): TokenPair {
    const pair: TokenPair = { accessToken, refreshToken, tokenType: bound ? 'DPoP' : 'bearer' }
    if (this.config.csrfClaim) {
      const access = this.getCsrfToken(accessToken)
      const refresh = this.getCsrfToken(refreshToken)
      if (access !== undefined && refresh !== undefined) pair.csrf = { access, refresh }
    }
    return pair
  }

  #tokenCookies(type: 'access' | 'refresh', token: string, options: CookieCallOptions): string[] {
    checkCallOptions(options, type === 'access' ? 'accessCookies' : 'refreshCookies', COOKIE_CHECKS)
    if (typeof token !== 'string') throw new TypeError(`${type}Cookies: token must be a string`)
    const maxAge = options.maxAge === undefined ? undefined : durationSeconds(options.maxAge, 'maxAge')
    const csrf = this.decodeUnverified(token).payload.csrf
    return tokenCookies(this.config, type, token, typeof csrf === 'string' ? csrf : undefined, maxAge)
  }

  /**
   * Makes and signs a token: the string at once when the keys are imported and the engine signs
   * synchronously (node:crypto), else a promise. Throws synchronously too.
   */
  #create(spec: TokenSpec, headers: unknown): string | Promise<string> {
    checkBinding(this.config.dpop, spec.jkt)
    const extra = extraHeaders(headers)
    const claims = buildClaims(this.config, spec)
    const keys = this.#keys
    if (!Array.isArray(keys)) {
      return keys.then((imported) => this.#signed(spec, claims, this.#signingKey(imported), extra))
    }
    return this.#signed(spec, claims, this.#signingKey(keys), extra)
  }

  #signed(
    spec: TokenSpec,
    claims: Record<string, unknown>,
    key: KeyEntry,
    extra: Record<string, unknown> | undefined,
  ): string | Promise<string> {
    const plain = this.#plainHeaders[spec.type]
    let header = extra === undefined ? plain.get(key) : undefined
    if (header === undefined) {
      header = { alg: key.alg, typ: headerTyp(this.config.tokenTypes, spec.type) }
      if (key.kid !== undefined) header.kid = key.kid
      if (extra === undefined) plain.set(key, Object.freeze(header))
      else Object.assign(header, extra)
    }
    const signed = this.#engine.sign(key.alg, key.signKey as EngineKey, header, JSON.stringify(claims))
    return typeof signed === 'string'
      ? this.#checkedToken(spec, claims, signed)
      : signed.then((token) => this.#checkedToken(spec, claims, token))
  }

  #checkedToken(spec: TokenSpec, claims: Record<string, unknown>, token: string): string {
    if (token.length > this.config.maxTokenBytes) {
      // The instance would refuse its own token at the next request (a 401 right after login).
      throw new TypeError(
        `the token would be ${token.length} bytes, over verify.maxTokenBytes (${this.config.maxTokenBytes}): send less data or raise the limit`,
      )
    }
    if (this.#events.has('token.created')) {
      const event: AuthXEvents['token.created'] = {
        type: spec.type,
        sub: claims.sub as string,
        jti: claims.jti as string,
      }
      if (spec.fid !== undefined) event.fid = spec.fid
      this.#events.emit('token.created', event)
    }
    return token
  }

  /**
   * Decoding, the type check and revocation: the payload at once when nothing had to wait, else
   * a promise. Throws synchronously too; callers turn that into a rejection.
   */
  #verified(token: string, type: TokenType): TokenPayload | Promise<TokenPayload> {
    if (type !== 'access' && type !== 'refresh') throw new TypeError("type: expected 'access' or 'refresh'")
    const loginType = this.config.loginType
    const decoded =
      loginType === undefined ? this.#decode(token) : decodeForLoginType(this, loginType, token, this.#decode)
    return decoded instanceof TokenPayload
      ? this.#unrevoked(token, decoded, type)
      : decoded.then((payload) => this.#unrevoked(token, payload, type))
  }

  #unrevoked(token: string, payload: TokenPayload, type: TokenType): TokenPayload | Promise<TokenPayload> {
    checkLoginType(this.config.loginType, payload)
    if (payload.type !== type) {
      throw type === 'access'
        ? new AccessTokenRequiredError(payload.type)
        : new RefreshTokenRequiredError(payload.type)
    }
    const checked = this.#revoker.check(payload)
    if (checked === undefined) {
      markVerified(payload, this, token)
      return payload
    }
    return checked.then(() => {
      markVerified(payload, this, token)
      return payload
    })
  }

  /** Runs an operation in its telemetry span, or as it is when telemetry is off. */
  #traced<T>(
    operation: TelemetryOperation,
    fn: () => Promise<T>,
    attributes?: () => Readonly<Record<string, string | undefined>>,
  ): Promise<T> {
    return this.#telemetry === undefined ? fn() : this.#telemetry.run(operation, fn, attributes)
  }

  #failed(err: unknown, location: string | undefined): void {
    if (!(err instanceof AuthXError)) return
    this.#dpop?.challenge(err)
    if (!this.#events.has('verify.failed')) return
    const event: AuthXEvents['verify.failed'] = { code: err.code }
    if ('reason' in err && typeof err.reason === 'string') event.reason = err.reason
    if (location !== undefined) event.location = location
    this.#events.emit('verify.failed', event)
  }

  #signingKey(keys: readonly KeyEntry[]): KeyEntry {
    const now = this.config.clock()
    const key = keys.find((k) => k.signKey !== undefined && (k.retireAt === undefined || now < k.retireAt))
    if (key === undefined) {
      throw new ConfigError(
        'privateKey: this instance cannot sign (verify-only, or every signing key is retired)',
      )
    }
    return key
  }

  async #decodeIgnoringExpiry(token: string): Promise<TokenPayload> {
    let payload: TokenPayload
    try {
      payload = await this.#decode(token)
    } catch (err) {
      // An expired token is still revocable: its signature and structure were checked first.
      if (!(err instanceof InvalidTokenError && err.reason === 'expired')) throw err
      payload = new TokenPayload(this.decodeUnverified(token).payload, this.config.clock)
    }
    checkLoginType(this.config.loginType, payload)
    return payload
  }
}
