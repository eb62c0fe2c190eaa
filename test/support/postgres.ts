/**
 * The PostgreSQL of this machine for store tests: dropping the tables a test file made.
 */
import pg from 'pg'

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
