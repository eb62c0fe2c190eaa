import { generateKeyPairSync } from 'node:crypto'
import { expect, it, vi } from 'vitest'

vi.mock('../src/core/runtime.js', async (orig) => {
  const mod = await orig<typeof import('../src/core/runtime.js')>()
  return { ...mod, nodeCrypto: () => (process.env.FORCE_JOSE ? undefined : mod.nodeCrypto()) }
})
const { AuthX } = await import('../src/index.js')

for (const engine of ['node', 'jose']) {
  for (const [alg, gen] of [
    ['RS256', () => generateKeyPairSync('rsa', { modulusLength: 2048 })],
    ['PS384', () => generateKeyPairSync('rsa', { modulusLength: 2048 })],
    ['ES256', () => generateKeyPairSync('ec', { namedCurve: 'P-256' })],
    ['ES512', () => generateKeyPairSync('ec', { namedCurve: 'P-521' })],
    ['EdDSA', () => generateKeyPairSync('ed25519')],
    ['HS512', null],
  ] as const) {
    it(`${engine} ${alg}`, async () => {
      if (engine === 'jose') process.env.FORCE_JOSE = '1'
      else delete process.env.FORCE_JOSE
      const opts = gen
        ? (() => {
            const { privateKey, publicKey } = gen()
            return {
              algorithm: alg,
              privateKey: privateKey.export({ format: 'pem', type: 'pkcs8' }) as string,
              publicKey: publicKey.export({ format: 'pem', type: 'spki' }) as string,
            }
          })()
        : { algorithm: alg, secretKey: 'k'.repeat(64) }
      const auth = new AuthX(opts as never)
      expect(auth.engine).toBe(engine)
      const t = await auth.createAccessToken({ uid: 'u' })
      const p = await auth.verifyToken(t)
      expect(p.sub).toBe('u')
      const jwks = await auth.jwks()
      if (gen) expect(jwks.keys[0]).toHaveProperty('kid')
      await expect(auth.verifyToken(t.slice(0, -2) + (t.endsWith('A') ? 'BA' : 'AA'))).rejects.toThrow()
    })
  }
}
