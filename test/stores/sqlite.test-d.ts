import type Sqlite from 'better-sqlite3'
import { describe, expectTypeOf, it } from 'vitest'
import type { AuthXStore } from '../../src/index.js'
import {
  type SqliteDatabase,
  type SqliteDriver,
  SqliteStore,
  type SqliteStoreOptions,
} from '../../src/stores/sqlite.js'

/** The part of node:sqlite's DatabaseSync in @types/node 22 that the store relies on. */
interface DatabaseSync {
  exec(sql: string): void
  prepare(sql: string): {
    run(...params: (null | number | bigint | string | NodeJS.ArrayBufferView)[]): {
      changes: number | bigint
      lastInsertRowid: number | bigint
    }
    all(...params: (null | number | bigint | string | NodeJS.ArrayBufferView)[]): Record<string, unknown>[]
  }
  close(): void
  readonly isOpen: boolean
}

describe('SqliteStore types', () => {
  it('is an AuthXStore and tells its driver', () => {
    expectTypeOf<SqliteStore>().toExtend<AuthXStore>()
    expectTypeOf<SqliteStore['driver']>().toEqualTypeOf<SqliteDriver>()
    expectTypeOf<SqliteDriver>().toEqualTypeOf<'node:sqlite' | 'better-sqlite3'>()
  })

  it('takes a better-sqlite3 Database or a node:sqlite DatabaseSync as database', () => {
    expectTypeOf<Sqlite.Database>().toExtend<SqliteDatabase>()
    expectTypeOf<DatabaseSync>().toExtend<SqliteDatabase>()
    expectTypeOf<{ database: Sqlite.Database }>().toExtend<SqliteStoreOptions>()
  })

  it('names its options, so a misspelt one does not compile', () => {
    // @ts-expect-error `busyTimeout` is not an option (busyTimeoutMs is)
    new SqliteStore({ path: 'x.db', busyTimeout: 50 })
    // @ts-expect-error driver is one of the two libraries or 'auto'
    new SqliteStore({ path: 'x.db', driver: 'sqlite3' })
    expectTypeOf<SqliteStoreOptions['driver']>().toEqualTypeOf<SqliteDriver | 'auto' | undefined>()
  })
})
