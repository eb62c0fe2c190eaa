/**
 * Policies in the core (SPEC 9.5, docs/policies.md): `auth.policy({ rules, defaultEffect,
 * timeoutMs })`, `policy.evaluate` and `policy.authorize`. Deny wins, then allow, then the
 * default; a condition that fails denies and emits `policy.error`.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  AuthX,
  type AuthXEvents,
  ConfigError,
  type Policy,
  type PolicyContext,
  PolicyDeniedError,
  type PolicyOptions,
  type PolicyRequest,
  type PolicyRule,
  TokenPayload,
} from '../src/index.js'

const SECRET = 'policy-secret-0123456789abcdef-0123456789'
/** The instance's clock: fixed, so `env.now` is exact. */
const NOW = 1_700_000_000_000
const FAILED = 'A policy condition failed'

type PolicyError = AuthXEvents['policy.error']

function setup(options: { getter?: (uid: string, payload: TokenPayload) => unknown } = {}) {
  const auth = new AuthX({ secretKey: SECRET, clock: () => NOW })
  if (options.getter !== undefined) auth.setSubjectGetter(options.getter)
  const errors: PolicyError[] = []
  auth.on('policy.error', (event) => errors.push(event))
  return { auth, errors }
}

function payloadOf(scopes?: string[], sub = 'u1'): TokenPayload {
  return new TokenPayload({ sub, jti: 'j1', iat: 1, type: 'access', ...(scopes && { scopes }) })
}

function policyOf(options: PolicyOptions): Policy {
  return setup().auth.policy(options)
}

const READ = { action: 'posts:read', resource: 'posts:1' } satisfies PolicyRequest

const allow = (extra: Partial<PolicyRule> = {}): PolicyRule => ({
  effect: 'allow',
  actions: ['*'],
  resources: ['*'],
  reason: 'allowed',
  ...extra,
})
const deny = (extra: Partial<PolicyRule> = {}): PolicyRule => ({
  effect: 'deny',
  actions: ['*'],
  resources: ['*'],
  reason: 'denied',
  ...extra,
})

async function allowed(policy: Policy, request: PolicyRequest = READ, payload = payloadOf()) {
  return (await policy.evaluate(payload, request)).allowed
}

describe('policy: deny wins, then allow, then the default', () => {
  it('denies by default when no rule matches', async () => {
    const policy = policyOf({ rules: [allow({ actions: ['posts:edit'] })] })
    expect(await policy.evaluate(payloadOf(), READ)).toEqual({
      allowed: false,
      reason: undefined,
      rule: undefined,
    })
    expect(await allowed(policyOf({ rules: [] }))).toBe(false)
  })

  it("defaultEffect 'allow' allows what no rule matches, and a matching deny still denies", async () => {
    const policy = policyOf({ rules: [deny({ actions: ['posts:delete'] })], defaultEffect: 'allow' })
    expect(await policy.evaluate(payloadOf(), READ)).toEqual({
      allowed: true,
      reason: undefined,
      rule: undefined,
    })
    expect(await allowed(policy, { action: 'posts:delete', resource: 'posts:1' })).toBe(false)
    expect(await allowed(policyOf({ rules: [], defaultEffect: 'deny' }))).toBe(false)
  })

  it('a matching allow rule allows, and the decision names the rule and its reason', async () => {
    const policy = policyOf({ rules: [allow({ actions: ['posts:read'], reason: 'readers read' })] })
    const decision = await policy.evaluate(payloadOf(), READ)
    expect(decision.allowed).toBe(true)
    expect(decision.reason).toBe('readers read')
    expect(decision.rule).toMatchObject({ effect: 'allow', actions: ['posts:read'], reason: 'readers read' })
    expect(Object.isFrozen(decision.rule)).toBe(true)
  })

  for (const order of ['allow first', 'deny first'] as const) {
    it(`a matching deny rule wins over a matching allow rule (${order}), even with defaultEffect 'allow'`, async () => {
      const rules = [allow(), deny({ actions: ['posts:*'], reason: 'read-only week' })]
      if (order === 'deny first') rules.reverse()
      for (const defaultEffect of ['allow', 'deny'] as const) {
        const decision = await policyOf({ rules, defaultEffect }).evaluate(payloadOf(), READ)
        expect(decision).toMatchObject({ allowed: false, reason: 'read-only week', rule: { effect: 'deny' } })
      }
    })
  }

  it('a deny rule that does not match (action, resource or scopes) decides nothing', async () => {
    const rules = [
      allow(),
      deny({ actions: ['posts:delete'] }),
      deny({ resources: ['posts:2'] }),
      deny({ scopes: ['banned'] }),
    ]
    expect(await allowed(policyOf({ rules }))).toBe(true)
  })

  it('the rules are copied at construction: changing the options afterwards changes nothing', async () => {
    const actions = ['posts:read']
    const rules: PolicyRule[] = [{ effect: 'allow', actions, resources: ['*'] }]
    const policy = policyOf({ rules })
    actions[0] = 'posts:delete'
    rules.push(deny())
    expect(await allowed(policy)).toBe(true)
    expect(await allowed(policy, { action: 'posts:delete', resource: 'posts:1' })).toBe(false)
  })
})

describe('policy: actions and resources match with the scope rule, or * for any', () => {
  const MATCHES: [string, string][] = [
    ['posts', 'posts'],
    ['posts:*', 'posts'],
    ['posts:*', 'posts:edit'],
    ['posts:*', 'posts:edit:draft'],
    ['posts:edit:*', 'posts:edit'],
    ['*', 'posts'],
    ['*', 'anything:at:all'],
  ]
  const MISSES: [string, string][] = [
    ['posts:*', 'postsx'],
    ['posts:*', 'post'],
    ['posts:*', 'posts-edit'],
    ['posts:*', 'xposts:edit'],
    ['posts:*', 'Posts:edit'],
    ['posts', 'posts:edit'],
    ['posts', 'Posts'],
    ['posts:edit:*', 'posts:delete'],
    ['po*', 'posts'],
    ['posts*', 'posts:edit'],
    ['posts:ed*', 'posts:edit'],
    ['*:edit', 'posts:edit'],
    ['posts:*:edit', 'posts:1:edit'],
    [':*', 'posts'],
    [':*', ':x'],
  ]

  for (const [pattern, value] of MATCHES) {
    it(`pattern ${JSON.stringify(pattern)} matches ${JSON.stringify(value)} as action and as resource`, async () => {
      const asAction = policyOf({ rules: [allow({ actions: [pattern] })] })
      expect(await allowed(asAction, { action: value, resource: 'r' })).toBe(true)
      const asResource = policyOf({ rules: [allow({ resources: [pattern] })] })
      expect(await allowed(asResource, { action: 'a', resource: value })).toBe(true)
    })
  }

  for (const [pattern, value] of MISSES) {
    it(`pattern ${JSON.stringify(pattern)} does not match ${JSON.stringify(value)} (allow nor deny)`, async () => {
      const asAction = policyOf({ rules: [allow({ actions: [pattern] })] })
      expect(await allowed(asAction, { action: value, resource: 'r' })).toBe(false)
      const asResource = policyOf({ rules: [allow({ resources: [pattern] })] })
      expect(await allowed(asResource, { action: 'a', resource: value })).toBe(false)
      const denying = policyOf({
        rules: [deny({ actions: [pattern] }), deny({ resources: [pattern] })],
        defaultEffect: 'allow',
      })
      expect(await allowed(denying, { action: value, resource: value })).toBe(true)
    })
  }

  it('a rule needs both its action and its resource to match; any pattern of the list may', async () => {
    const policy = policyOf({
      rules: [allow({ actions: ['posts:read', 'posts:list'], resources: ['posts:1', 'posts:2'] })],
    })
    expect(await allowed(policy, { action: 'posts:list', resource: 'posts:2' })).toBe(true)
    expect(await allowed(policy, { action: 'posts:read', resource: 'posts:3' })).toBe(false)
    expect(await allowed(policy, { action: 'posts:edit', resource: 'posts:1' })).toBe(false)
  })
})

describe('policy: scopes on a rule', () => {
  const editors = allow({ scopes: ['posts:write', 'posts:publish'] })

  it.each([
    [['posts:write', 'posts:publish'], true],
    [['posts:*'], true],
    [['admin', 'posts:*'], true],
    [['posts:write'], false],
    [['admin:*'], false],
    [['posts'], false],
    [['postsx:*'], false],
    [[], false],
    [undefined, false],
  ])('a rule requiring every scope of its list: held %j -> applies %j', async (held, applies) => {
    expect(await allowed(policyOf({ rules: [editors] }), READ, payloadOf(held))).toBe(applies)
  })

  it.each([
    [['posts:write'], true],
    [['posts:publish'], true],
    [['posts:*'], true],
    [['admin:*'], false],
    [[], false],
    [undefined, false],
  ])('a rule with anyScope: held %j -> applies %j', async (held, applies) => {
    const policy = policyOf({ rules: [{ ...editors, anyScope: true }] })
    expect(await allowed(policy, READ, payloadOf(held))).toBe(applies)
  })

  it('a deny rule with scopes denies only tokens holding them (admin:* holds admin:suspended)', async () => {
    const policy = policyOf({ rules: [allow(), deny({ scopes: ['admin:suspended'] })] })
    expect(await allowed(policy, READ, payloadOf(['admin:*']))).toBe(false)
    expect(await allowed(policy, READ, payloadOf(['admin:suspended']))).toBe(false)
    expect(await allowed(policy, READ, payloadOf(['admin']))).toBe(true)
    expect(await allowed(policy, READ, payloadOf(['users:*']))).toBe(true)
  })

  it('scopes are read from a verified token', async () => {
    const { auth } = setup()
    const policy = auth.policy({ rules: [allow({ scopes: ['admin:users'] })] })
    const admin = await auth.verifyToken(await auth.createAccessToken({ uid: 'a', scopes: ['admin:*'] }))
    const user = await auth.verifyToken(await auth.createAccessToken({ uid: 'b', scopes: ['users:read'] }))
    expect(await allowed(policy, READ, admin)).toBe(true)
    expect(await allowed(policy, READ, user)).toBe(false)
  })
})

describe('policy: conditions', () => {
  it('an allow rule applies when its condition (sync or async) answers true, not when it answers false', async () => {
    const cases: [PolicyRule['when'], boolean][] = [
      [() => true, true],
      [async () => true, true],
      [() => false, false],
      [async () => false, false],
    ]
    for (const [when, expected] of cases) {
      expect(await allowed(policyOf({ rules: [allow({ when })] }))).toBe(expected)
    }
  })

  it('a deny rule applies only when its condition answers true', async () => {
    const owner = (ctx: PolicyContext) => ctx.resourceAttrs.owner !== ctx.payload.sub
    const policy = policyOf({ rules: [allow(), deny({ when: owner, reason: 'not yours' })] })
    const request = { ...READ, resourceAttrs: { owner: 'u1' } }
    expect(await allowed(policy, request, payloadOf([], 'u1'))).toBe(true)
    expect(await policy.evaluate(payloadOf([], 'u2'), request)).toMatchObject({
      allowed: false,
      reason: 'not yours',
    })
  })

  const FAILURES: [string, PolicyRule['when'], RegExp][] = [
    [
      'throws',
      () => {
        throw new Error('database down')
      },
      /^database down$/,
    ],
    ['rejects', async () => Promise.reject(new Error('lookup failed')), /^lookup failed$/],
    [
      'throws a non-Error',
      () => {
        throw 'plain string'
      },
      /^plain string$/,
    ],
    ['answers "yes"', (() => 'yes') as unknown as PolicyRule['when'], /true or false/],
    ['answers 1', (async () => 1) as unknown as PolicyRule['when'], /true or false/],
    ['answers nothing', (() => undefined) as unknown as PolicyRule['when'], /true or false/],
    ['never answers', () => new Promise<boolean>(() => {}), /longer than 20 ms/],
  ]

  for (const [name, when, error] of FAILURES) {
    it(`an allow rule whose condition ${name} does not apply: the default denies, with policy.error`, async () => {
      const { auth, errors } = setup()
      const policy = auth.policy({ rules: [allow({ when, reason: 'conditional' })], timeoutMs: 20 })
      const decision = await policy.evaluate(payloadOf([], 'alice'), READ)
      expect(decision).toEqual({ allowed: false, reason: FAILED, rule: undefined })
      expect(errors).toHaveLength(1)
      expect(errors[0]).toMatchObject({ action: 'posts:read', resource: 'posts:1', sub: 'alice' })
      expect(errors[0]?.error).toMatch(error)
    })

    it(`an allow rule whose condition ${name} never allows: another allow rule or the default decides`, async () => {
      const { auth, errors } = setup()
      const failing = allow({ when, reason: 'conditional' })
      const plain = allow({ reason: 'plain' })
      for (const rules of [
        [failing, plain],
        [plain, failing],
      ]) {
        const decision = await auth.policy({ rules, timeoutMs: 20 }).evaluate(payloadOf(), READ)
        expect(decision).toMatchObject({ allowed: true, reason: 'plain', rule: { reason: 'plain' } })
      }
      const byDefault = auth.policy({ rules: [failing], defaultEffect: 'allow', timeoutMs: 20 })
      expect(await byDefault.evaluate(payloadOf(), READ)).toEqual({
        allowed: true,
        reason: undefined,
        rule: undefined,
      })
      expect(errors.length).toBeGreaterThanOrEqual(2)
    })

    it(`a deny rule whose condition ${name} applies: denied whatever allows, in any order, with policy.error`, async () => {
      const { auth, errors } = setup()
      for (const [failing, reason] of [
        [deny({ when, reason: 'suspended staff' }), 'suspended staff'],
        [{ effect: 'deny', actions: ['*'], resources: ['*'], when } satisfies PolicyRule, FAILED],
      ] as const) {
        for (const rules of [
          [allow(), failing],
          [failing, allow()],
        ]) {
          const before = errors.length
          const policy = auth.policy({ rules, defaultEffect: 'allow', timeoutMs: 20 })
          const decision = await policy.evaluate(payloadOf([], 'bob'), READ)
          expect(decision).toMatchObject({ allowed: false, reason, rule: { effect: 'deny' } })
          expect(errors).toHaveLength(before + 1)
          expect(errors.at(-1)).toMatchObject({ action: 'posts:read', resource: 'posts:1', sub: 'bob' })
          expect(errors.at(-1)?.error).toMatch(error)
          const err = await policy.authorize(payloadOf(), READ).catch((e: unknown) => e)
          expect(err).toBeInstanceOf(PolicyDeniedError)
          expect((err as PolicyDeniedError).reason).toBe(reason)
        }
      }
    })
  }

  it('a failing deny condition denies even when nobody listens to policy.error', async () => {
    const policy = new AuthX({ secretKey: SECRET }).policy({
      rules: [
        allow(),
        deny({
          when: () => {
            throw new Error('x')
          },
        }),
      ],
      defaultEffect: 'allow',
    })
    expect(await allowed(policy)).toBe(false)
  })

  it('a condition that answers within the time limit is not a failure', async () => {
    const { auth, errors } = setup()
    const slowTrue = () => new Promise<boolean>((resolve) => setImmediate(() => resolve(true)))
    const policy = auth.policy({ rules: [allow({ when: slowTrue })], timeoutMs: 60_000 })
    expect(await allowed(policy)).toBe(true)
    expect(errors).toEqual([])
  })

  it('a condition of a rule that does not match is never called', async () => {
    let calls = 0
    const when = () => {
      calls++
      return true
    }
    const policy = policyOf({
      rules: [allow({ actions: ['posts:edit'], when }), deny({ scopes: ['banned'], when })],
      defaultEffect: 'allow',
    })
    expect(await allowed(policy)).toBe(true)
    expect(calls).toBe(0)
  })
})

describe('policy: what a condition receives', () => {
  it('the payload, the subject, the action, the resource, a frozen copy of resourceAttrs and env.now from the instance clock', async () => {
    const getterCalls: [string, TokenPayload][] = []
    const { auth } = setup({
      getter: (uid, payload) => {
        getterCalls.push([uid, payload])
        return { id: uid, name: `user ${uid}` }
      },
    })
    const seen: PolicyContext[] = []
    const record = (ctx: PolicyContext) => {
      seen.push(ctx)
      return false
    }
    const policy = auth.policy({ rules: [deny({ when: record }), allow({ when: record })] })
    const payload = payloadOf(['posts:read'], 'alice')
    const attrs = { owner: 'alice', tags: ['a'] }
    await policy.evaluate(payload, { action: 'posts:read', resource: 'posts:9', resourceAttrs: attrs })
    expect(seen).toHaveLength(2)
    const ctx = seen[0]!
    expect(ctx.payload).toBe(payload)
    expect(ctx.subject).toEqual({ id: 'alice', name: 'user alice' })
    expect(ctx.action).toBe('posts:read')
    expect(ctx.resource).toBe('posts:9')
    expect(ctx.resourceAttrs).toEqual(attrs)
    expect(ctx.resourceAttrs).not.toBe(attrs)
    expect(Object.isFrozen(ctx.resourceAttrs)).toBe(true)
    expect(ctx.env.now).toEqual(new Date(NOW))
    expect(ctx.env.method).toBeUndefined()
    // One subject load per evaluation, however many conditions run.
    expect(getterCalls).toEqual([['alice', payload]])
    // A condition cannot change what the next one sees.
    expect(() => {
      ;(ctx.resourceAttrs as Record<string, unknown>).owner = 'mallory'
    }).toThrow(TypeError)
    expect(seen[1]?.resourceAttrs.owner).toBe('alice')
    attrs.owner = 'mallory'
    expect(ctx.resourceAttrs.owner).toBe('alice')
  })

  it('resourceAttrs is an empty frozen object when not given; env values given override the defaults', async () => {
    const { auth } = setup()
    let ctx: PolicyContext | undefined
    const policy = auth.policy({
      rules: [
        allow({
          when: (c) => {
            ctx = c
            return true
          },
        }),
      ],
    })
    const when = new Date('2030-01-01T00:00:00Z')
    const env = { method: 'PATCH', path: '/posts/1', ip: '203.0.113.7', now: when }
    expect(await allowed(policy, { ...READ, env })).toBe(true)
    expect(ctx?.resourceAttrs).toEqual({})
    expect(Object.isFrozen(ctx?.resourceAttrs)).toBe(true)
    expect(ctx?.env).toEqual(env)
    expect(ctx?.subject).toBeUndefined()
    await policy.evaluate(payloadOf(), { ...READ, env: { ip: '198.51.100.1' } })
    expect(ctx?.env).toEqual({ now: new Date(NOW), ip: '198.51.100.1' })
  })

  it('the subject getter is not called when no applicable rule has a condition', async () => {
    let calls = 0
    const { auth } = setup({
      getter: (uid) => {
        calls++
        return { id: uid }
      },
    })
    const policy = auth.policy({
      rules: [allow({ actions: ['posts:read'] }), deny({ actions: ['posts:delete'], when: () => true })],
    })
    expect(await allowed(policy)).toBe(true)
    expect(await allowed(policy, { action: 'posts:edit', resource: 'posts:1' })).toBe(false)
    expect(calls).toBe(0)
    expect(await allowed(policy, { action: 'posts:delete', resource: 'posts:1' })).toBe(false)
    expect(calls).toBe(1)
  })

  it('a subject getter that throws counts as a failed condition: policy.error, and only deny rules apply', async () => {
    const { auth, errors } = setup({
      getter: () => {
        throw new Error('user table unreachable')
      },
    })
    const allowing = auth.policy({ rules: [allow({ when: () => true })] })
    expect(await allowing.evaluate(payloadOf([], 'bob'), READ)).toEqual({
      allowed: false,
      reason: FAILED,
      rule: undefined,
    })
    expect(errors).toEqual([
      { action: 'posts:read', resource: 'posts:1', sub: 'bob', error: 'user table unreachable' },
    ])
    const denying = auth.policy({ rules: [allow(), deny({ when: () => false })] })
    expect(await allowed(denying)).toBe(false)
    expect(errors).toHaveLength(2)
  })

  it('the subject getter is called once per decision, even when it fails for several conditions', async () => {
    let calls = 0
    const { auth } = setup({
      getter: () => {
        calls++
        throw new Error('user table unreachable')
      },
    })
    const policy = auth.policy({ rules: [allow({ when: () => true }), allow({ when: () => true })] })
    expect(await allowed(policy)).toBe(false)
    expect(calls).toBe(1)
  })

  it('a subject getter that never answers is bounded by timeoutMs like the condition itself', async () => {
    const { auth, errors } = setup({ getter: () => new Promise(() => {}) })
    const policy = auth.policy({ rules: [allow({ when: () => true })], timeoutMs: 20 })
    expect(await policy.evaluate(payloadOf(), READ)).toMatchObject({ allowed: false, reason: FAILED })
    expect(errors[0]?.error).toMatch(/longer than 20 ms/)
  })

  it('env.now stays the clock time when a caller passes now: undefined', async () => {
    const { auth } = setup()
    let now: Date | undefined
    const policy = auth.policy({
      rules: [
        allow({
          when: ({ env }) => {
            now = env.now
            return true
          },
        }),
      ],
    })
    await policy.evaluate(payloadOf(), { ...READ, env: { now: undefined as unknown as Date } })
    expect(now).toEqual(new Date(NOW))
  })
})

describe('policy: authorize', () => {
  it('resolves to the decision when allowed', async () => {
    const policy = policyOf({ rules: [allow({ reason: 'ok' })] })
    const decision = await policy.authorize(payloadOf(), READ)
    expect(decision).toMatchObject({ allowed: true, reason: 'ok', rule: { effect: 'allow' } })
  })

  it("rejects with PolicyDeniedError (ERR_POLICY_DENIED, 403) carrying the deny rule's reason", async () => {
    const policy = policyOf({ rules: [allow(), deny({ reason: 'Posts are never deleted' })] })
    const err = await policy.authorize(payloadOf(), READ).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(PolicyDeniedError)
    const denied = err as PolicyDeniedError
    expect(denied.code).toBe('ERR_POLICY_DENIED')
    expect(denied.status).toBe(403)
    expect(denied.reason).toBe('Posts are never deleted')
    expect(denied.toJSON()).toEqual({
      code: 'ERR_POLICY_DENIED',
      message: denied.message,
      reason: denied.reason,
    })
  })

  it("rejects with the fixed reason 'Denied by policy' for the default and a deny rule without reason", async () => {
    const noRule = await policyOf({ rules: [] })
      .authorize(payloadOf(), READ)
      .catch((e: unknown) => e)
    expect(noRule).toBeInstanceOf(PolicyDeniedError)
    expect((noRule as PolicyDeniedError).reason).toBe('Denied by policy')
    const bare: PolicyRule = { effect: 'deny', actions: ['*'], resources: ['*'] }
    const denied = await policyOf({ rules: [bare] })
      .authorize(payloadOf(), READ)
      .catch((e: unknown) => e)
    expect((denied as PolicyDeniedError).reason).toBe('Denied by policy')
  })

  it('rejects with the condition-failure reason when a condition fails', async () => {
    const { auth, errors } = setup()
    const policy = auth.policy({ rules: [allow({ when: async () => Promise.reject(new Error('no')) })] })
    const err = await policy.authorize(payloadOf(), READ).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(PolicyDeniedError)
    expect((err as PolicyDeniedError).reason).toBe(FAILED)
    expect(errors).toHaveLength(1)
  })
})

describe('policy: options are checked at construction (ConfigError)', () => {
  const rule = allow()
  const BAD: [string, unknown][] = [
    ['options not an object', null],
    ['an unknown option', { rules: [], defaultEffects: 'allow' }],
    ['rules missing', {}],
    ['rules not an array', { rules: rule }],
    ['a rule not an object', { rules: ['allow'] }],
    ['a rule that is an array', { rules: [[rule]] }],
    ['a rule with an unknown key', { rules: [{ ...rule, condition: () => true }] }],
    ['a rule with a misspelt key', { rules: [{ ...rule, scope: ['admin'] }] }],
    ['a bad effect', { rules: [{ ...rule, effect: 'permit' }] }],
    ['no effect', { rules: [{ actions: ['*'], resources: ['*'] }] }],
    ['empty actions', { rules: [{ ...rule, actions: [] }] }],
    ['actions not an array', { rules: [{ ...rule, actions: 'posts:read' }] }],
    ['an empty action', { rules: [{ ...rule, actions: [''] }] }],
    ['a non-string action', { rules: [{ ...rule, actions: [1] }] }],
    ['empty resources', { rules: [{ ...rule, resources: [] }] }],
    ['no resources', { rules: [{ effect: 'allow', actions: ['*'] }] }],
    ['empty scopes', { rules: [{ ...rule, scopes: [] }] }],
    ['a non-string scope', { rules: [{ ...rule, scopes: [null] }] }],
    ['anyScope not a boolean', { rules: [{ ...rule, scopes: ['a'], anyScope: 'yes' }] }],
    ['a non-function when', { rules: [{ ...rule, when: true }] }],
    ['a non-string reason', { rules: [{ ...rule, reason: 42 }] }],
    ['a bad defaultEffect', { rules: [], defaultEffect: 'permit' }],
    ['timeoutMs 0', { rules: [], timeoutMs: 0 }],
    ['timeoutMs negative', { rules: [], timeoutMs: -5 }],
    ['timeoutMs above 60000', { rules: [], timeoutMs: 60_001 }],
    ['timeoutMs fractional', { rules: [], timeoutMs: 1.5 }],
    ['timeoutMs not a number', { rules: [], timeoutMs: '500' }],
    ['timeoutMs NaN', { rules: [], timeoutMs: Number.NaN }],
    ['timeoutMs Infinity', { rules: [], timeoutMs: Number.POSITIVE_INFINITY }],
  ]

  for (const [name, options] of BAD) {
    it(`${name} is ConfigError`, () => {
      expect(() => policyOf(options as PolicyOptions)).toThrow(ConfigError)
    })
  }

  it('the limits and every documented key are accepted', () => {
    for (const timeoutMs of [1, 60_000, undefined]) {
      expect(() => policyOf({ rules: [], timeoutMs })).not.toThrow()
    }
    const full: PolicyRule = {
      effect: 'deny',
      actions: ['a'],
      resources: ['r'],
      scopes: ['s'],
      anyScope: false,
      when: () => true,
      reason: 'why',
    }
    expect(() => policyOf({ rules: [full], defaultEffect: 'allow' })).not.toThrow()
  })
})

describe('policy: requests are checked (TypeError)', () => {
  const policy = policyOf({ rules: [allow()], defaultEffect: 'allow' })
  const BAD: [string, unknown, unknown][] = [
    ['no request', payloadOf(), undefined],
    ['an empty action', payloadOf(), { action: '', resource: 'r' }],
    ['a missing action', payloadOf(), { resource: 'r' }],
    ['a non-string action', payloadOf(), { action: 1, resource: 'r' }],
    ['an empty resource', payloadOf(), { action: 'a', resource: '' }],
    ['a non-string resource', payloadOf(), { action: 'a', resource: ['r'] }],
    ['resourceAttrs a string', payloadOf(), { action: 'a', resource: 'r', resourceAttrs: 'owner=alice' }],
    ['resourceAttrs null', payloadOf(), { action: 'a', resource: 'r', resourceAttrs: null }],
    ['resourceAttrs an array', payloadOf(), { action: 'a', resource: 'r', resourceAttrs: ['owner'] }],
    ['env a string', payloadOf(), { action: 'a', resource: 'r', env: 'GET' }],
    ['a plain-object payload', { sub: 'u1', type: 'access', scopes: ['admin:*'] }, READ],
    ['a null payload', null, READ],
    ['a token string as payload', 'eyJ...', READ],
  ]

  for (const [name, payload, request] of BAD) {
    it(`${name} is a TypeError from evaluate and authorize, never a decision`, async () => {
      await expect(policy.evaluate(payload as TokenPayload, request as PolicyRequest)).rejects.toThrow(
        TypeError,
      )
      await expect(policy.authorize(payload as TokenPayload, request as PolicyRequest)).rejects.toThrow(
        TypeError,
      )
    })
  }
})

describe('security: policy decisions (property)', () => {
  /** An independent statement of the matching rule: '*', equality, or a `prefix:*` pattern. */
  const grants = (pattern: string, value: string): boolean => {
    if (pattern === value) return true
    if (!pattern.endsWith(':*') || pattern.length < 3) return false
    const prefix = pattern.slice(0, -2)
    return value === prefix || value.startsWith(`${prefix}:`)
  }
  const matchesAny = (patterns: readonly string[], value: string) =>
    patterns.some((p) => p === '*' || grants(p, value))

  const segment = fc.constantFrom('a', 'b', 'ab', 'a*')
  const name = fc.array(segment, { minLength: 1, maxLength: 3 }).map((s) => s.join(':'))
  const pattern = fc.oneof(
    name,
    name.map((n) => `${n}:*`),
    fc.constant('*'),
    fc.constant(':*'),
  )
  const scope = fc.oneof(
    name,
    name.map((n) => `${n}:*`),
  )
  type Condition = 'none' | 'true' | 'false' | 'throws' | 'yes'
  const CONDITIONS: Record<Exclude<Condition, 'none'>, PolicyRule['when']> = {
    true: () => true,
    false: async () => false,
    throws: () => {
      throw new Error('condition failed')
    },
    yes: (() => 'yes') as unknown as PolicyRule['when'],
  }
  const rule = fc
    .tuple(
      fc.record(
        {
          effect: fc.constantFrom('allow' as const, 'deny' as const),
          actions: fc.array(pattern, { minLength: 1, maxLength: 2 }),
          resources: fc.array(pattern, { minLength: 1, maxLength: 2 }),
          scopes: fc.array(scope, { minLength: 1, maxLength: 2 }),
          anyScope: fc.boolean(),
        },
        { requiredKeys: ['effect', 'actions', 'resources'] },
      ),
      fc.constantFrom<Condition>('none', 'none', 'true', 'false', 'throws', 'yes'),
    )
    .map(([r, condition]) => ({
      rule: condition === 'none' ? (r as PolicyRule) : { ...r, when: CONDITIONS[condition] },
      condition,
    }))

  it('a matching deny rule (its condition true or failing) always denies; a failing condition never allows; otherwise defaultEffect', async () => {
    const { auth } = setup()
    await fc.assert(
      fc.asyncProperty(
        fc.array(rule, { maxLength: 6 }),
        fc.constantFrom('allow' as const, 'deny' as const),
        name,
        name,
        fc.option(fc.array(scope, { maxLength: 3 }), { nil: undefined }),
        async (drawn, defaultEffect, action, resource, held) => {
          const policy = auth.policy({ rules: drawn.map((d) => d.rule), defaultEffect })
          const decision = await policy.evaluate(payloadOf(held), { action, resource })
          const matches = (r: Readonly<PolicyRule>) =>
            matchesAny(r.actions, action) &&
            matchesAny(r.resources, resource) &&
            (r.scopes === undefined ||
              (r.anyScope === true
                ? r.scopes.some((s) => (held ?? []).some((h) => grants(h, s)))
                : r.scopes.every((s) => (held ?? []).some((h) => grants(h, s)))))
          const denies = drawn.some(
            (d) => d.rule.effect === 'deny' && matches(d.rule) && d.condition !== 'false',
          )
          const allows = drawn.some(
            (d) =>
              d.rule.effect === 'allow' &&
              matches(d.rule) &&
              (d.condition === 'none' || d.condition === 'true'),
          )
          if (denies) expect(decision.allowed).toBe(false)
          const matching = drawn.filter((d) => matches(d.rule))
          if (matching.length === 0) {
            expect(decision).toEqual({
              allowed: defaultEffect === 'allow',
              reason: undefined,
              rule: undefined,
            })
          }
          expect(decision.allowed).toBe(!denies && (allows || defaultEffect === 'allow'))
          if (decision.rule !== undefined) {
            // The deciding rule matches, and an allowing rule's condition did not fail.
            expect(matches(decision.rule)).toBe(true)
            if (decision.allowed)
              expect([CONDITIONS.throws, CONDITIONS.yes]).not.toContain(decision.rule.when)
          }
        },
      ),
      { numRuns: 500 },
    )
  })
})
