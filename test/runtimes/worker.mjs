/**
 * A Cloudflare Worker (run by workerd) over the built package, bundled by run.mjs:
 * - GET /cases runs the shared cases inside the worker and answers their results as JSON;
 * - POST /login answers a token pair for the subject in the body;
 * - GET /me is a Web adapter route: 200 with the subject for a valid bearer access token, else 401;
 * - POST /refresh rotates the refresh token in the body (MemoryStore of this isolate).
 */
import { makeAuth, makeHandler, runCases } from './cases.mjs'

const auth = makeAuth()
const me = makeHandler(auth)

export default {
  async fetch(request) {
    const { pathname } = new URL(request.url)
    if (pathname === '/cases') return Response.json(await runCases())
    if (pathname === '/me') return me(request)
    if (pathname === '/login' && request.method === 'POST') {
      const { uid } = await request.json()
      return Response.json(await auth.createTokenPair({ uid }))
    }
    if (pathname === '/refresh' && request.method === 'POST') {
      const { refreshToken } = await request.json()
      try {
        return Response.json(await auth.refresh(refreshToken))
      } catch (err) {
        return Response.json({ code: err.code }, { status: err.status ?? 500 })
      }
    }
    return new Response('not found', { status: 404 })
  },
}
