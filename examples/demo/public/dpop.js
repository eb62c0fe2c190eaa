// DPoP (RFC 9449) in the browser, with no dependency: one ECDSA P-256 key pair per browser,
// made by Web Crypto with a private key that can never be exported, kept in IndexedDB, and a
// proof (a compact JWS, ES256) for every request. Web Crypto needs a secure context: https, or
// http://localhost.

const DB = 'dpop'
const STORE = 'keys'
const KEY = 'default'

let pending // the key pair of this page, once loaded or made: every caller shares one

/** Runs `use(store)` in one transaction on the key store; resolves to what `use` settled. */
async function inStore(mode, use) {
  const db = await new Promise((resolve, reject) => {
    const open = indexedDB.open(DB, 1)
    open.onupgradeneeded = () => open.result.createObjectStore(STORE) // first use
    open.onsuccess = () => resolve(open.result)
    open.onerror = () => reject(open.error)
  })
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode)
      let result
      use(tx.objectStore(STORE), (value) => {
        result = value
      })
      tx.oncomplete = () => resolve(result)
      tx.onerror = () => reject(tx.error)
    })
  } finally {
    db.close()
  }
}

const storedPair = () =>
  inStore('readonly', (store, settle) => {
    store.get(KEY).onsuccess = (event) => settle(event.target.result)
  })

/**
 * This browser's key pair: the stored one, or a new one, stored for the next page loads. The
 * CryptoKey objects are stored as they are (IndexedDB clones them), so the private key stays
 * non-extractable. When two tabs make one at the same moment, both keep the one stored first.
 */
export function keyPair() {
  pending ??= (async () => {
    const stored = await storedPair()
    if (stored !== undefined) return stored
    const fresh = await crypto.subtle.generateKey(
      { name: 'ECDSA', namedCurve: 'P-256' },
      false, // extractable: false applies to the private key; a public key always exports
      ['sign', 'verify'],
    )
    return inStore('readwrite', (store, settle) => {
      store.get(KEY).onsuccess = (event) => {
        const first = event.target.result
        if (first === undefined) store.add(fresh, KEY)
        settle(first ?? fresh)
      }
    })
  })()
  // A failure (IndexedDB refused...) is not kept: the next call tries again.
  pending.catch(() => {
    pending = undefined
  })
  return pending
}

const b64url = (bytes) =>
  btoa(String.fromCharCode(...new Uint8Array(bytes)))
    .replaceAll('+', '-')
    .replaceAll('/', '_')
    .replace(/=+$/, '')
const b64urlJson = (value) => b64url(new TextEncoder().encode(JSON.stringify(value)))
const sha256 = (text) => crypto.subtle.digest('SHA-256', new TextEncoder().encode(text))

/** The public key as a JWK of its public members only. */
async function publicJwk() {
  const { kty, crv, x, y } = await crypto.subtle.exportKey('jwk', (await keyPair()).publicKey)
  return { kty, crv, x, y }
}

/** The key's RFC 7638 thumbprint: what the server writes into bound tokens as `cnf.jkt`. */
export async function thumbprint() {
  const { crv, kty, x, y } = await publicJwk()
  return b64url(await sha256(JSON.stringify({ crv, kty, x, y }))) // members in this order
}

/**
 * A DPoP proof for one request: `method` as sent, `url` absolute or relative to this page (its
 * query and fragment are left out), and the access token when the page holds it (`ath`). A
 * proof is accepted once: make one per request.
 */
export async function proof(method, url, accessToken) {
  const { privateKey } = await keyPair()
  const target = new URL(url, location.href)
  const header = { typ: 'dpop+jwt', alg: 'ES256', jwk: await publicJwk() }
  const claims = {
    jti: crypto.randomUUID(),
    htm: method,
    htu: target.origin + target.pathname,
    iat: Math.floor(Date.now() / 1000),
  }
  if (accessToken !== undefined) claims.ath = b64url(await sha256(accessToken))
  const input = `${b64urlJson(header)}.${b64urlJson(claims)}`
  // Web Crypto's ECDSA signature is r || s, 64 bytes: the JWS form of ES256 as it is.
  const signature = await crypto.subtle.sign(
    { name: 'ECDSA', hash: 'SHA-256' },
    privateKey,
    new TextEncoder().encode(input),
  )
  return `${input}.${b64url(signature)}`
}
