import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { MAX_DURATION_SECONDS } from '../src/core/duration.js'
import { AuthX, ConfigError, parseDuration } from '../src/index.js'

const SECRET = 'x'.repeat(32)

describe('parseDuration accepts', () => {
  it.each([
    ['1s', 1],
    ['45s', 45],
    ['1m', 60],
    ['15m', 900],
    ['1h', 3600],
    ['2h', 7200],
    ['1d', 86_400],
    ['20d', 1_728_000],
    ['1w', 604_800],
    ['3w', 1_814_400],
    ['10s', 10],
    ['100m', 6000],
  ])('the string %j as %i seconds', (value, seconds) => {
    expect(parseDuration(value)).toBe(seconds)
  })

  it.each([1, 60, 900, 86_400, MAX_DURATION_SECONDS])('the whole number %i as itself', (value) => {
    expect(parseDuration(value)).toBe(value)
  })

  it('every positive whole number with each unit, up to 100 years', () => {
    const units = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 } as const
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.constantFrom(...(Object.keys(units) as (keyof typeof units)[])),
        (n, unit) => {
          const seconds = n * units[unit]
          expect(parseDuration(`${n}${unit}`)).toBe(seconds <= MAX_DURATION_SECONDS ? seconds : undefined)
        },
      ),
    )
  })

  it('exactly 100 years, and nothing longer, so exp * 1000 stays a valid date', () => {
    expect(parseDuration(`${MAX_DURATION_SECONDS}s`)).toBe(MAX_DURATION_SECONDS)
    expect(parseDuration(MAX_DURATION_SECONDS + 1)).toBeUndefined()
    expect(parseDuration('9999999999w')).toBeUndefined()
    expect(parseDuration(Number.MAX_SAFE_INTEGER)).toBeUndefined()
  })
})

describe('parseDuration rejects', () => {
  it.each([
    ['zero', 0],
    ['negative zero', -0],
    ['a negative number', -1],
    ['a float', 1.5],
    ['a tiny float', 0.1],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['-Infinity', Number.NEGATIVE_INFINITY],
    ['a number beyond safe integers', Number.MAX_SAFE_INTEGER + 1],
    ['2 ** 53', 2 ** 53],
    ['1e308', 1e308],
  ])('%s', (_name, value) => {
    expect(parseDuration(value)).toBeUndefined()
  })

  it.each([
    ['0s'],
    ['0m'],
    ['-1s'],
    ['+1s'],
    ['1.5h'],
    ['1.0h'],
    ['.5h'],
    [' 1h'],
    ['1h '],
    ['1 h'],
    ['\t1h'],
    ['1h\n'],
    ['1H'],
    ['1M'],
    ['1S'],
    ['01h'],
    ['00s'],
    ['007m'],
    ['1'],
    ['60'],
    ['h'],
    [''],
    ['1y'],
    ['1ms'],
    ['1hh'],
    ['1h30m'],
    ['1e3s'],
    ['0x10s'],
    ['1_000s'],
    ['١h'],
    ['１h'],
    ['Infinitys'],
    ['NaNs'],
    ['12345678901s'],
    ['99999999999999999999w'],
  ])('the string %j', (value) => {
    expect(parseDuration(value)).toBeUndefined()
  })

  it.each([
    ['null', null],
    ['undefined', undefined],
    ['true', true],
    ['an object', {}],
    ['an array', ['1h']],
    ['a boxed string', new String('1h')],
    ['a boxed number', new Number(60)],
    ['a BigInt', 60n],
    ['a Date', new Date(60_000)],
  ])('%s', (_name, value) => {
    expect(parseDuration(value)).toBeUndefined()
  })

  it('any string that is not digits without a leading zero followed by one unit', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 12 }), (value) => {
        const valid = /^[1-9][0-9]{0,9}[smhdw]$/.test(value)
        expect(parseDuration(value) !== undefined).toBe(valid)
      }),
      { numRuns: 2000 },
    )
  })
})

describe('Durations in options and calls', () => {
  it('are validated at construction with a ConfigError', () => {
    for (const bad of ['01h', '1.5h', '1H', ' 1h', 0, -5, 1.5, '9007199254740992']) {
      expect(() => new AuthX({ secretKey: SECRET, accessTokenExpires: bad as never })).toThrow(ConfigError)
      expect(() => new AuthX({ secretKey: SECRET, refreshTokenExpires: bad as never })).toThrow(ConfigError)
    }
  })

  it('accept a Duration string or number for the lifetimes', async () => {
    const now = 1_700_000_000_000
    const auth = new AuthX({
      secretKey: SECRET,
      clock: () => now,
      accessTokenExpires: '2w',
      refreshTokenExpires: 90,
    })
    const access = auth.decodeUnverified(await auth.createAccessToken({ uid: 'u' })).payload
    const refresh = auth.decodeUnverified(await auth.createRefreshToken({ uid: 'u' })).payload
    expect((access.exp as number) - (access.iat as number)).toBe(2 * 604_800)
    expect((refresh.exp as number) - (refresh.iat as number)).toBe(90)
  })

  it('are TypeErrors when malformed in a call', async () => {
    const auth = new AuthX({ secretKey: SECRET })
    await expect(auth.createAccessToken({ uid: 'u', expiry: '01h' as never })).rejects.toBeInstanceOf(
      TypeError,
    )
  })
})
