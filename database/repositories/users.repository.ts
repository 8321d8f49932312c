/**
 * Users and the organization lookups the API and `costwatch user` need. Every value travels as a
 * bind parameter; emails are stored lower-case (the table checks it).
 */
import type { Queryable } from '../../lib/db.js';

export type UserRole = 'viewer' | 'admin' | 'operator';
export const USER_ROLES: readonly UserRole[] = ['viewer', 'admin', 'operator'];

export interface OrganizationRef {
  id: number;
  name: string;
  status: string;
  /** 'platform': the organization operators live in (migration 0007); 'customer' otherwise. */
  kind: 'customer' | 'platform';
}

export interface LoginUser {
  id: number;
  organization_id: number;
  role: UserRole;
  password_hash: string;
  disabled_at: Date | null;
  token_version: number;
}

export interface ActiveUser {
  id: number;
  organization_id: number;
  role: UserRole;
  email: string;
  token_version: number;
}

export interface UserListing {
  id: number;
  organization_id: number;
  organization_name: string;
  email: string;
  role: UserRole;
  disabled_at: Date | null;
  last_login_at: Date | null;
  created_at: Date;
}

// Looks up one organization's id, name, status and kind (null when there is none).
// Parameters: $1 organization id.
export async function findOrganizationRef(db: Queryable, orgId: number): Promise<OrganizationRef | null> {
  const { rows } = await db.query<OrganizationRef>(
    `SELECT id, name, status, kind
       FROM organizations
      WHERE id = $1`,
    [orgId],
  );
  return rows[0] ?? null;
}

// Inserts a user and returns its id. Throws pg 23505 on a duplicate email, 23503 on an unknown org.
// Parameters: $1 organization id, $2 email (lower-case), $3 bcrypt hash, $4 role.
export async function createUser(
  db: Queryable,
  user: { organizationId: number; email: string; passwordHash: string; role: UserRole },
): Promise<number> {
  const { rows } = await db.query<{ id: number }>(
    `INSERT INTO users (organization_id, email, password_hash, role)
     VALUES ($1, $2, $3, $4)
     RETURNING id`,
    [user.organizationId, user.email, user.passwordHash, user.role],
  );
  const id = rows[0]?.id;
  if (id === undefined) throw new Error('INSERT INTO users returned no id');
  return id;
}

// Fetches what a login needs to verify a password (disabled users included, so timing is equal).
// Parameters: $1 email (lower-case).
export async function findUserForLogin(db: Queryable, email: string): Promise<LoginUser | null> {
  const { rows } = await db.query<LoginUser>(
    `SELECT id, organization_id, role, password_hash, disabled_at, token_version
       FROM users
      WHERE email = $1`,
    [email],
  );
  return rows[0] ?? null;
}

// Fetches an enabled user by id: the per-request check that a token's user still may act.
// Parameters: $1 user id.
export async function findActiveUserById(db: Queryable, userId: number): Promise<ActiveUser | null> {
  const { rows } = await db.query<ActiveUser>(
    `SELECT id, organization_id, role, email, token_version
       FROM users
      WHERE id = $1 AND disabled_at IS NULL`,
    [userId],
  );
  return rows[0] ?? null;
}

// Stamps a successful login.
// Parameters: $1 user id.
export async function recordLogin(db: Queryable, userId: number): Promise<void> {
  await db.query(`UPDATE users SET last_login_at = now() WHERE id = $1`, [userId]);
}

// Lists users, optionally of one organization, oldest first.
// Parameters: $1 organization id or null for every organization.
export async function listUsers(db: Queryable, orgId: number | null): Promise<UserListing[]> {
  const { rows } = await db.query<UserListing>(
    `SELECT u.id, u.organization_id, o.name AS organization_name, u.email, u.role,
            u.disabled_at, u.last_login_at, u.created_at
       FROM users u
       JOIN organizations o ON o.id = u.organization_id
      WHERE $1::bigint IS NULL OR u.organization_id = $1::bigint
      ORDER BY u.id`,
    [orgId],
  );
  return rows;
}

// Disables a user (idempotent; keeps the first disabled_at), bumps its token version (every token
// dies), and returns id and disabled_at, or null. Parameters: $1 email (lower-case).
export async function disableUserByEmail(
  db: Queryable,
  email: string,
): Promise<{ id: number; disabled_at: Date } | null> {
  const { rows } = await db.query<{ id: number; disabled_at: Date }>(
    `UPDATE users
        SET disabled_at = coalesce(disabled_at, now()),
            token_version = token_version + 1
      WHERE email = $1
      RETURNING id, disabled_at`,
    [email],
  );
  return rows[0] ?? null;
}

// Replaces a user's password hash and bumps its token version, so every token issued before dies.
// Returns the user id and new version, or null for an unknown email.
// Parameters: $1 email (lower-case), $2 bcrypt hash.
export async function setUserPassword(
  db: Queryable,
  email: string,
  passwordHash: string,
): Promise<{ id: number; token_version: number } | null> {
  const { rows } = await db.query<{ id: number; token_version: number }>(
    `UPDATE users
        SET password_hash = $2,
            token_version = token_version + 1
      WHERE email = $1
      RETURNING id, token_version`,
    [email, passwordHash],
  );
  return rows[0] ?? null;
}
