/**
 * AWS request limits shared by every worker replica through Redis (rate-limiter-flexible):
 * per organization and service (Cost Explorer, CloudWatch), plus one global cap. A request waits
 * for its slot; a wait longer than `maxWaitMs` gives up with RateLimitWaitError so the job can be
 * delayed instead of holding a worker slot.
 *
 * Fair share: besides its per-service limits, one organization may use at most `orgShare` of the
 * global rate (AWS_RATE_ORG_SHARE, default 0.25), every service and STS included. So however
 * many jobs one tenant has queued (or triggers with refreshes), at least (1 - orgShare) of the
 * global budget stays for the others: with a share s, an org is never slowed by fewer than 1/s
 * busy orgs.
 */
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { Redis } from 'ioredis';

export type AwsService = 'ce' | 'cloudwatch' | 'sts';

export interface RateSettings {
  /** Requests per second per organization. */
  ce: number;
  cloudwatch: number;
  /** Requests per second across all organizations. */
  global: number;
  /** Share (0-1] of `global` one organization may use; default 1 (no per-org cap of the global budget). */
  orgShare?: number;
}

export class RateLimitWaitError extends Error {
  override name = 'RateLimitWaitError';
  constructor(readonly retryAfterMs: number) {
    super(`AWS request limit reached; next slot in ${retryAfterMs} ms`);
  }
}

function limiter(redis: Redis, keyPrefix: string, perSecond: number): RateLimiterRedis {
  // Fixed windows of whole seconds: r >= 1 is r points a second; r < 1 is one point per 1/r seconds.
  const duration = perSecond >= 1 ? 1 : Math.ceil(1 / perSecond);
  const points = Math.max(1, Math.round(perSecond * duration));
  return new RateLimiterRedis({ storeClient: redis, keyPrefix, points, duration });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class AwsRateLimiter {
  private readonly perOrg: Record<Exclude<AwsService, 'sts'>, RateLimiterRedis>;
  private readonly global: RateLimiterRedis;
  private readonly share: RateLimiterRedis | null;

  constructor(
    redis: Redis,
    prefix: string,
    settings: RateSettings,
    private readonly maxWaitMs = 30_000,
  ) {
    this.perOrg = {
      ce: limiter(redis, `${prefix}:rl:ce`, settings.ce),
      cloudwatch: limiter(redis, `${prefix}:rl:cw`, settings.cloudwatch),
    };
    this.global = limiter(redis, `${prefix}:rl:global`, settings.global);
    const share = settings.orgShare ?? 1;
    this.share = share < 1 ? limiter(redis, `${prefix}:rl:share`, settings.global * share) : null;
  }

  /** Waits until one request of `service` for `orgId` may be sent. */
  async acquire(service: AwsService, orgId: number): Promise<void> {
    const started = Date.now();
    if (service !== 'sts') await this.take(this.perOrg[service], String(orgId), started);
    if (this.share) await this.take(this.share, String(orgId), started);
    await this.take(this.global, 'all', started);
  }

  private async take(rl: RateLimiterRedis, key: string, started: number): Promise<void> {
    for (;;) {
      try {
        await rl.consume(key, 1);
        return;
      } catch (rejection) {
        if (!(rejection instanceof RateLimiterRes)) throw rejection;
        const wait = rejection.msBeforeNext + Math.floor(Math.random() * 50);
        if (Date.now() + wait - started > this.maxWaitMs) throw new RateLimitWaitError(wait);
        await sleep(wait);
      }
    }
  }
}
