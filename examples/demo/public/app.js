// The demo page: plain DOM code, no framework, no network beyond this server. The tokens live in
// HttpOnly cookies this script cannot read; it reads only the two CSRF cookies, and shows what the
// server says about the tokens (GET /api/profile, GET /auth/session) and the user's sessions
// (GET /api/sessions). Everything the server sends is written with textContent, never as HTML.
// Every request carries a DPoP proof made with this browser's key (./dpop.js): the tokens are
// bound to that key, so the cookies alone, copied elsewhere, are refused.

import { proof, thumbprint } from './dpop.js'

const $ = (id) => document.getElementById(id)

const state = {
  /** GET /api/demo: users, CSRF cookie names, access lifetime. */
  config: null,
  /** Server clock minus this browser's clock, in ms, so the countdown follows the server. */
  skew: 0,
  /** The access token's `exp` and `iat` (seconds), for the countdown. */
  exp: null,
  iat: null,
  /** The refresh token's claims as last seen (jti, fid). */
  refresh: null,
  /** The username of the last login, for "Log in again". */
  username: null,
}

// ---- talking to the server ----

function readCookie(name) {
  for (const part of document.cookie.split('; ')) {
    const eq = part.indexOf('=')
    if (eq > 0 && part.slice(0, eq) === name) return decodeURIComponent(part.slice(eq + 1))
  }
  return undefined
}

/**
 * Web Crypto exists only in a secure context (https, or http://localhost): over plain HTTP from
 * another machine the page sends no proofs, and the server (started with secure cookies off)
 * makes unbound tokens.
 */
const canProve = globalThis.isSecureContext === true && globalThis.crypto?.subtle !== undefined

/**
 * One request. `csrf` names the CSRF cookie ('access' or 'refresh') whose value goes into the
 * X-CSRF-TOKEN header: the double submit that authx checks on POST with cookie tokens. Every
 * request gets a new DPoP proof (one is accepted once), made for its method and URL; without
 * the access token's hash (`ath`): the token is in an HttpOnly cookie, out of this script's reach.
 */
async function call(method, path, { body, csrf, headers: extra } = {}) {
  const headers = { ...extra }
  if (body !== undefined) headers['content-type'] = 'application/json'
  if (csrf !== undefined) {
    const value = readCookie(state.config.csrfCookies[csrf])
    if (value !== undefined) headers['x-csrf-token'] = value
  }
  if (canProve) {
    try {
      headers.dpop = await proof(method, path)
    } catch {
      // Sent without: a route that needs a proof says so (401 ERR_INVALID_DPOP_PROOF).
      console.warn('authx demo: no DPoP proof could be made (is IndexedDB blocked?)')
    }
  }
  let res
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
    })
  } catch {
    return {
      method,
      path,
      status: 0,
      ok: false,
      body: { code: 'NETWORK', message: 'The server did not answer: is it running?' },
    }
  }
  const text = await res.text()
  let data = null
  if (text !== '') {
    try {
      data = JSON.parse(text)
    } catch {
      data = { message: text }
    }
  }
  // Retry-After: how long a 429 (the login's rate limit) asks the client to wait, in seconds.
  const retryAfter = res.headers.get('retry-after')
  return { method, path, status: res.status, ok: res.ok, body: data, retryAfter }
}

// ---- showing answers ----

/** Shows an answer in "Last answer" (and the history): status, the server's code and message. */
function show(answer, okMessage, { note, relogin = false } = {}) {
  const body = answer.body ?? {}
  const result = $('result')
  const code = answer.ok ? '' : (body.code ?? '')
  result.dataset.outcome = answer.ok ? 'ok' : 'error'
  result.dataset.status = String(answer.status)
  result.dataset.code = code
  const line = `${answer.method} ${answer.path} → ${answer.status === 0 ? 'no answer' : answer.status}${code ? ` ${code}` : ''}`
  const message = answer.ok ? okMessage : (body.message ?? 'The server gave no message')
  $('result-line').textContent = line
  $('result-message').textContent = message
  $('result-note').textContent = note ?? ''
  $('result-note').hidden = !note
  const extra = { ...body }
  delete extra.code
  delete extra.message
  $('result-body').hidden = Object.keys(extra).length === 0
  $('result-body').textContent = JSON.stringify(extra, null, 2)
  $('relogin').hidden = !relogin
  $('result-view').hidden = false
  result.scrollIntoView({ block: 'nearest' }) // on a phone the answer is below the buttons

  const item = document.createElement('li')
  item.textContent = `${new Date().toLocaleTimeString()}  ${line}: ${message}`
  $('history').prepend(item)
}

function showView(name) {
  $('loading').hidden = true
  $('login-view').hidden = name !== 'login'
  $('session-view').hidden = name !== 'session'
}

const CLAIM_NOTES = {
  sub: 'subject: the user id',
  jti: 'this token’s id (what revokeToken records)',
  iat: 'issued at',
  nbf: 'not before',
  exp: 'expires at',
  iss: 'issuer',
  type: 'access or refresh',
  fresh: 'true only for a token made by a login',
  csrf: 'the value the X-CSRF-TOKEN header must carry (also in the readable CSRF cookie)',
  scopes: 'what the token allows',
  fid: 'family: one per login, kept across refreshes',
  sid: 'session: one per login, listed under “Your devices”',
  cnf: 'confirmation: jkt, the thumbprint of the key this token is bound to (DPoP)',
}

function renderClaims(claims) {
  const tbody = $('claims').querySelector('tbody')
  tbody.replaceChildren()
  for (const [name, value] of Object.entries(claims)) {
    const row = document.createElement('tr')
    row.dataset.claim = name
    const key = document.createElement('th')
    key.textContent = name
    const cell = document.createElement('td')
    const shown = document.createElement('code')
    shown.className = 'value'
    shown.textContent = JSON.stringify(value)
    const note = document.createElement('small')
    note.textContent =
      typeof value === 'number' && ['iat', 'nbf', 'exp'].includes(name)
        ? `${CLAIM_NOTES[name]}: ${new Date(value * 1000).toLocaleTimeString()}`
        : (CLAIM_NOTES[name] ?? 'custom data')
    cell.append(shown, note)
    row.append(key, cell)
    tbody.append(row)
  }
}

function renderProfile(profile) {
  $('user-name').textContent = profile.user.name
  state.username = profile.user.username
  $('user-scopes').textContent = profile.user.scopes.join(', ') || 'none'
  state.skew = profile.serverTime - Date.now()
  state.exp = profile.claims.exp
  state.iat = profile.claims.iat
  const badge = $('fresh-badge')
  badge.textContent = profile.claims.fresh ? 'fresh' : 'not fresh'
  badge.className = `badge ${profile.claims.fresh ? 'fresh' : 'stale'}`
  renderClaims(profile.claims)
  renderBinding(profile.claims)
  tick()
}

/** The DPoP line: which key the tokens are bound to, and whether it is this browser's. */
async function renderBinding(claims) {
  const line = $('dpop-binding')
  const jkt = claims.cnf?.jkt
  line.dataset.jkt = jkt ?? ''
  if (jkt === undefined) {
    line.dataset.bound = 'false'
    line.textContent = canProve
      ? 'Tokens not bound to a key: the login sent no DPoP proof.'
      : 'Tokens not bound to a key: this page has no Web Crypto over plain HTTP.'
    return
  }
  const own = canProve && jkt === (await thumbprint())
  line.dataset.bound = own ? 'this-browser' : 'other-key'
  line.textContent = `Tokens bound to this browser's key (DPoP): ${jkt.slice(0, 12)}…${own ? '' : ' (not the key this browser holds!)'}`
}

/** "Your devices": the sessions of GET /api/sessions, this device marked, the others with a button. */
function renderDevices({ sessions }) {
  const list = $('devices')
  list.replaceChildren()
  for (const session of sessions) {
    const item = document.createElement('li')
    item.dataset.sid = session.sid
    item.dataset.current = String(session.current)
    const title = document.createElement('p')
    title.className = 'device-name'
    const name = document.createElement('strong')
    name.textContent = session.device ?? 'Unknown device'
    title.append(name)
    if (session.current) {
      const badge = document.createElement('span')
      badge.className = 'badge fresh this-device'
      badge.textContent = 'this device'
      title.append(' ', badge)
    }
    const facts = document.createElement('dl')
    facts.className = 'ids'
    for (const [label, value] of [
      ['IP', session.ip ?? 'unknown'],
      ['signed in', new Date(session.createdAt).toLocaleString()],
      ['last seen', new Date(session.lastSeenAt).toLocaleString()],
      ['user agent', session.userAgent ?? 'none'],
    ]) {
      const term = document.createElement('dt')
      term.textContent = label
      const detail = document.createElement('dd')
      detail.textContent = value
      detail.dataset.fact = label.replace(' ', '-')
      facts.append(term, detail)
    }
    item.append(title, facts)
    if (!session.current) {
      const out = document.createElement('button')
      out.type = 'button'
      out.className = 'secondary device-logout'
      out.textContent = 'Log out'
      out.title = `Ends this session: POST /api/sessions/${session.sid}/revoke`
      out.addEventListener(
        'click',
        guarded(() => logoutDevice(session.sid)),
      )
      item.append(out)
    }
    list.append(item)
  }
  if (sessions.length === 0) {
    const none = document.createElement('li')
    none.className = 'hint'
    none.textContent = 'No live session: this login has no session record.'
    list.append(none)
  }
}

function renderSession(session, before) {
  state.refresh = session.refresh
  $('refresh-jti').textContent = session.refresh.jti
  $('refresh-fid').textContent = session.refresh.fid
  $('previous-jti').textContent = session.previous ? session.previous.jti : 'none yet'
  if (before && before.fid === session.refresh.fid && before.jti !== session.refresh.jti) {
    $('rotation-note').textContent =
      `Rotated: ${before.jti} is used up, ${session.refresh.jti} replaces it, and the family ${session.refresh.fid} is the same.`
  }
}

/** The live "expires in" countdown, on the server's clock. */
function tick() {
  if (state.exp === null) return
  const now = Date.now() + state.skew
  const left = Math.max(0, Math.ceil((state.exp * 1000 - now) / 1000))
  const out = $('expires-in')
  out.textContent = left > 0 ? `${left} s` : 'expired: refresh to get a new access token'
  out.classList.toggle('expired', left === 0)
  const life = state.exp - (state.iat ?? state.exp - state.config.accessTokenSeconds)
  $('expires-bar').style.width = `${life > 0 ? Math.min(100, (100 * left) / life) : 0}%`
}

// ---- the steps ----

/**
 * Reads what the browser's cookies hold: the access token (GET /api/profile) and the refresh
 * token (GET /auth/session). Shows the session when either is valid, the login form otherwise.
 */
async function loadSession({ report = false, before = null } = {}) {
  const profile = await call('GET', '/api/profile')
  const session = await call('GET', '/auth/session')
  if (profile.ok) renderProfile(profile.body)
  if (session.ok) renderSession(session.body, before)
  if (profile.ok) {
    const devices = await call('GET', '/api/sessions')
    if (devices.ok) renderDevices(devices.body)
  } else {
    $('devices').replaceChildren()
  }
  if (!profile.ok && profile.body?.code === 'ERR_TOKEN_EXPIRED') {
    state.exp = 0
    tick()
  }
  if (profile.ok || session.ok) {
    showView('session')
    if (report) show(profile, 'Your profile and the claims of your access token, as verified by the server.')
  } else {
    showView('login')
    // A token the browser still holds but the server refuses (revoked, expired...): say why.
    if (profile.body?.code && profile.body.code !== 'ERR_MISSING_TOKEN')
      show(profile, '', { note: 'Log in to get new tokens.' })
  }
  return { profile, session }
}

const LOGGED_OUT_NOTE =
  'This device is logged out: its refresh token is refused too (its session was ended from another device, or its login revoked). Log in again.'

/**
 * After a 401 ERR_TOKEN_REVOKED: is this device's whole login over? The refresh token tells: when
 * GET /auth/session refuses it too, no refresh can help (its session was ended from another
 * device, or its family revoked), so the page shows the login form. True when it did.
 */
async function loggedOutElsewhere(answer) {
  if (answer.status !== 401 || answer.body?.code !== 'ERR_TOKEN_REVOKED') return false
  const session = await call('GET', '/auth/session')
  if (session.ok) return false
  forgetSession()
  return true
}

function fillLogin(username) {
  const user = state.config.users.find((u) => u.username === username)
  $('login-username').value = username
  $('login-password').value = user ? user.password : ''
}

async function login(event) {
  event.preventDefault()
  const username = $('login-username').value
  const answer = await call('POST', '/auth/login', {
    body: { username, password: $('login-password').value },
  })
  const limited = answer.status === 429
  const wait = `Too many login attempts from this address: try again in ${answer.retryAfter ?? 'a few'} s.`
  $('login-message').textContent = limited ? wait : ''
  $('login-message').hidden = !limited
  if (answer.ok) {
    state.username = username
    $('rotation-note').textContent = ''
    await loadSession()
    show(
      answer,
      `Logged in as ${answer.body.user.name}. Your tokens are in HttpOnly cookies; the access token is fresh.`,
    )
  } else {
    show(answer, '', {
      note: limited
        ? `${wait} (Retry-After: ${answer.retryAfter}; the limit counts every attempt.)`
        : undefined,
    })
  }
}

async function reloadProfile() {
  const answer = await call('GET', '/api/profile')
  if (answer.ok) renderProfile(answer.body)
  else if (answer.body?.code === 'ERR_TOKEN_EXPIRED') {
    state.exp = 0
    tick()
  }
  const ended = await loggedOutElsewhere(answer)
  show(answer, 'Your profile and the claims of your access token, as verified by the server.', {
    note: ended
      ? LOGGED_OUT_NOTE
      : answer.body?.code === 'ERR_TOKEN_EXPIRED'
        ? 'Press “Refresh tokens” to get a new one.'
        : undefined,
  })
}

async function callAdmin() {
  const answer = await call('GET', '/api/admin/users')
  const ended = await loggedOutElsewhere(answer)
  show(answer, answer.body?.message ?? '', { note: ended ? LOGGED_OUT_NOTE : undefined })
}

async function reloadDevices() {
  const answer = await call('GET', '/api/sessions')
  if (answer.ok) renderDevices(answer.body)
  const ended = await loggedOutElsewhere(answer)
  const count = answer.body?.sessions?.length ?? 0
  show(answer, `${count} live session${count === 1 ? '' : 's'} of yours, newest first.`, {
    note: ended ? LOGGED_OUT_NOTE : undefined,
  })
}

async function logoutOthers() {
  const answer = await call('POST', '/api/sessions/revoke-others', { csrf: 'access' })
  const ended = await loggedOutElsewhere(answer)
  if (answer.ok) {
    const devices = await call('GET', '/api/sessions')
    if (devices.ok) renderDevices(devices.body)
  }
  show(answer, answer.body?.message ?? '', {
    note: ended
      ? LOGGED_OUT_NOTE
      : answer.ok
        ? 'Their tokens fail from now on, access and refresh alike; this device stays logged in.'
        : undefined,
  })
}

async function logoutDevice(sid) {
  const answer = await call('POST', `/api/sessions/${encodeURIComponent(sid)}/revoke`, { csrf: 'access' })
  const ended = await loggedOutElsewhere(answer)
  if (answer.ok && answer.body.current) forgetSession()
  else if (answer.ok) {
    const devices = await call('GET', '/api/sessions')
    if (devices.ok) renderDevices(devices.body)
  }
  show(answer, answer.body?.message ?? '', { note: ended ? LOGGED_OUT_NOTE : undefined })
}

async function refresh() {
  const before = state.refresh
  const answer = await call('POST', '/auth/refresh', { csrf: 'refresh' })
  if (answer.ok) {
    await loadSession({ before })
    show(
      answer,
      'New tokens: the refresh token rotated (new jti, same fid) and the new access token is not fresh.',
    )
  } else {
    show(answer)
  }
}

async function sensitive() {
  const answer = await call('POST', '/api/sensitive', { csrf: 'access' })
  const stale = answer.body?.code === 'ERR_FRESH_TOKEN_REQUIRED'
  const ended = await loggedOutElsewhere(answer)
  show(answer, answer.body?.message ?? '', {
    note: ended
      ? LOGGED_OUT_NOTE
      : stale
        ? 'A refreshed token is not fresh: log in again to prove it is you.'
        : undefined,
    relogin: stale,
  })
}

async function replay() {
  // The proof a script injected into this page could make for the replay: it can use the key.
  const headers = canProve ? { 'x-demo-replay-dpop': await proof('POST', '/auth/refresh') } : {}
  const answer = await call('POST', '/auth/demo/replay-previous', { csrf: 'refresh', headers })
  if (!answer.ok) return show(answer)
  const { replayed, withoutKey, status, answer: refused } = answer.body
  const copied = withoutKey
    ? `The copied cookie alone, without this browser's key, was refused first: ${withoutKey.status} ${withoutKey.answer?.code}. With a proof of the key (as a script injected into this page could make): `
    : ''
  // Shown as the refresh route answered the replay: that is the answer that matters here.
  show(
    {
      method: 'POST',
      path: `/auth/refresh (replaying ${replayed.jti})`,
      status,
      ok: status < 300,
      body: refused,
    },
    'The replay was accepted.',
    {
      note:
        refused?.code === 'ERR_REFRESH_TOKEN_REUSED'
          ? `${copied}Reuse detected: the whole family ${replayed.fid} is revoked, your current tokens too. Try “Reload profile” or “Refresh tokens”.`
          : copied || undefined,
    },
  )
}

/** The CSRF value that proves this page sent the logout: the access one, or the refresh one. */
const logoutCsrf = () => (readCookie(state.config.csrfCookies.access) !== undefined ? 'access' : 'refresh')

async function logout() {
  const answer = await call('POST', '/auth/logout', { csrf: logoutCsrf() })
  if (answer.ok) forgetSession()
  show(
    answer,
    'Logged out: this login (its token family) is revoked on the server and the cookies are deleted.',
  )
}

async function logoutEverywhere() {
  const answer = await call('POST', '/api/logout-everywhere', { csrf: 'access' })
  if (answer.ok) forgetSession()
  show(answer, answer.body?.message ?? '')
}

async function loginAgain() {
  const username = state.username ?? ''
  const answer = await call('POST', '/auth/logout', { csrf: logoutCsrf() })
  forgetSession()
  fillLogin(username)
  show(answer, 'Logged out. Log in again (the form is filled in) to get a fresh token.')
  $('login-submit').focus()
}

function forgetSession() {
  state.exp = null
  state.refresh = null
  $('rotation-note').textContent = ''
  $('previous-jti').textContent = 'none yet'
  $('devices').replaceChildren()
  showView('login')
}

/** Disables the buttons while a request runs, so a double click does not send it twice. */
function guarded(fn) {
  return async (...args) => {
    const buttons = [...document.querySelectorAll('button')]
    for (const b of buttons) b.disabled = true
    try {
      await fn(...args)
    } finally {
      for (const b of buttons) b.disabled = false
    }
  }
}

// ---- start ----

async function start() {
  const config = await call('GET', '/api/demo')
  if (!config.ok) {
    $('loading').textContent = 'The demo server did not answer: is it running?'
    return
  }
  state.config = config.body
  $('login-limit').textContent = String(state.config.loginLimit)
  const tbody = $('demo-users').querySelector('tbody')
  for (const user of state.config.users) {
    const row = document.createElement('tr')
    row.dataset.user = user.username
    for (const text of [user.username, user.password, user.scopes.join(' ')]) {
      const cell = document.createElement('td')
      cell.textContent = text
      row.append(cell)
    }
    const cell = document.createElement('td')
    const use = document.createElement('button')
    use.type = 'button'
    use.className = 'secondary'
    use.textContent = `Use ${user.username}`
    use.title = user.note
    use.addEventListener('click', () => fillLogin(user.username))
    cell.append(use)
    row.append(cell)
    tbody.append(row)
  }
  $('login-form').addEventListener('submit', guarded(login))
  $('btn-profile').addEventListener('click', guarded(reloadProfile))
  $('btn-admin').addEventListener('click', guarded(callAdmin))
  $('btn-refresh').addEventListener('click', guarded(refresh))
  $('btn-sensitive').addEventListener('click', guarded(sensitive))
  $('btn-replay').addEventListener('click', guarded(replay))
  $('btn-logout').addEventListener('click', guarded(logout))
  $('btn-logout-all').addEventListener('click', guarded(logoutEverywhere))
  $('btn-devices').addEventListener('click', guarded(reloadDevices))
  $('btn-logout-others').addEventListener('click', guarded(logoutOthers))
  $('relogin').addEventListener('click', guarded(loginAgain))
  setInterval(tick, 250)
  await loadSession()
}

start()
