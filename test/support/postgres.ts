/**
 * The PostgreSQL of this machine for store tests: whether it can be used, and the tables a test
 * file makes and drops.
 */
import pg from 'pg'
import { postgresMissing, storesRequired } from '../stores/conformance.js'

export const PG_URL = 'postgres://postgres@127.0.0.1:5432/test'

/**
 * Drops each of `tables` (and what depends on them) over one short-lived connection.
 *
 * @example
 * afterAll(() => dropPostgresTables(tables))
 */
export async function dropPostgresTables(tables: readonly string[], url = PG_URL): Promise<void> {
  if (tables.length === 0) return
  const client = new pg.Client({ connectionString: url })
  // A server that drops the connection must not crash the run with an unhandled 'error'.
  client.on('error', () => {})
  await client.connect()
  try {
    for (const table of tables) await client.query(`DROP TABLE IF EXISTS "${table}" CASCADE`)
  } finally {
    await client.end()
  }
}

/**
 * The tables of one test file, named `<run>_<n>` (keep `run` short, so the names of the trigger
 * and function PostgresStore derives from a table are not cut), and one admin pool for setup and
 * inspection (made on first use, so a file whose server is missing opens nothing). `dropAll`
 * drops every table made and its notify function, then ends the pool.
 *
 * @example
 * const { tableName, admin, dropAll } = postgresTables(`arl${randomBytes(4).toString('hex')}`)
 * afterAll(dropAll)
 */
export function postgresTables(run: string, url = PG_URL) {
  const created: string[] = []
  let adminPool: pg.Pool | undefined
  function admin(): pg.Pool {
    if (adminPool === undefined) {
      adminPool = new pg.Pool({ connectionString: url, max: 3 })
      // A server that drops idle connections must not crash the run with an unhandled 'error'.
      adminPool.on('error', () => {})
    }
    return adminPool
  }
  return {
    tableName(): string {
      const name = `${run}_${created.length}`
      created.push(name)
      return name
    },
    admin,
    async dropAll(): Promise<void> {
      for (const name of created) {
        await admin().query(`DROP TABLE IF EXISTS "${name}"`)
        await admin().query(`DROP FUNCTION IF EXISTS "${name}_authx_notify"()`)
      }
      await admin().end()
    },
  }
}

/**
 * Why the PostgreSQL at `url` cannot be used (`undefined` when it can), for a file's tests to
 * skip on; where stores are required (CI), a missing server throws instead, and otherwise the
 * skip of `what` is logged once.
 *
 * @example
 * const missing = await postgresForTests('PostgresStore sweep tests')
 */
export async function postgresForTests(what: string, url = PG_URL): Promise<string | undefined> {
  const missing = await postgresMissing(url)
  if (missing !== undefined) {
    if (storesRequired()) throw new Error(`PostgreSQL is required in CI but unavailable: ${missing}`)
    console.warn(`[skip] ${what}: ${missing}`)
  }
  return missing
}
