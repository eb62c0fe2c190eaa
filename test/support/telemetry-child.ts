/**
 * Run by test/telemetry.test.ts in a process of its own (bundled with esbuild): uses authx with
 * telemetry off (`off`) or `true` (`on`), then prints which `@opentelemetry/*` modules were
 * loaded, through `require` (recorded as they load) or found in the require cache.
 */
import Module, { createRequire } from 'node:module'
import { AuthX } from 'authx'

const loaded = new Set<string>()
const loader = Module as unknown as { _load: (request: string, ...rest: unknown[]) => unknown }
const load = loader._load
loader._load = function (this: unknown, request: string, ...rest: unknown[]) {
  if (request.startsWith('@opentelemetry/')) loaded.add(request)
  return load.call(this, request, ...rest)
}

async function main(mode: string): Promise<void> {
  const secretKey = 'telemetry-child-secret-0123456789abcdefghij'
  const auth = new AuthX(mode === 'on' ? { secretKey, telemetry: true } : { secretKey, telemetry: false })
  const plain = new AuthX({ secretKey })
  const pair = await auth.createTokenPair({ uid: 'alice' })
  await auth.verifyToken(pair.accessToken)
  await plain.verifyToken(pair.accessToken)
  await auth.authenticate(
    new Request('https://app.test/', { headers: { authorization: `Bearer ${pair.accessToken}` } }),
  )
  await auth.refresh(pair.refreshToken)
  await auth.refresh(pair.refreshToken).catch(() => {})
  await auth.revokeToken(pair.accessToken)
  await auth.revokeAllForSubject('alice')
  const verified = await auth.verifyToken(pair.accessToken).then(
    () => false,
    (err: { code?: string }) => err.code === 'ERR_TOKEN_REVOKED',
  )
  for (const path of Object.keys(createRequire(import.meta.url).cache)) {
    const match = /node_modules[\\/](@opentelemetry[\\/][^\\/]+)/.exec(path)
    if (match?.[1]) loaded.add(match[1].replace('\\', '/'))
  }
  process.stdout.write(`${JSON.stringify({ loaded: [...loaded].sort(), verified })}\n`)
}

main(process.argv[2] ?? 'off').catch((err: unknown) => {
  process.stdout.write(`${JSON.stringify({ error: String(err) })}\n`)
  process.exitCode = 1
})
