/**
 * Authentication and organization scoping. A token only proves who signed in; the user row is
 * read on every request (one primary-key lookup, the only per-request cost: no cache, so nothing
 * delays a revocation), so a disabled user's tokens stop working at once, a role change applies
 * immediately, and a token whose token version (`ver`) is older than the user's (bumped by
 * `costwatch user set-password` and `user disable`) is refused. Authenticated API requests count
 * against the per-user rate limit (API_RATE_PER_MINUTE). Organization ids the caller may not see answer 404 (never 403), so ids
 * of other tenants do not leak.
 */
import type { Request } from 'express';
import {
  findActiveUserById,
  findOrganizationRef,
  type UserRole,
} from '../../database/repositories/users.repository.js';
import { ApiError, notFound, unauthorized } from '../errors.js';
import type { ApiContext } from '../context.js';
import { API_AUDIENCE, ADMIN_AUDIENCE, type TokenAudience } from '../auth/tokens.js';

export interface Principal {
  userId: number;
  orgId: number;
  role: UserRole;
  email: string;
}

export const ADMIN_COOKIE = 'cw_admin';

/** The token of an `Authorization: Bearer <token>` header, '' for another scheme, null when absent. */
export function bearerToken(req: Request): string | null {
  const header = req.headers.authorization;
  if (header === undefined) return null;
  const match = /^Bearer[ ]+(\S+)[ ]*$/i.exec(header);
  return match?.[1] ?? '';
}

/** One cookie's value from the Cookie header (no dependency needed for a single name). */
export function cookieValue(req: Request, name: string): string | null {
  const header = req.headers.cookie;
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

async function principalOf(
  app: ApiContext,
  token: string,
  audience: TokenAudience,
): Promise<Principal | null> {
  const claims = await app.tokens.verify(token, audience);
  if (!claims) return null;
  if (audience === ADMIN_AUDIENCE && (claims.jti === null || (await app.adminSessions.isRevoked(claims.jti))))
    return null;
  const user = await findActiveUserById(app.db, claims.userId);
  if (!user || user.token_version !== claims.version) return null;
  return { userId: user.id, orgId: user.organization_id, role: user.role, email: user.email };
}

/** The caller of an API route; throws 401 for a missing, malformed, expired or revoked token. */
export async function authenticate(app: ApiContext, req: Request): Promise<Principal> {
  const token = bearerToken(req);
  if (token === null) throw unauthorized();
  const principal = token ? await principalOf(app, token, API_AUDIENCE) : null;
  if (!principal) throw unauthorized('the bearer token is invalid, expired or revoked');
  await app.apiLimiter.consume(principal.userId);
  return principal;
}

export function requireRole(principal: Principal, roles: readonly UserRole[] | null): void {
  if (roles && !roles.includes(principal.role)) {
    throw new ApiError('forbidden', `this action requires the role ${roles.join(' or ')}`);
  }
}

/**
 * The organization a request reads: the caller's own, or for an operator any existing one named
 * by `org_id`. Anything else the caller may not see is 404.
 */
export async function resolveOrganization(
  app: ApiContext,
  principal: Principal,
  requested: number | undefined,
): Promise<number> {
  if (requested === undefined || requested === principal.orgId) return principal.orgId;
  if (principal.role !== 'operator') throw notFound('organization');
  const org = await findOrganizationRef(app.db, requested);
  if (!org) throw notFound('organization');
  return org.id;
}

export type AdminAccess =
  { kind: 'ok'; principal: Principal } | { kind: 'login' } | { kind: 'unauthorized' } | { kind: 'forbidden' };

/**
 * Bull Board access: an operator's Bearer token (API clients) or the browser session cookie set by
 * /admin/login. No credentials: 'login' (browsers are redirected to the form).
 */
export async function adminAccess(app: ApiContext, req: Request): Promise<AdminAccess> {
  const bearer = bearerToken(req);
  let principal: Principal | null;
  if (bearer !== null) {
    principal = bearer ? await principalOf(app, bearer, API_AUDIENCE) : null;
    if (!principal) return { kind: 'unauthorized' };
  } else {
    const cookie = cookieValue(req, ADMIN_COOKIE);
    principal = cookie ? await principalOf(app, cookie, ADMIN_AUDIENCE) : null;
    if (!principal) return { kind: 'login' };
  }
  return principal.role === 'operator' ? { kind: 'ok', principal } : { kind: 'forbidden' };
}

export { ADMIN_AUDIENCE };
