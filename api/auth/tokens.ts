/**
 * API tokens: HS256 JWTs signed with JWT_SECRET_KEY (jose). Verification pins the algorithm
 * (so `alg: none` and asymmetric-key confusion are rejected), and checks issuer, audience,
 * expiry and the claim shapes. Bull Board's browser session uses a separate audience, so an
 * admin cookie is never accepted as an API token and vice versa.
 */
import { jwtVerify, SignJWT } from 'jose';
import { z } from 'zod';
import { USER_ROLES, type UserRole } from '../../database/repositories/users.repository.js';

export const TOKEN_ISSUER = 'costwatch';
export const API_AUDIENCE = 'costwatch-api';
export const ADMIN_AUDIENCE = 'costwatch-admin';
export type TokenAudience = typeof API_AUDIENCE | typeof ADMIN_AUDIENCE;

const claimsSchema = z.object({
  sub: z.string().regex(/^\d{1,15}$/),
  org: z.number().int().positive(),
  role: z.enum(USER_ROLES as [UserRole, ...UserRole[]]),
  iat: z.number(),
  exp: z.number(),
});

export interface TokenClaims {
  userId: number;
  orgId: number;
  role: UserRole;
}

export class TokenSigner {
  private readonly key: Uint8Array;

  constructor(secret: string) {
    this.key = new TextEncoder().encode(secret);
  }

  /** Signs a token naming the user, organization and role, valid for `ttlSeconds`. */
  async sign(claims: TokenClaims, audience: TokenAudience, ttlSeconds: number): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ org: claims.orgId, role: claims.role })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(String(claims.userId))
      .setIssuer(TOKEN_ISSUER)
      .setAudience(audience)
      .setIssuedAt(now)
      .setExpirationTime(now + ttlSeconds)
      .sign(this.key);
  }

  /** Verifies a token; returns its claims or null for anything invalid (bad signature, expired, wrong alg...). */
  async verify(token: string, audience: TokenAudience): Promise<TokenClaims | null> {
    if (token.length > 4096 || !/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token)) return null;
    try {
      const { payload } = await jwtVerify(token, this.key, {
        algorithms: ['HS256'],
        issuer: TOKEN_ISSUER,
        audience,
        requiredClaims: ['sub', 'iat', 'exp'],
      });
      const claims = claimsSchema.safeParse(payload);
      if (!claims.success) return null;
      return { userId: Number(claims.data.sub), orgId: claims.data.org, role: claims.data.role };
    } catch {
      return null;
    }
  }
}
