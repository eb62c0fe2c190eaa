import { describe, expect, it } from 'vitest'
import { AuthX, ConfigError } from '../src/index.js'

const secretKey = 'cookie-prefix-secret-0123456789abcdef'

function configError(options: Record<string, unknown>): ConfigError {
  try {
    new AuthX({ secretKey, ...options })
  } catch (err) {
    if (err instanceof ConfigError) return err
    throw err
  }
  throw new Error('expected a ConfigError')
}

describe('security: cookie name prefixes the browser would silently drop', () => {
  it('accepts __Host- access cookies on path / with Secure and no Domain, and a __Secure- refresh cookie on its path', () => {
    const auth = new AuthX({
      secretKey,
      cookies: { accessName: '__Host-access', refreshName: '__Secure-refresh', refreshPath: '/auth/refresh' },
      csrf: { accessCookieName: '__Host-csrf' },
    })
    expect(auth.unsetAccessCookies()[0]).toMatch(/^__Host-access=; Path=\/; Max-Age=0/)
    expect(auth.unsetRefreshCookies()[0]).toMatch(/^__Secure-refresh=; Path=\/auth\/refresh;/)
  })

  it.each([
    [
      'a __Host- access cookie without Secure',
      { cookies: { accessName: '__Host-a', secure: false } },
      'cookies.accessName',
    ],
    [
      'a __Host- access cookie with a Domain',
      { cookies: { accessName: '__Host-a', domain: 'example.com' } },
      'cookies.accessName',
    ],
    [
      'a __Host- access cookie on another path',
      { cookies: { accessName: '__Host-a', accessPath: '/api' } },
      'cookies.accessName',
    ],
    [
      'a __Host- refresh cookie on a refresh path',
      { cookies: { refreshName: '__Host-r', refreshPath: '/auth/refresh' } },
      'cookies.refreshName',
    ],
    [
      'a __Host- CSRF cookie with a Domain',
      { cookies: { domain: 'example.com' }, csrf: { accessCookieName: '__Host-c' } },
      'csrf.accessCookieName',
    ],
    [
      'a __Secure- cookie without Secure',
      { cookies: { refreshName: '__Secure-r', secure: false } },
      'cookies.refreshName',
    ],
  ])('refuses %s with a ConfigError naming the option', (_label, options, option) => {
    expect(configError(options).message.startsWith(`${option}:`)).toBe(true)
  })
})
