/**
 * The demo's users. A real application keeps users in its database; what matters here is that
 * passwords are compared as scrypt hashes in constant time, never as plain strings.
 */
import { randomBytes, scryptSync, timingSafeEqual } from 'node:crypto'

/** A demo user as the page lists it (the passwords are public on purpose: it is a demo). */
export interface DemoUser {
  readonly username: string
  readonly password: string
  readonly id: string
  readonly name: string
  readonly scopes: readonly string[]
  readonly note: string
}

export const DEMO_USERS: readonly DemoUser[] = [
  {
    username: 'ada',
    password: 'ada-demo-password',
    id: 'user-ada',
    name: 'Ada (administrator)',
    scopes: ['profile:read', 'admin:*'],
    note: "holds 'admin:*', so the admin route lets her in",
  },
  {
    username: 'bob',
    password: 'bob-demo-password',
    id: 'user-bob',
    name: 'Bob',
    scopes: ['profile:read'],
    note: 'no admin scope: the admin route answers 403',
  },
]

interface StoredUser {
  readonly user: DemoUser
  readonly salt: Buffer
  readonly hash: Buffer
}

const hashOf = (password: string, salt: Buffer) => scryptSync(password, salt, 32)

const stored = new Map<string, StoredUser>(
  DEMO_USERS.map((user) => {
    const salt = randomBytes(16)
    return [user.username, { user, salt, hash: hashOf(user.password, salt) }]
  }),
)
// Unknown usernames cost a hash too, so the answer time does not tell which usernames exist.
const decoy = { salt: randomBytes(16), hash: randomBytes(32) }

/** The user whose username and password these are, or `undefined`. */
export function checkPassword(username: string, password: string): DemoUser | undefined {
  const entry = stored.get(username)
  const { salt, hash } = entry ?? decoy
  const matches = timingSafeEqual(hashOf(password, salt), hash)
  return matches && entry !== undefined ? entry.user : undefined
}

/** The user of a token's subject. */
export function userById(id: string): DemoUser | undefined {
  return DEMO_USERS.find((user) => user.id === id)
}
