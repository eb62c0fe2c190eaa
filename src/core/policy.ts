/**
 * Policies (docs/policies.md, SPEC 9.5): allow and deny rules on actions and resources, with
 * scope and attribute conditions. Deny wins, then allow, then the default (deny unless told).
 * `AuthX.policy` hands over here.
 * @module
 */

import { ConfigError, PolicyDeniedError } from './errors.js'
import type { Emitter } from './events.js'
import { TokenPayload } from './payload.js'
import { hasAllScopes, hasSomeScope, scopeGrants } from './scopes.js'

/** What a rule's condition receives. */
export interface PolicyContext {
  /** The verified token's payload. */
  readonly payload: TokenPayload
  /** The loaded subject when the instance has a subject getter, else `undefined`. */
  readonly subject: unknown
  readonly action: string
  readonly resource: string
  /** Attributes of the resource given to `authorize` (its owner, its state...). */
  readonly resourceAttrs: Readonly<Record<string, unknown>>
  readonly env: PolicyEnv
}

/** The request's surroundings. `now` is the instance's clock unless given. */
export interface PolicyEnv {
  readonly now: Date
  readonly method?: string | undefined
  readonly path?: string | undefined
  readonly ip?: string | undefined
}

/** One rule. Actions and resources match with the scope rule (`posts:*`), or `'*'` for any. */
export interface PolicyRule {
  effect: 'allow' | 'deny'
  actions: string[]
  resources: string[]
  /** Scopes the token must hold (all of them, or one with `anyScope`) for the rule to apply. */
  scopes?: string[] | undefined
  anyScope?: boolean | undefined
  /** A condition; the rule applies only when it answers `true` within `timeoutMs`. */
  when?: ((ctx: PolicyContext) => boolean | Promise<boolean>) | undefined
  /** Given to the caller as the decision's `reason` (and `PolicyDeniedError.reason`). */
  reason?: string | undefined
}

/** Options of `auth.policy(...)`. */
export interface PolicyOptions {
  rules: PolicyRule[]
  /** What a request no rule matches gets. Default `'deny'`. */
  defaultEffect?: 'allow' | 'deny' | undefined
  /** How long a condition may take, in milliseconds (1 to 60000). Default `500`. */
  timeoutMs?: number | undefined
}

/** What `authorize` and `evaluate` are asked. */
export interface PolicyRequest {
  action: string
  resource: string
  resourceAttrs?: Record<string, unknown> | undefined
  env?: Partial<PolicyEnv> | undefined
}

/** The decision: `rule` is the rule that decided (`undefined` for the default effect). */
export interface PolicyDecision {
  readonly allowed: boolean
  readonly reason: string | undefined
  readonly rule: Readonly<PolicyRule> | undefined
}

/** What a policy needs of its instance. */
export interface PolicyHost {
  readonly clock: () => number
  readonly events: Emitter
  /** The subject of a payload, or `undefined` when the instance has no subject getter. */
  subject(payload: TokenPayload): Promise<unknown>
}

const ERROR_REASON = 'A policy condition failed'

function fail(path: string, message: string): never {
  throw new ConfigError(`policy: ${path}: ${message}`)
}

function patterns(value: unknown, path: string): string[] {
  if (!Array.isArray(value) || value.length === 0) fail(path, 'expected a non-empty array of strings')
  for (const item of value) {
    if (typeof item !== 'string' || item.length === 0) fail(path, `invalid entry ${JSON.stringify(item)}`)
  }
  return [...value]
}

const RULE_KEYS = new Set(['effect', 'actions', 'resources', 'scopes', 'anyScope', 'when', 'reason'])

function checkedRule(rule: unknown, index: number): Readonly<PolicyRule> {
  const path = `rules[${index}]`
  if (typeof rule !== 'object' || rule === null || Array.isArray(rule)) fail(path, 'expected an object')
  const r = rule as Record<string, unknown>
  for (const key of Object.keys(r)) if (!RULE_KEYS.has(key)) fail(path, `unknown key '${key}'`)
  if (r.effect !== 'allow' && r.effect !== 'deny') fail(`${path}.effect`, "expected 'allow' or 'deny'")
  const checked: PolicyRule = {
    effect: r.effect,
    actions: patterns(r.actions, `${path}.actions`),
    resources: patterns(r.resources, `${path}.resources`),
  }
  if (r.scopes !== undefined) checked.scopes = patterns(r.scopes, `${path}.scopes`)
  if (r.anyScope !== undefined) {
    if (typeof r.anyScope !== 'boolean') fail(`${path}.anyScope`, 'expected true or false')
    checked.anyScope = r.anyScope
  }
  if (r.when !== undefined) {
    if (typeof r.when !== 'function') fail(`${path}.when`, 'expected a function')
    checked.when = r.when as PolicyRule['when']
  }
  if (r.reason !== undefined) {
    if (typeof r.reason !== 'string') fail(`${path}.reason`, 'expected a string')
    checked.reason = r.reason
  }
  return Object.freeze(checked)
}

/** `'*'` matches anything; otherwise the scope rule (`posts:*` matches `posts` and `posts:edit`). */
function matches(patternList: readonly string[], value: string): boolean {
  return patternList.some((pattern) => pattern === '*' || scopeGrants(pattern, value))
}

/**
 * A condition's answer within the time limit, the context (the subject's loading) included:
 * `true`, `false`, or the failure.
 */
async function answer(
  when: NonNullable<PolicyRule['when']>,
  context: () => Promise<PolicyContext>,
  timeoutMs: number,
): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the condition took longer than ${timeoutMs} ms`)), timeoutMs)
  })
  try {
    const result = await Promise.race([context().then((ctx) => when(ctx)), late])
    if (typeof result !== 'boolean') throw new Error('the condition did not answer true or false')
    return result
  } finally {
    clearTimeout(timer)
  }
}

/**
 * A set of rules (made with `auth.policy(options)`). Deny wins: a matching deny rule denies
 * whatever else matches; then a matching allow rule allows; then `defaultEffect`. A condition
 * that throws, answers something else than a boolean or takes longer than `timeoutMs` counts
 * against the request (its deny rule applies, its allow rule does not: a failure never allows)
 * and emits `policy.error`.
 *
 * @example
 * ```ts
 * const policy = auth.policy({
 *   rules: [
 *     { effect: 'allow', actions: ['posts:*'], resources: ['posts:*'], scopes: ['editor'] },
 *     { effect: 'deny', actions: ['posts:delete'], resources: ['posts:*'], reason: 'Posts are never deleted' },
 *   ],
 * })
 * await policy.authorize(payload, { action: 'posts:edit', resource: 'posts:42' })
 * ```
 */
export class Policy {
  readonly #rules: readonly Readonly<PolicyRule>[]
  readonly #defaultEffect: 'allow' | 'deny'
  readonly #timeoutMs: number
  readonly #host: PolicyHost

  constructor(options: PolicyOptions, host: PolicyHost) {
    if (typeof options !== 'object' || options === null)
      fail('options', 'expected { rules, defaultEffect?, timeoutMs? }')
    for (const key of Object.keys(options)) {
      if (key !== 'rules' && key !== 'defaultEffect' && key !== 'timeoutMs') fail(key, 'unknown option')
    }
    if (!Array.isArray(options.rules)) fail('rules', 'expected an array of rules')
    this.#rules = Object.freeze(options.rules.map(checkedRule))
    const effect = options.defaultEffect ?? 'deny'
    if (effect !== 'allow' && effect !== 'deny') fail('defaultEffect', "expected 'allow' or 'deny'")
    this.#defaultEffect = effect
    const timeoutMs = options.timeoutMs ?? 500
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > 60_000) {
      fail('timeoutMs', 'expected a whole number from 1 to 60000')
    }
    this.#timeoutMs = timeoutMs
    this.#host = host
  }

  /**
   * The decision, without throwing for a denial: `{ allowed, reason, rule }`.
   *
   * @example
   * ```ts
   * const { allowed, reason } = await policy.evaluate(payload, { action: 'posts:delete', resource: 'posts:42' })
   * ```
   */
  async evaluate(payload: TokenPayload, request: PolicyRequest): Promise<PolicyDecision> {
    if (!(payload instanceof TokenPayload)) throw new TypeError('policy: payload must be a TokenPayload')
    const { action, resource } = checkedRequest(request)
    const candidates = this.#rules.filter(
      (rule) =>
        matches(rule.actions, action) &&
        matches(rule.resources, resource) &&
        (rule.scopes === undefined ||
          (rule.anyScope
            ? hasSomeScope(payload.scopes, rule.scopes)
            : hasAllScopes(payload.scopes, rule.scopes))),
    )
    // Built once per decision, on the first condition asked; a failure is the same failure for
    // every condition that needs it.
    let ctx: Promise<PolicyContext> | undefined
    const context = (): Promise<PolicyContext> => {
      ctx ??= this.#host.subject(payload).then((subject) => ({
        payload,
        subject,
        action,
        resource,
        resourceAttrs: Object.freeze({ ...request.resourceAttrs }),
        env: Object.freeze({ ...request.env, now: request.env?.now ?? new Date(this.#host.clock()) }),
      }))
      return ctx
    }
    let failed = false
    // Whether the rule applies. A condition that fails counts against the request: a deny rule
    // then applies, an allow rule does not; so a failure can deny but never allow.
    const applies = async (rule: Readonly<PolicyRule>): Promise<boolean> => {
      if (rule.when === undefined) return true
      try {
        return await answer(rule.when, context, this.#timeoutMs)
      } catch (err) {
        failed = true
        if (this.#host.events.has('policy.error')) {
          this.#host.events.emit('policy.error', {
            action,
            resource,
            sub: payload.sub,
            error: err instanceof Error ? err.message : String(err),
          })
        }
        return rule.effect === 'deny'
      }
    }
    // Deny rules first: one that applies decides, whatever allows.
    for (const rule of candidates) {
      if (rule.effect === 'deny' && (await applies(rule))) {
        return { allowed: false, reason: failed ? (rule.reason ?? ERROR_REASON) : rule.reason, rule }
      }
    }
    for (const rule of candidates) {
      if (rule.effect === 'allow' && (await applies(rule)))
        return { allowed: true, reason: rule.reason, rule }
    }
    if (failed && this.#defaultEffect === 'deny')
      return { allowed: false, reason: ERROR_REASON, rule: undefined }
    return { allowed: this.#defaultEffect === 'allow', reason: undefined, rule: undefined }
  }

  /**
   * Resolves to the decision when allowed; rejects with `PolicyDeniedError` (403) otherwise.
   *
   * @example
   * ```ts
   * await policy.authorize(payload, { action: 'posts:edit', resource: `posts:${id}`, resourceAttrs: { owner } })
   * ```
   */
  async authorize(payload: TokenPayload, request: PolicyRequest): Promise<PolicyDecision> {
    const result = await this.evaluate(payload, request)
    if (!result.allowed) throw new PolicyDeniedError(result.reason)
    return result
  }
}

function checkedRequest(request: PolicyRequest): PolicyRequest {
  if (typeof request !== 'object' || request === null)
    throw new TypeError('policy: expected { action, resource }')
  if (typeof request.action !== 'string' || request.action.length === 0) {
    throw new TypeError('policy: action must be a non-empty string')
  }
  if (typeof request.resource !== 'string' || request.resource.length === 0) {
    throw new TypeError('policy: resource must be a non-empty string')
  }
  if (
    request.resourceAttrs !== undefined &&
    (typeof request.resourceAttrs !== 'object' ||
      request.resourceAttrs === null ||
      Array.isArray(request.resourceAttrs))
  ) {
    throw new TypeError('policy: resourceAttrs must be an object')
  }
  if (request.env !== undefined && (typeof request.env !== 'object' || request.env === null)) {
    throw new TypeError('policy: env must be an object')
  }
  return request
}
