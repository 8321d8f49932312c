/**
 * CE_DAILY_REQUEST_CAP: at most this many Cost Explorer requests per organization per UTC day (by
 * the injected clock), across every worker replica. Every CE request (retries included, as AWS
 * bills them) is counted in Redis once AWS answered it; a request that would go over the cap is
 * not sent: it fails with CeRequestCapError, which the fetch job turns into a `capped` run delayed
 * to the org's next day. Other organizations are untouched (the counter is per org).
 */
import type { Redis } from 'ioredis';
import { systemNow, type Now } from './clock.js';
import { ceCapHits } from './metrics.js';

export class CeRequestCapError extends Error {
  override name = 'CeDailyRequestCapReached';
  constructor(
    readonly orgId: number,
    readonly cap: number,
    /** The start of the org's next day: when its work resumes. */
    readonly resumesAt: Date,
    /** Milliseconds from now (by the cap's clock) until resumesAt. */
    readonly resumesInMs: number,
  ) {
    super(
      `organization ${orgId} reached CE_DAILY_REQUEST_CAP (${cap} Cost Explorer requests today); its work resumes at ${resumesAt.toISOString()}`,
    );
  }
}

function utcDay(instant: Date): string {
  return instant.toISOString().slice(0, 10);
}

/** The per-org daily Cost Explorer request counter and cap. */
export class CeRequestCap {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    /** 0: no cap (requests are still counted). */
    readonly cap: number,
    private readonly now: Now = systemNow,
  ) {}

  private key(orgId: number, day: string): string {
    return `${this.prefix}:ce-requests:${orgId}:${day}`;
  }

  /**
   * Reserves one request of the org's day (atomic across replicas and concurrent requests), or
   * throws CeRequestCapError when the org has spent its cap today. Returns the key to release
   * when AWS never answered (an unanswered attempt is not billed).
   */
  async admit(orgId: number): Promise<string> {
    const now = this.now();
    const key = this.key(orgId, utcDay(now));
    const results = await this.redis
      .multi()
      .incr(key)
      .expire(key, 3 * 86_400)
      .exec();
    const spent = Number(results?.[0]?.[1] ?? 0);
    if (this.cap > 0 && spent > this.cap) {
      await this.redis.decr(key);
      ceCapHits.inc();
      const next = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1));
      throw new CeRequestCapError(orgId, this.cap, next, next.getTime() - now.getTime());
    }
    return key;
  }

  /** Gives back a reservation whose request AWS never answered. */
  async release(key: string): Promise<void> {
    await this.redis.decr(key);
  }

  /** CE requests the org made today (by the injected clock). */
  async today(orgId: number): Promise<number> {
    return Number((await this.redis.get(this.key(orgId, utcDay(this.now())))) ?? 0);
  }
}
