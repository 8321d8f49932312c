/**
 * Abuse limits of the API, shared by every replica through Redis (rate-limiter-flexible):
 *
 * - `clientKey`: the address a limiter counts. IPv4 as is (IPv4-mapped IPv6 unwrapped); IPv6 by its
 *   /64, since one subscriber usually holds a whole /64 and could otherwise rotate addresses.
 * - `PrincipalRateLimiter`: API_RATE_PER_MINUTE authenticated requests per user per minute.
 * - `RefreshCooldown`: one POST /ingestion/refresh per organization per REFRESH_COOLDOWN_SECONDS.
 * - `AdminSessions`: Bull Board logout revokes the session's token id until it would have expired.
 *
 * Every refusal is a 429 with Retry-After.
 */
import ipaddr from 'ipaddr.js';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { Redis } from '../../lib/redis.js';
import { ApiError } from '../errors.js';

/** The limiter key of a client address: IPv4 as is, IPv6 as its /64 prefix ("2001:db8:1:2::/64"). */
export function clientKey(ip: string | undefined): string {
  if (!ip) return 'unknown';
  let address: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    address = ipaddr.process(ip);
  } catch {
    return ip.slice(0, 64);
  }
  if (address.kind() === 'ipv4') return address.toString();
  const parts = (address as ipaddr.IPv6).parts.slice(0, 4).map((p) => p.toString(16));
  return `${parts.join(':')}::/64`;
}

function retryError(msBeforeNext: number, what: string): ApiError {
  const seconds = Math.max(1, Math.ceil(msBeforeNext / 1000));
  return new ApiError('rate_limited', `${what}; retry in ${seconds} s`, undefined, {
    headers: { 'Retry-After': String(seconds) },
  });
}

/** API_RATE_PER_MINUTE requests per authenticated user per minute, across replicas. */
export class PrincipalRateLimiter {
  private readonly limiter: RateLimiterRedis;

  constructor(redis: Redis, prefix: string, perMinute: number) {
    this.limiter = new RateLimiterRedis({
      storeClient: redis,
      keyPrefix: `${prefix}:rl:api:user`,
      points: perMinute,
      duration: 60,
    });
  }

  /** Counts one request of `userId`; throws 429 over the limit. Redis trouble lets the request through. */
  async consume(userId: number): Promise<void> {
    try {
      await this.limiter.consume(String(userId));
    } catch (error) {
      if (error instanceof RateLimiterRes)
        throw retryError(error.msBeforeNext, 'too many requests for this user');
      // Failing open: the limit protects shared resources; it must not turn a Redis blip into an outage.
    }
  }
}

/** One manual refresh per organization per cooldown, across replicas (SET NX EX). */
export class RefreshCooldown {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly seconds: number,
  ) {}

  private key(orgId: number): string {
    return `${this.prefix}:refresh:cooldown:${orgId}`;
  }

  /** Claims the org's refresh slot; throws 429 (Retry-After: the seconds left) while it is taken. */
  async claim(orgId: number): Promise<void> {
    if (this.seconds <= 0) return;
    const set = await this.redis.set(this.key(orgId), '1', 'EX', this.seconds, 'NX');
    if (set === 'OK') return;
    const ttlMs = await this.redis.pttl(this.key(orgId));
    throw retryError(
      ttlMs > 0 ? ttlMs : this.seconds * 1000,
      `this organization was refreshed less than ${this.seconds} s ago (REFRESH_COOLDOWN_SECONDS)`,
    );
  }

  /** Gives the slot back when nothing was enqueued (e.g. the enqueue failed). */
  async release(orgId: number): Promise<void> {
    await this.redis.del(this.key(orgId));
  }
}

/** Bull Board sessions revoked by logout, until the session token would have expired anyway. */
export class AdminSessions {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private key(jti: string): string {
    return `${this.prefix}:admin:revoked:${jti}`;
  }

  async revoke(jti: string, expSeconds: number): Promise<void> {
    const ttl = Math.max(1, expSeconds - Math.floor(Date.now() / 1000));
    await this.redis.set(this.key(jti), '1', 'EX', ttl);
  }

  /** True when logged out. Fails closed: without Redis a session cannot be shown to be live. */
  async isRevoked(jti: string): Promise<boolean> {
    try {
      return (await this.redis.exists(this.key(jti))) === 1;
    } catch {
      return true;
    }
  }
}
