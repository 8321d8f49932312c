/**
 * API tokens: HS256 JWTs (jose). Verification pins the algorithm (so `alg: none` and
 * asymmetric-key confusion are rejected), and checks issuer, audience, expiry and the claim shapes.
 * Bull Board's browser session uses a separate audience, so an admin cookie is never accepted as
 * an API token and vice versa.
 *
 * Key rotation (JWT_SECRET_KEYS): tokens are signed with the first key and carry its `kid` (a hash
 * of the key, lib/secrets.ts); verification picks the key by `kid`, so a token signed with an older
 * key listed later keeps working until it expires. To rotate: prepend a new key, roll out, wait
 * TOKEN_TTL_SECONDS, drop the old one.
 *
 * Every token carries the user's token version (`ver`) at sign-in; the user row is read on every
 * request (api/middleware/auth.ts) and a token whose version is not the user's current one is
 * refused, so a password change or a disable ends every outstanding token at once.
 */
import { randomUUID } from 'node:crypto';
import { decodeProtectedHeader, jwtVerify, SignJWT } from 'jose';
import { z } from 'zod';
import { USER_ROLES, type UserRole } from '../../database/repositories/users.repository.js';
import { keyId } from '../../lib/secrets.js';

export const TOKEN_ISSUER = 'costwatch';
export const API_AUDIENCE = 'costwatch-api';
export const ADMIN_AUDIENCE = 'costwatch-admin';
export type TokenAudience = typeof API_AUDIENCE | typeof ADMIN_AUDIENCE;

const claimsSchema = z.object({
  sub: z.string().regex(/^\d{1,15}$/),
  org: z.number().int().positive(),
  role: z.enum(USER_ROLES as [UserRole, ...UserRole[]]),
  // Tokens from before migration 0006 carry no version: they count as version 0.
  ver: z.number().int().min(0).default(0),
  jti: z.string().max(64).optional(),
  iat: z.number(),
  exp: z.number(),
});

export interface TokenClaims {
  userId: number;
  orgId: number;
  role: UserRole;
  /** The user's token_version when the token was issued. */
  version: number;
}

export interface VerifiedToken extends TokenClaims {
  /** Token id (admin sessions: the id a logout revokes). */
  jti: string | null;
  /** Expiry, seconds since the epoch. */
  exp: number;
}

interface SigningKey {
  kid: string;
  key: Uint8Array;
}

export class TokenSigner {
  private readonly keys: SigningKey[];

  /** `secrets`: the signing key first, then older keys still accepted (JWT_SECRET_KEYS order). */
  constructor(secrets: string | readonly string[]) {
    const list = typeof secrets === 'string' ? [secrets] : [...secrets];
    if (list.length === 0) throw new Error('TokenSigner needs at least one key');
    this.keys = list.map((s) => ({ kid: keyId(s), key: new TextEncoder().encode(s) }));
  }

  /** Signs a token naming the user, organization, role and token version, valid for `ttlSeconds`. */
  async sign(claims: TokenClaims, audience: TokenAudience, ttlSeconds: number): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    const [signing] = this.keys;
    if (!signing) throw new Error('no signing key');
    return new SignJWT({ org: claims.orgId, role: claims.role, ver: claims.version })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: signing.kid })
      .setSubject(String(claims.userId))
      .setIssuer(TOKEN_ISSUER)
      .setAudience(audience)
      .setJti(randomUUID())
      .setIssuedAt(now)
      .setExpirationTime(now + ttlSeconds)
      .sign(signing.key);
  }

  /** The keys a token may be signed with: the one its `kid` names, or every key for a token without one. */
  private candidates(token: string): SigningKey[] {
    let kid: unknown;
    try {
      kid = decodeProtectedHeader(token).kid;
    } catch {
      return [];
    }
    if (kid === undefined) return this.keys;
    return this.keys.filter((k) => k.kid === kid);
  }

  /** Verifies a token; returns its claims or null for anything invalid (bad signature, expired, wrong alg...). */
  async verify(token: string, audience: TokenAudience): Promise<VerifiedToken | null> {
    if (token.length > 4096 || !/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token)) return null;
    for (const { key } of this.candidates(token)) {
      try {
        const { payload } = await jwtVerify(token, key, {
          algorithms: ['HS256'],
          issuer: TOKEN_ISSUER,
          audience,
          requiredClaims: ['sub', 'iat', 'exp'],
        });
        const claims = claimsSchema.safeParse(payload);
        if (!claims.success) return null;
        return {
          userId: Number(claims.data.sub),
          orgId: claims.data.org,
          role: claims.data.role,
          version: claims.data.ver,
          jti: claims.data.jti ?? null,
          exp: claims.data.exp,
        };
      } catch {
        // next candidate key
      }
    }
    return null;
  }
}
