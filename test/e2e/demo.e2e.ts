/**
 * The demo in a real browser (issue 11, item 2): Debian's Chromium driven by playwright-core,
 * the demo started as `npm start` starts it (node scripts/start.mjs) on a free port with a data
 * folder of its own. The steps run in order and share the server, as a person clicking through
 * the page would. Screenshots go to test-results/e2e/. The demo requires DPoP (issue 14): the
 * page signs a proof for every request with its non-extractable key (public/dpop.js), and the
 * requests this test makes from a page's script do too, unless a step says otherwise.
 *
 * Run: npm run test:e2e (vitest.e2e.config.ts). Needs /usr/bin/chromium (apt-get install
 * chromium) or CHROMIUM_PATH; it never downloads a browser.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type Browser, type BrowserContext, type Cookie, chromium, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('../..', import.meta.url))
const shots = join(root, 'test-results', 'e2e')
const chromiumPath = process.env.CHROMIUM_PATH || '/usr/bin/chromium'
/**
 * DEMO_LOGIN_LIMIT for the walk: the steps log in a dozen times within a minute from one address,
 * more than the demo's default of 10; the last step runs into this limit on purpose.
 */
const LOGIN_LIMIT = 20
/** Two other devices, told apart by their User-Agent in "Your devices". */
const FIREFOX_ON_WINDOWS = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0'
const SAFARI_ON_IPHONE =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1'

// ---- the demo process ----

interface DemoProcess {
  readonly child: ChildProcess
  readonly url: string
  readonly port: number
  output(): string
}

/** Starts `node scripts/start.mjs` and resolves once it prints its address. */
async function startDemo(dataDir: string, port: number): Promise<DemoProcess> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: String(port),
    HOST: '127.0.0.1',
    DEMO_DATA_DIR: dataDir,
    DEMO_LOGIN_LIMIT: String(LOGIN_LIMIT),
  }
  delete env.JWT_SECRET_KEY // the demo's own secret file, so a restart must find it again
  delete env.DEMO_COOKIE_SECURE
  const child = spawn(process.execPath, [join(root, 'scripts', 'start.mjs')], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString()
  })
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString()
  })
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`the demo did not start within 30 s:\n${output}`)),
      30_000,
    )
    const onExit = (code: number | null) => {
      clearTimeout(timer)
      reject(new Error(`the demo exited with code ${code}:\n${output}`))
    }
    child.once('exit', onExit)
    child.stdout?.on('data', () => {
      const found = /authx demo: (http:\/\/localhost:\d+)/.exec(output)
      if (found === null) return
      clearTimeout(timer)
      child.off('exit', onExit)
      resolve(found[1] as string)
    })
  })
  return { child, url, port: Number(new URL(url).port), output: () => output }
}

/** SIGTERM, as Ctrl-C would: the demo closes its server and its SQLite store, then exits. */
async function stopDemo(demo: DemoProcess | undefined): Promise<void> {
  if (demo === undefined || demo.child.exitCode !== null || demo.child.signalCode !== null) return
  const exited = once(demo.child, 'exit')
  demo.child.kill('SIGTERM')
  await exited
}

// ---- the page ----

interface Answer {
  status: number
  code: string
  line: string
  /** The server's message, as the page shows it. */
  message: string
  /** What the page adds: what happened, what to do next. */
  note: string
}

/** The "Last answer" panel: what the server answered, its code and message as the page shows them. */
async function lastAnswer(page: Page): Promise<Answer> {
  return {
    status: Number(await page.getAttribute('#result', 'data-status')),
    code: (await page.getAttribute('#result', 'data-code')) ?? '',
    line: (await page.textContent('#result-line')) ?? '',
    message: (await page.textContent('#result-message')) ?? '',
    note: (await page.textContent('#result-note')) ?? '',
  }
}

/** Clicks, waits for the page to record the server's answer, and returns it. */
async function act(page: Page, selector: string): Promise<Answer> {
  const before = await page.locator('#history li').count()
  await page.click(selector)
  await page.waitForFunction(
    (n) => document.querySelectorAll('#history li').length > n && !document.querySelector('button:disabled'),
    before,
  )
  return lastAnswer(page)
}

async function login(page: Page, username: string): Promise<Answer> {
  await page.click(`#demo-users tr[data-user="${username}"] button`)
  const answer = await act(page, '#login-submit')
  expect(answer.status).toBe(200)
  await page.waitForSelector('#session-view', { state: 'visible' })
  return answer
}

const claim = async (page: Page, name: string) => page.textContent(`#claims tr[data-claim="${name}"] .value`)

const text = async (page: Page, selector: string) => ((await page.textContent(selector)) ?? '').trim()

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true })
}

/** What the page's own script may see of the cookies. */
const documentCookie = (page: Page) => page.evaluate(() => document.cookie)

/** The page's own DPoP module (examples/demo/public/dpop.js), as the page's script imports it. */
interface DpopModule {
  proof(method: string, url: string, accessToken?: string): Promise<string>
  thumbprint(): Promise<string>
  keyPair(): Promise<CryptoKeyPair>
}
/** The global under which {@link withDpop} puts the page's DPoP module, for this test only. */
const DPOP_MODULE = '__authxDemoDpop'

/**
 * Imports the page's '/dpop.js' in the page and keeps it under {@link DPOP_MODULE}. A string, not
 * a function: vitest would rewrite an `import()` in a function passed to page.evaluate.
 */
async function withDpop(page: Page): Promise<Page> {
  await page.evaluate(`import('/dpop.js').then((m) => { globalThis.${DPOP_MODULE} = m })`)
  return page
}

/**
 * A request the page's script makes itself, outside the page's buttons, with a DPoP proof of the
 * page's key for it unless `proof: false` (then with the headers given, a `dpop` one included).
 */
const fetchFromPage = (
  page: Page,
  path: string,
  init: { method: string; headers?: Record<string, string>; proof?: boolean },
) =>
  withDpop(page).then((page) =>
    page.evaluate(
      async ([p, { proof = true, ...i }, module]) => {
        const headers: Record<string, string> = { ...i.headers }
        if (proof)
          headers.dpop = await (globalThis as unknown as Record<string, DpopModule>)[module]!.proof(
            i.method,
            p,
          )
        const res = await fetch(p, { ...i, headers })
        return {
          status: res.status,
          body: (await res.json()) as { code?: string; reason?: string; refresh?: { jkt?: string } },
        }
      },
      [path, init, DPOP_MODULE] as const,
    ),
  )

/**
 * A POST the page's script makes itself, with the CSRF value of the cookie `csrfCookie` in
 * X-CSRF-TOKEN (as the page's buttons send it), a DPoP proof of the page's key, and an optional
 * JSON body.
 */
const postFromPage = (page: Page, path: string, csrfCookie: string, body?: unknown) =>
  withDpop(page).then((page) =>
    page.evaluate(
      async ([p, name, b, module]) => {
        const cookie = document.cookie.split('; ').find((part) => part.startsWith(`${name}=`))
        const headers: Record<string, string> = {
          dpop: await (globalThis as unknown as Record<string, DpopModule>)[module]!.proof('POST', p),
        }
        if (cookie !== undefined) headers['x-csrf-token'] = decodeURIComponent(cookie.slice(name.length + 1))
        if (b !== undefined) headers['content-type'] = 'application/json'
        const res = await fetch(p, {
          method: 'POST',
          headers,
          body: b === undefined ? null : JSON.stringify(b),
        })
        const text = await res.text()
        return {
          status: res.status,
          body: (text === '' ? null : JSON.parse(text)) as { code?: string } | null,
          retryAfter: res.headers.get('retry-after'),
          policy: res.headers.get('ratelimit-policy'),
        }
      },
      [path, csrfCookie, body, DPOP_MODULE] as const,
    ),
  )

/** The thumbprint of the page's DPoP key, as its script computes it. */
const browserKey = (page: Page) =>
  withDpop(page).then((page) =>
    page.evaluate(
      async (module) => (globalThis as unknown as Record<string, DpopModule>)[module]!.thumbprint(),
      DPOP_MODULE,
    ),
  )

/** The `cnf.jkt` of the access token, as the server decoded it (the claims table). */
const boundKey = async (page: Page) =>
  (JSON.parse((await claim(page, 'cnf')) ?? 'null') as { jkt?: string } | null)?.jkt

interface Device {
  sid: string
  current: boolean
  device: string
  ip: string
  userAgent: string
  /** Whether it has a "Log out" button (every device but this one). */
  button: boolean
  /** Whether it carries the "this device" badge. */
  badge: boolean
}

/** The "Your devices" list as the page shows it. */
const devicesOf = (page: Page): Promise<Device[]> =>
  page.evaluate(() =>
    [...document.querySelectorAll<HTMLElement>('#devices li[data-sid]')].map((item) => ({
      sid: item.dataset.sid ?? '',
      current: item.dataset.current === 'true',
      device: item.querySelector('.device-name strong')?.textContent ?? '',
      ip: item.querySelector('[data-fact="IP"]')?.textContent ?? '',
      userAgent: item.querySelector('[data-fact="user-agent"]')?.textContent ?? '',
      button: item.querySelector('button.device-logout') !== null,
      badge: item.querySelector('.this-device') !== null,
    })),
  )

const byName = (cookies: Cookie[]) => new Map(cookies.map((cookie) => [cookie.name, cookie]))

// ---- the walk ----

describe('the demo in Chromium', () => {
  let dataDir: string
  let demo: DemoProcess | undefined
  let browser: Browser
  const contexts: BrowserContext[] = []
  const problems: string[] = []

  /** A new browser profile (its own cookie jar), phone-sized, whose script errors are collected. */
  async function newPage(userAgent?: string): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext({
      viewport: { width: 390, height: 844 },
      ...(userAgent === undefined ? {} : { userAgent }),
    })
    contexts.push(context)
    const page = await context.newPage()
    page.setDefaultTimeout(10_000) // a step that cannot happen fails in 10 s, not at the test's 60
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`))
    page.on('console', (message) => {
      // Chromium logs every non-2xx fetch as "Failed to load resource": those are the demo's point.
      if (message.type() === 'error' && !message.text().startsWith('Failed to load resource'))
        problems.push(`console: ${message.text()}`)
    })
    await page.goto(demo!.url)
    await page.waitForSelector('#loading', { state: 'hidden' })
    return { context, page }
  }

  beforeAll(async () => {
    if (!existsSync(chromiumPath))
      throw new Error(`No Chromium at ${chromiumPath}: apt-get install chromium, or set CHROMIUM_PATH`)
    mkdirSync(shots, { recursive: true })
    dataDir = mkdtempSync(join(tmpdir(), 'authx-demo-e2e-'))
    demo = await startDemo(dataDir, 0)
    browser = await chromium.launch({
      executablePath: chromiumPath,
      args: ['--headless', '--no-sandbox', '--disable-gpu'],
    })
  })

  afterAll(async () => {
    for (const context of contexts) await context.close().catch(() => {})
    await browser?.close()
    await stopDemo(demo)
    if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true })
  })

  let page: Page
  let context: BrowserContext

  it('npm start prints the address and the demo users, and makes its data folder', () => {
    expect(demo!.output()).toMatch(/authx demo: http:\/\/localhost:\d+/)
    expect(demo!.output()).toMatch(/ada\s+password ada-demo-password\s+scopes profile:read admin:\*/)
    expect(demo!.output()).toMatch(/bob\s+password bob-demo-password\s+scopes profile:read/)
    expect(existsSync(join(dataDir, 'authx-demo.db'))).toBe(true)
    expect(existsSync(join(dataDir, 'demo-secret.key'))).toBe(true)
  })

  it('lists the demo users, logs in, and keeps the tokens in HttpOnly cookies with readable CSRF cookies', async () => {
    ;({ context, page } = await newPage())
    expect(await page.isVisible('#login-view')).toBe(true)
    expect(await text(page, '#demo-users tr[data-user="ada"]')).toContain('admin:*')
    expect(await text(page, '#demo-users tr[data-user="bob"]')).not.toContain('admin')
    await shot(page, '01-login')

    await login(page, 'bob')
    const cookies = byName(await context.cookies())
    for (const name of ['__Host-access', '__Secure-refresh']) {
      expect(cookies.get(name), name).toMatchObject({ httpOnly: true, secure: true, sameSite: 'Strict' })
    }
    expect(cookies.get('__Host-access')?.path).toBe('/')
    expect(cookies.get('__Secure-refresh')?.path).toBe('/auth') // never sent to the API
    for (const name of ['__Host-csrf-access', '__Host-csrf-refresh']) {
      expect(cookies.get(name), name).toMatchObject({
        httpOnly: false,
        secure: true,
        sameSite: 'Strict',
        path: '/',
      })
    }
    // The page's script sees the CSRF values and never a token; nor does the page show one.
    const visible = await documentCookie(page)
    expect(visible).toContain('__Host-csrf-access=')
    expect(visible).toContain('__Host-csrf-refresh=')
    expect(visible).not.toContain('__Host-access=')
    expect(visible).not.toContain('__Secure-refresh=')
    const html = await page.content()
    expect(html).not.toContain(cookies.get('__Host-access')!.value)
    expect(html).not.toContain(cookies.get('__Secure-refresh')!.value)
  })

  it('shows the profile and the decoded access-token claims with a live countdown', async () => {
    expect(await text(page, '#user-name')).toBe('Bob')
    expect(await claim(page, 'sub')).toBe('"user-bob"')
    expect(await claim(page, 'type')).toBe('"access"')
    expect(await claim(page, 'fresh')).toBe('true')
    expect(await claim(page, 'scopes')).toBe('["profile:read"]')
    expect(await text(page, '#fresh-badge')).toBe('fresh')
    const first = Number.parseInt(await text(page, '#expires-in'), 10)
    expect(first).toBeGreaterThan(0)
    expect(first).toBeLessThanOrEqual(60)
    // Live: the number goes down while the page sits there.
    await page.waitForFunction(
      (n) => Number.parseInt(document.getElementById('expires-in')?.textContent ?? '', 10) < n,
      first,
    )
    // Phone-sized, and nothing wider than the screen.
    expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true)
    await shot(page, '02-session-phone')
  })

  it('binds both tokens to a key the browser made, kept in IndexedDB, whose private half cannot be exported', async () => {
    const jkt = await browserKey(page)
    expect(jkt).toMatch(/^[\w-]{43}$/)
    expect(await boundKey(page)).toBe(jkt) // the access token's cnf.jkt, as the server read it
    const session = await fetchFromPage(page, '/auth/session', { method: 'GET' })
    expect(session.body.refresh?.jkt).toBe(jkt) // and the refresh token's
    expect(await page.getAttribute('#dpop-binding', 'data-bound')).toBe('this-browser')
    expect(await text(page, '#dpop-binding')).toBe(
      `Tokens bound to this browser's key (DPoP): ${jkt.slice(0, 12)}…`,
    )

    const key = await (await withDpop(page)).evaluate(async (module) => {
      const { keyPair } = (globalThis as unknown as Record<string, DpopModule>)[module]!
      const pair = await keyPair()
      // The pair as IndexedDB holds it, read without the module.
      const stored = await new Promise<CryptoKeyPair>((resolve, reject) => {
        const open = indexedDB.open('dpop')
        open.onerror = () => reject(open.error)
        open.onsuccess = () => {
          const get = open.result.transaction('keys').objectStore('keys').get('default')
          get.onerror = () => reject(get.error)
          get.onsuccess = () => {
            open.result.close()
            resolve(get.result as CryptoKeyPair)
          }
        }
      })
      const exported = async (k: CryptoKey) => {
        try {
          await crypto.subtle.exportKey('jwk', k)
          return 'exported'
        } catch (err) {
          return (err as Error).name
        }
      }
      return {
        extractable: [pair.privateKey.extractable, stored.privateKey.extractable],
        privateExport: [await exported(pair.privateKey), await exported(stored.privateKey)],
        publicExport: await exported(pair.publicKey),
        algorithm: pair.privateKey.algorithm,
      }
    }, DPOP_MODULE)
    expect(key).toEqual({
      extractable: [false, false],
      privateExport: ['InvalidAccessError', 'InvalidAccessError'],
      publicExport: 'exported',
      algorithm: { name: 'ECDSA', namedCurve: 'P-256' },
    })

    // A reload reads the same key from IndexedDB: the session goes on.
    await page.reload()
    await page.waitForSelector('#session-view', { state: 'visible' })
    expect(await browserKey(page)).toBe(jkt)
    expect(await act(page, '#btn-profile')).toMatchObject({ status: 200 })
    expect(await page.getAttribute('#dpop-binding', 'data-bound')).toBe('this-browser')
  })

  it('accepts a DPoP proof once: a captured proof sent again is refused, and so are requests without one or with one for another URL', async () => {
    let captured: string | undefined
    await page.route('**/api/profile', async (route) => {
      captured ??= route.request().headers().dpop
      await route.continue()
    })
    expect(await act(page, '#btn-profile')).toMatchObject({ status: 200 })
    await page.unroute('**/api/profile')
    expect(captured).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/)

    const replayed = await fetchFromPage(page, '/api/profile', {
      method: 'GET',
      proof: false,
      headers: { dpop: captured! },
    })
    expect(replayed).toEqual({
      status: 401,
      body: expect.objectContaining({ code: 'ERR_INVALID_DPOP_PROOF', reason: 'replay' }),
    })
    expect(await fetchFromPage(page, '/api/profile', { method: 'GET', proof: false })).toEqual({
      status: 401,
      body: expect.objectContaining({ code: 'ERR_INVALID_DPOP_PROOF', reason: 'missing' }),
    })
    const elsewhere = await (await withDpop(page)).evaluate(
      async (module) =>
        (globalThis as unknown as Record<string, DpopModule>)[module]!.proof('GET', '/api/sessions'),
      DPOP_MODULE,
    )
    expect(
      await fetchFromPage(page, '/api/profile', {
        method: 'GET',
        proof: false,
        headers: { dpop: elsewhere },
      }),
    ).toEqual({
      status: 401,
      body: expect.objectContaining({ code: 'ERR_INVALID_DPOP_PROOF', reason: 'htu' }),
    })
    // A new proof, as the page makes for every request: accepted.
    expect(await fetchFromPage(page, '/api/profile', { method: 'GET' })).toMatchObject({ status: 200 })
  })

  it('refuses cookies copied into another browser, whose IndexedDB holds no such key: a stolen cookie is worthless', async () => {
    const stolen = await context.cookies()
    const thief = await newPage()
    await thief.context.addCookies(stolen)
    await thief.page.reload()
    await thief.page.waitForSelector('#loading', { state: 'hidden' })
    // The page's own proofs are made with the thief's new key: the API refuses them.
    expect(await thief.page.isVisible('#login-view')).toBe(true)
    expect(await lastAnswer(thief.page)).toMatchObject({ status: 401, code: 'ERR_INVALID_DPOP_PROOF' })
    expect(await browserKey(thief.page)).not.toBe(await browserKey(page))
    expect(await fetchFromPage(thief.page, '/api/profile', { method: 'GET' })).toEqual({
      status: 401,
      body: expect.objectContaining({ code: 'ERR_INVALID_DPOP_PROOF', reason: 'key' }),
    })
    expect(await fetchFromPage(thief.page, '/api/profile', { method: 'GET', proof: false })).toEqual({
      status: 401,
      body: expect.objectContaining({ code: 'ERR_INVALID_DPOP_PROOF', reason: 'missing' }),
    })
    expect(await postFromPage(thief.page, '/auth/refresh', '__Host-csrf-refresh')).toMatchObject({
      status: 401,
      body: { code: 'ERR_INVALID_DPOP_PROOF', reason: 'key' },
    })
    await shot(thief.page, '02b-stolen-cookies-refused')
    // The owner's login is untouched: nothing was used up or revoked by the attempts.
    expect(await act(page, '#btn-profile')).toMatchObject({ status: 200 })
  })

  it('after a refresh the new tokens are bound to the same key, and the API works', async () => {
    const jkt = await browserKey(page)
    expect(await act(page, '#btn-refresh')).toMatchObject({ status: 200 })
    expect(await claim(page, 'fresh')).toBe('false') // a new access token
    expect(await boundKey(page)).toBe(jkt)
    const session = await fetchFromPage(page, '/auth/session', { method: 'GET' })
    expect(session.body.refresh?.jkt).toBe(jkt)
    expect(await page.getAttribute('#dpop-binding', 'data-bound')).toBe('this-browser')
    expect(await act(page, '#btn-profile')).toMatchObject({ status: 200 })
    expect(await act(page, '#btn-devices')).toMatchObject({ status: 200 })
  })

  it('refuses a POST whose CSRF header is missing or wrong, with the server code', async () => {
    const missing = await fetchFromPage(page, '/api/sensitive', { method: 'POST' })
    expect(missing).toEqual({
      status: 403,
      body: expect.objectContaining({ code: 'ERR_CSRF', reason: 'missing' }),
    })
    const wrong = await fetchFromPage(page, '/api/sensitive', {
      method: 'POST',
      headers: { 'x-csrf-token': 'x' },
    })
    expect(wrong).toEqual({
      status: 403,
      body: expect.objectContaining({ code: 'ERR_CSRF', reason: 'mismatch' }),
    })
  })

  it('answers the admin route with a clear 403 for bob and lets ada in', async () => {
    const refused = await act(page, '#btn-admin')
    expect(refused).toMatchObject({ status: 403, code: 'ERR_INSUFFICIENT_SCOPE' })
    expect(refused.line).toContain('GET /api/admin/users → 403 ERR_INSUFFICIENT_SCOPE')
    expect(refused.message).toContain('admin:users') // the server's message names the scope
    await shot(page, '03-admin-403')

    expect(await act(page, '#btn-logout')).toMatchObject({ status: 204 })
    expect(await page.isVisible('#login-view')).toBe(true)
    await login(page, 'ada')
    expect(await act(page, '#btn-admin')).toMatchObject({ status: 200, code: '' })
  })

  it('refresh rotates the refresh token (new jti, same fid), and the fresh-only action then asks for a new login', async () => {
    expect(await act(page, '#btn-sensitive')).toMatchObject({ status: 200 })
    const jti = await text(page, '#refresh-jti')
    const fid = await text(page, '#refresh-fid')
    const cookieBefore = byName(await context.cookies()).get('__Secure-refresh')!.value
    expect(await text(page, '#previous-jti')).toBe('none yet')

    expect(await act(page, '#btn-refresh')).toMatchObject({ status: 200 })
    expect(await text(page, '#refresh-jti')).not.toBe(jti)
    expect(await text(page, '#refresh-fid')).toBe(fid)
    expect(await text(page, '#previous-jti')).toBe(jti)
    expect(await text(page, '#rotation-note')).toContain(`family ${fid} is the same`)
    expect(byName(await context.cookies()).get('__Secure-refresh')!.value).not.toBe(cookieBefore)
    expect(await claim(page, 'fresh')).toBe('false')
    expect(await claim(page, 'fid')).toBe(JSON.stringify(fid)) // the access token is of the same login
    await shot(page, '04-rotated')

    const stale = await act(page, '#btn-sensitive')
    expect(stale).toMatchObject({ status: 401, code: 'ERR_FRESH_TOKEN_REQUIRED' })
    expect(stale.note).toContain('log in again')
    expect(await page.isVisible('#relogin')).toBe(true)
    await shot(page, '05-fresh-required')

    await act(page, '#relogin')
    expect(await page.isVisible('#login-view')).toBe(true)
    expect(await page.inputValue('#login-username')).toBe('ada')
    expect((await act(page, '#login-submit')).status).toBe(200)
    expect(await claim(page, 'fresh')).toBe('true')
    expect(await act(page, '#btn-sensitive')).toMatchObject({ status: 200 })
  })

  it('replaying the previous refresh token is detected as reuse and ends the whole login', async () => {
    expect(await act(page, '#btn-replay')).toMatchObject({ status: 409, code: 'ERR_DEMO_NOTHING_TO_REPLAY' })
    expect(await act(page, '#btn-refresh')).toMatchObject({ status: 200 })
    const fid = await text(page, '#refresh-fid')

    const reused = await act(page, '#btn-replay')
    expect(reused).toMatchObject({ status: 401, code: 'ERR_REFRESH_TOKEN_REUSED' })
    expect(reused.note).toContain(`family ${fid} is revoked`)
    // The copied cookie alone was refused first, for want of the key; only the replay with a
    // proof of it (what a script injected into the page could make) reached reuse detection.
    expect(reused.note).toContain('refused first: 401 ERR_INVALID_DPOP_PROOF')
    await shot(page, '06-reuse-detected')

    // The current tokens of that login are revoked with it: the page finds its refresh token
    // refused too, and shows the login form.
    const revoked = await act(page, '#btn-profile')
    expect(revoked).toMatchObject({ status: 401, code: 'ERR_TOKEN_REVOKED' })
    expect(revoked.note).toContain('logged out')
    expect(await page.isVisible('#login-view')).toBe(true)
    expect(await postFromPage(page, '/auth/refresh', '__Host-csrf-refresh')).toMatchObject({
      status: 401,
      body: { code: 'ERR_TOKEN_REVOKED' },
    })
    expect(await postFromPage(page, '/auth/logout', '__Host-csrf-access')).toMatchObject({ status: 204 })
    const left = byName(await context.cookies())
    expect([...left.keys()]).toEqual([]) // logout deleted all four cookies
  })

  it('log out everywhere revokes the sessions of the user on every device', async () => {
    const other = await newPage() // a second device
    await login(other.page, 'ada')
    const issuedAt = Number.parseInt((await claim(other.page, 'iat')) ?? '', 10)
    await login(page, 'ada')
    // Ada's earlier logins ended with their logout (step 4's "Log in again") and reuse (step 6):
    // "Your devices" holds these two only.
    expect(await act(other.page, '#btn-devices')).toMatchObject({ status: 200 })
    expect(await devicesOf(other.page)).toEqual([
      expect.objectContaining({ current: false }),
      expect.objectContaining({ current: true }),
    ])
    // revokeAllForSubject cuts tokens issued before the current second: let that second pass.
    while (Math.floor(Date.now() / 1000) <= issuedAt) await page.waitForTimeout(100)

    const everywhere = await act(page, '#btn-logout-all')
    expect(everywhere).toMatchObject({ status: 200 })
    expect(await page.isVisible('#login-view')).toBe(true)
    expect(await act(other.page, '#btn-profile')).toMatchObject({ status: 401, code: 'ERR_TOKEN_REVOKED' })
    await shot(other.page, '07-other-device-revoked')
  })

  /** The two devices of the sessions steps: A (this browser's own User-Agent) and B. */
  let deviceA: { context: BrowserContext; page: Page }
  let deviceB: { context: BrowserContext; page: Page }

  it('"Your devices" lists the logins of the user, and "Log out other devices" ends them at once, refresh included', async () => {
    deviceA = await newPage()
    await login(deviceA.page, 'ada')
    deviceB = await newPage(FIREFOX_ON_WINDOWS)
    await login(deviceB.page, 'ada')
    const sidOfA = JSON.parse((await claim(deviceA.page, 'sid')) ?? '""') as string
    expect(sidOfA).not.toBe('')

    expect(await act(deviceA.page, '#btn-devices')).toMatchObject({ status: 200 })
    const devices = await devicesOf(deviceA.page)
    expect(devices).toHaveLength(2) // the earlier logins of ada were ended by "log out everywhere"
    const [b, a] = devices // newest first
    expect(a).toMatchObject({ sid: sidOfA, current: true, badge: true, button: false, ip: '127.0.0.1' })
    expect(a?.device).toMatch(/Chrome on Linux$/)
    expect(b).toMatchObject({
      current: false,
      badge: false,
      button: true,
      device: 'Firefox on Windows',
      userAgent: FIREFOX_ON_WINDOWS,
      ip: '127.0.0.1',
    })
    await shot(deviceA.page, '09-your-devices')

    const others = await act(deviceA.page, '#btn-logout-others')
    expect(others).toMatchObject({ status: 200, code: '' })
    expect(await devicesOf(deviceA.page)).toEqual([expect.objectContaining({ sid: sidOfA, current: true })])

    // B's next call is refused, and its refresh token too: the page shows it logged out.
    const refused = await act(deviceB.page, '#btn-profile')
    expect(refused).toMatchObject({ status: 401, code: 'ERR_TOKEN_REVOKED' })
    expect(refused.note).toContain('logged out')
    expect(await deviceB.page.isVisible('#login-view')).toBe(true)
    expect(await postFromPage(deviceB.page, '/auth/refresh', '__Host-csrf-refresh')).toMatchObject({
      status: 401,
      body: { code: 'ERR_TOKEN_REVOKED' },
    })
    await shot(deviceB.page, '10-logged-out-by-other-device')

    // A still works, refresh included, and is the only device left.
    expect(await act(deviceA.page, '#btn-profile')).toMatchObject({ status: 200 })
    expect(await act(deviceA.page, '#btn-refresh')).toMatchObject({ status: 200 })
    expect(await claim(deviceA.page, 'sid')).toBe(JSON.stringify(sidOfA)) // a refresh keeps the session
    expect(await act(deviceA.page, '#btn-devices')).toMatchObject({ status: 200 })
    expect(await devicesOf(deviceA.page)).toEqual([expect.objectContaining({ sid: sidOfA, current: true })])
  })

  it("a device's Log out button ends that session only, and nobody can end another user's session", async () => {
    await login(deviceB.page, 'ada') // B again: a new session
    const deviceC = await newPage(SAFARI_ON_IPHONE)
    await login(deviceC.page, 'ada')
    expect(await act(deviceA.page, '#btn-devices')).toMatchObject({ status: 200 })
    expect((await devicesOf(deviceA.page)).map((d) => d.device)).toEqual([
      'Safari on iPhone',
      'Firefox on Windows',
      expect.stringMatching(/Chrome on Linux$/),
    ])

    const out = await act(deviceA.page, '#devices li:has-text("Firefox on Windows") button.device-logout')
    expect(out).toMatchObject({ status: 200, code: '' })
    const left = await devicesOf(deviceA.page)
    expect(left.map((d) => [d.device, d.current])).toEqual([
      ['Safari on iPhone', false],
      [expect.stringMatching(/Chrome on Linux$/), true],
    ])

    expect(await act(deviceB.page, '#btn-profile')).toMatchObject({ status: 401, code: 'ERR_TOKEN_REVOKED' })
    expect(await deviceB.page.isVisible('#login-view')).toBe(true)
    expect(await act(deviceC.page, '#btn-profile')).toMatchObject({ status: 200 }) // C lives on
    expect(await act(deviceA.page, '#btn-profile')).toMatchObject({ status: 200 })

    // Bob, logged in elsewhere, cannot end one of Ada's sessions by its id: 404, and it lives on.
    const bob = await newPage()
    await login(bob.page, 'bob')
    const sidOfC = left[0]!.sid
    expect(
      await postFromPage(bob.page, `/api/sessions/${sidOfC}/revoke`, '__Host-csrf-access'),
    ).toMatchObject({
      status: 404,
      body: { code: 'ERR_DEMO_NO_SUCH_SESSION' },
    })
    expect(await act(deviceC.page, '#btn-profile')).toMatchObject({ status: 200 })
  })

  it('a revoked login stays revoked after the server restarts on the same SQLite file', async () => {
    const revoked = await newPage()
    await login(revoked.page, 'bob')
    const saved = await revoked.context.cookies() // a copy of the cookies, as a thief might hold
    const kept = await newPage() // another login of bob's that nobody revokes
    await login(kept.page, 'bob')
    const sidOf = async (p: Page) => JSON.parse((await claim(p, 'sid')) ?? '""') as string
    const [revokedSid, keptSid] = [await sidOf(revoked.page), await sidOf(kept.page)]

    expect(await act(revoked.page, '#btn-logout')).toMatchObject({ status: 204 })
    expect(await revoked.context.cookies()).toEqual([])

    const port = demo!.port
    await stopDemo(demo)
    demo = await startDemo(dataDir, port)

    // The copied cookies of the logged-out login: refused, as revoked (not as a bad signature).
    await revoked.context.addCookies(saved)
    await revoked.page.reload()
    await revoked.page.waitForSelector('#loading', { state: 'hidden' })
    expect(await revoked.page.isVisible('#login-view')).toBe(true)
    expect(await lastAnswer(revoked.page)).toMatchObject({ status: 401, code: 'ERR_TOKEN_REVOKED' })
    expect(await fetchFromPage(revoked.page, '/auth/session', { method: 'GET' })).toEqual({
      status: 401,
      body: expect.objectContaining({ code: 'ERR_TOKEN_REVOKED' }),
    })
    await shot(revoked.page, '08-revoked-after-restart')

    // The other login survived the restart: same secret, same store.
    await kept.page.reload()
    await kept.page.waitForSelector('#session-view', { state: 'visible' })
    expect(await act(kept.page, '#btn-profile')).toMatchObject({ status: 200 })
    expect(await act(kept.page, '#btn-refresh')).toMatchObject({ status: 200 })
    // So did its session, and the logged-out one left "Your devices".
    const sids = (await devicesOf(kept.page)).map((d) => d.sid)
    expect(sids).toContain(keptSid)
    expect(sids).not.toContain(revokedSid)
  })

  it('the login answers 429 with Retry-After past DEMO_LOGIN_LIMIT attempts a minute from one address, and the page says when to try again', async () => {
    const { page: limited } = await newPage()
    // Every attempt counts, failed ones too; the walk above used part of the minute's quota.
    let answer = await postFromPage(limited, '/auth/login', '', { username: 'bob', password: 'wrong' })
    let attempts = 1
    while (answer.status === 401 && attempts <= LOGIN_LIMIT) {
      answer = await postFromPage(limited, '/auth/login', '', { username: 'bob', password: 'wrong' })
      attempts += 1
    }
    expect(answer).toMatchObject({ status: 429, body: { code: 'ERR_RATE_LIMITED' } })
    expect(attempts).toBeLessThanOrEqual(LOGIN_LIMIT + 1)
    expect(answer.policy).toBe(`"login";q=${LOGIN_LIMIT};w=60`)
    const retryAfter = Number(answer.retryAfter)
    expect(retryAfter).toBeGreaterThan(0)
    expect(retryAfter).toBeLessThanOrEqual(60)
    // The limit comes before the password check: the right password is refused as well.
    expect(
      await postFromPage(limited, '/auth/login', '', { username: 'bob', password: 'bob-demo-password' }),
    ).toMatchObject({ status: 429, body: { code: 'ERR_RATE_LIMITED' } })

    await limited.click('#demo-users tr[data-user="bob"] button')
    expect(await act(limited, '#login-submit')).toMatchObject({ status: 429, code: 'ERR_RATE_LIMITED' })
    expect(await limited.isVisible('#login-view')).toBe(true)
    expect(await limited.isVisible('#login-message')).toBe(true)
    expect(await text(limited, '#login-message')).toMatch(/try again in \d+ s/)
    await shot(limited, '11-login-rate-limited')
  })

  it('logged no script error and no Content-Security-Policy violation', () => {
    expect(problems).toEqual([])
  })
})
