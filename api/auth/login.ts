/**
 * Password login shared by `POST /api/v1/auth/login` and Bull Board's `/admin/login` form.
 *
 * Every attempt consumes one point per email and per client address (Redis, so the limit holds
 * across API replicas; IPv6 counted per /64, and the address is the real client's only when
 * TRUST_PROXY names the proxies in front: see api/app.ts) before the password is checked, so parallel guessing cannot overshoot; a
 * successful login gives its points back. Unknown emails are compared against a dummy hash of the
 * same cost, and every failure (unknown email, wrong password, disabled user) answers the same.
 */
import { createHash } from 'node:crypto';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { Redis } from '../../lib/redis.js';
import {
  findUserForLogin,
  recordLogin,
  type UserRole,
} from '../../database/repositories/users.repository.js';
import { ApiError } from '../errors.js';
import type { ApiContext } from '../context.js';
import { clientKey } from './limits.js';
import { verifyPassword } from './passwords.js';

export const INVALID_CREDENTIALS = 'invalid email or password';
const WINDOW_SECONDS = 15 * 60;

export class LoginLimiter {
  private readonly byEmail: RateLimiterRedis;
  private readonly byIp: RateLimiterRedis;

  constructor(redis: Redis, prefix: string, attemptsPer15Min: number) {
    const common = { storeClient: redis, points: attemptsPer15Min, duration: WINDOW_SECONDS };
    this.byEmail = new RateLimiterRedis({ ...common, keyPrefix: `${prefix}:login:email` });
    this.byIp = new RateLimiterRedis({ ...common, keyPrefix: `${prefix}:login:ip` });
  }

  private static emailKey(email: string): string {
    return createHash('sha256').update(email).digest('hex');
  }

  /** Counts an attempt; throws 429 (with Retry-After) when the email or the IP is over its limit. */
  async consume(email: string, ip: string): Promise<void> {
    const results = await Promise.allSettled([
      this.byEmail.consume(LoginLimiter.emailKey(email)),
      this.byIp.consume(clientKey(ip)),
    ]);
    let retryMs = 0;
    for (const result of results) {
      if (result.status === 'fulfilled') continue;
      const reason: unknown = result.reason;
      if (reason instanceof RateLimiterRes) retryMs = Math.max(retryMs, reason.msBeforeNext);
      else throw reason instanceof Error ? reason : new Error(String(reason));
    }
    if (retryMs > 0) {
      const seconds = Math.max(1, Math.ceil(retryMs / 1000));
      throw new ApiError('rate_limited', `too many login attempts; retry in ${seconds} s`, undefined, {
        headers: { 'Retry-After': String(seconds) },
      });
    }
  }

  /** Gives a successful login's points back, so legitimate logins never lock anyone out. */
  async refund(email: string, ip: string): Promise<void> {
    await Promise.all([
      this.byEmail.reward(LoginLimiter.emailKey(email), 1),
      this.byIp.reward(clientKey(ip), 1),
    ]);
  }
}

export interface LoggedInUser {
  id: number;
  organizationId: number;
  role: UserRole;
  tokenVersion: number;
}

/** Checks an email and password; throws 429 when rate-limited, 401 (one body for every failure) otherwise. */
export async function attemptLogin(
  app: ApiContext,
  email: string,
  password: string,
  ip: string,
): Promise<LoggedInUser> {
  await app.loginLimiter.consume(email, ip);
  const user = await findUserForLogin(app.db, email);
  const matches = await verifyPassword(password, user?.password_hash ?? (await app.dummyHash));
  if (!user || !matches || user.disabled_at !== null) throw new ApiError('unauthorized', INVALID_CREDENTIALS);
  await Promise.all([app.loginLimiter.refund(email, ip), recordLogin(app.db, user.id)]);
  return {
    id: user.id,
    organizationId: user.organization_id,
    role: user.role,
    tokenVersion: user.token_version,
  };
}
