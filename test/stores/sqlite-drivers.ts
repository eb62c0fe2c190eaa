/**
 * The two SQLite drivers the store runs on, for tests that open their own connection beside the
 * store (to look at the file, hold a lock, or hand the store a database): better-sqlite3, and the
 * built-in `node:sqlite` where this Node has it. Found the way the store finds it, at run time,
 * so this file loads on Node 20 too.
 */
import Sqlite from 'better-sqlite3'
import type { SqliteDatabase, SqliteDriver } from '../../src/stores/sqlite.js'

/** A connection opened by a test. */
export interface Connection {
  /** The database object, as a user would pass it to `new SqliteStore({ database })`. */
  readonly database: SqliteDatabase
  exec(sql: string): void
  /** The rows of a query. */
  all(sql: string, ...params: (string | number)[]): Record<string, unknown>[]
  /** The first column of the first row of a query. */
  value(sql: string, ...params: (string | number)[]): unknown
  journalMode(): string
  isOpen(): boolean
  close(): void
}

export interface Driver {
  readonly name: SqliteDriver
  open(path: string): Connection
}

/** The part of `node:sqlite`'s `DatabaseSync` these tests use (@types/node 20 does not know it). */
interface DatabaseSyncLike {
  readonly isOpen: boolean
  exec(sql: string): void
  prepare(sql: string): {
    run(...params: (string | number)[]): { changes: number | bigint }
    all(...params: (string | number)[]): Record<string, unknown>[]
  }
  close(): void
}

type DatabaseSyncConstructor = new (path: string) => DatabaseSyncLike

/** `node:sqlite`'s `DatabaseSync` where this runtime has it. */
export const DatabaseSync: DatabaseSyncConstructor | undefined = (() => {
  try {
    const mod = process.getBuiltinModule?.('node:sqlite') as { DatabaseSync?: DatabaseSyncConstructor }
    return mod?.DatabaseSync
  } catch {
    return undefined
  }
})()

/**
 * Whether this Node must have `node:sqlite` without a flag (22.13+, 23.4+, 24 and later), so a
 * runtime that should have it can never skip its tests by a failed detection.
 */
export function nodeSqliteExpected(version = process.versions.node): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number)
  return major >= 24 || (major === 23 && minor >= 4) || (major === 22 && minor >= 13)
}

const betterSqlite3: Driver = {
  name: 'better-sqlite3',
  open(path) {
    const db = new Sqlite(path)
    return {
      database: db,
      exec: (sql) => void db.exec(sql),
      all: (sql, ...params) => db.prepare(sql).all(...params) as Record<string, unknown>[],
      value: (sql, ...params) =>
        db
          .prepare(sql)
          .pluck()
          .get(...params),
      journalMode: () => db.pragma('journal_mode', { simple: true }) as string,
      isOpen: () => db.open,
      close: () => void db.close(),
    }
  },
}

const nodeSqlite: Driver | undefined =
  DatabaseSync &&
  ({
    name: 'node:sqlite',
    open(path) {
      const db = new (DatabaseSync as DatabaseSyncConstructor)(path)
      const all = (sql: string, ...params: (string | number)[]) => db.prepare(sql).all(...params)
      return {
        database: db,
        exec: (sql) => void db.exec(sql),
        all,
        value: (sql, ...params) => {
          const row = all(sql, ...params)[0]
          return row === undefined ? undefined : Object.values(row)[0]
        },
        journalMode: () => String(Object.values(all('PRAGMA journal_mode')[0] ?? {})[0]),
        isOpen: () => db.isOpen,
        close: () => void db.close(),
      }
    },
  } satisfies Driver)

/** Every driver this runtime has: better-sqlite3 always, `node:sqlite` where it exists. */
export const drivers: Driver[] = nodeSqlite ? [betterSqlite3, nodeSqlite] : [betterSqlite3]

/** The driver `new SqliteStore({ path })` picks here. */
export const defaultDriver: SqliteDriver = nodeSqlite ? 'node:sqlite' : 'better-sqlite3'
