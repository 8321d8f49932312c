/**
 * AWS request limits shared by every worker replica through Redis (fixed windows, every limit of
 * a request checked and taken by one Lua script: one round trip per request): per organization
 * and service (Cost Explorer, CloudWatch), plus one global cap. A request waits
 * for its slot; a wait longer than `maxWaitMs` gives up with RateLimitWaitError so the job can be
 * delayed instead of holding a worker slot.
 *
 * Fair share: besides its per-service limits, one organization may use at most `orgShare` of the
 * global rate (AWS_RATE_ORG_SHARE, default 0.25), every service and STS included. So however
 * many jobs one tenant has queued (or triggers with refreshes), at least (1 - orgShare) of the
 * global budget stays for the others: with a share s, an org is never slowed by fewer than 1/s
 * busy orgs.
 */
import { createHash } from 'node:crypto';
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

/** One fixed-window limit: `points` requests per `duration` seconds under one Redis key. */
interface WindowLimit {
  key: string;
  points: number;
  duration: number;
}

function windowOf(keyPrefix: string, perSecond: number): Omit<WindowLimit, 'key'> & { keyPrefix: string } {
  // Fixed windows of whole seconds: r >= 1 is r points a second; r < 1 is one point per 1/r seconds.
  const duration = perSecond >= 1 ? 1 : Math.ceil(1 / perSecond);
  const points = Math.max(1, Math.round(perSecond * duration));
  return { keyPrefix, points, duration };
}

/**
 * Every limit of one request in one round trip, atomically: when each window has a point left, one
 * point of each is taken and 0 is returned; otherwise nothing is taken and the script returns the
 * milliseconds until the fullest window resets. The keys and counters are those of
 * rate-limiter-flexible's RateLimiterRedis (`<prefix>:<key>`, SET NX EX + INCRBY), which this
 * replaced: before, a request made one round trip per limit (per org, fair share, global) and a
 * request refused by a later limit had already spent a point of the earlier ones.
 * KEYS: the windows' keys; ARGV: points and duration (seconds) of each, in order.
 */
const ACQUIRE_LUA = `
local wait = 0
for i, key in ipairs(KEYS) do
  local points = tonumber(ARGV[2 * i - 1])
  local used = tonumber(redis.call('get', key) or '0')
  if used + 1 > points then
    local ttl = redis.call('pttl', key)
    if ttl < 0 then ttl = tonumber(ARGV[2 * i]) * 1000 end
    if ttl > wait then wait = ttl end
  end
end
if wait > 0 then return wait end
for i, key in ipairs(KEYS) do
  redis.call('set', key, 0, 'EX', ARGV[2 * i], 'NX')
  redis.call('incrby', key, 1)
end
return 0
`;
const ACQUIRE_SHA = createHash('sha1').update(ACQUIRE_LUA).digest('hex');

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class AwsRateLimiter {
  private readonly perOrg: Record<Exclude<AwsService, 'sts'>, ReturnType<typeof windowOf>>;
  private readonly global: ReturnType<typeof windowOf>;
  private readonly share: ReturnType<typeof windowOf> | null;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    settings: RateSettings,
    private readonly maxWaitMs = 30_000,
  ) {
    this.perOrg = {
      ce: windowOf(`${prefix}:rl:ce`, settings.ce),
      cloudwatch: windowOf(`${prefix}:rl:cw`, settings.cloudwatch),
    };
    this.global = windowOf(`${prefix}:rl:global`, settings.global);
    const share = settings.orgShare ?? 1;
    this.share = share < 1 ? windowOf(`${prefix}:rl:share`, settings.global * share) : null;
  }

  /** Waits until one request of `service` for `orgId` may be sent (one Redis round trip a try). */
  async acquire(service: AwsService, orgId: number): Promise<void> {
    const started = Date.now();
    const org = String(orgId);
    const limits: WindowLimit[] = [];
    const add = (w: ReturnType<typeof windowOf>, key: string) =>
      limits.push({ key: `${w.keyPrefix}:${key}`, points: w.points, duration: w.duration });
    if (service !== 'sts') add(this.perOrg[service], org);
    if (this.share) add(this.share, org);
    add(this.global, 'all');
    const keys = limits.map((l) => l.key);
    const argv = limits.flatMap((l) => [l.points, l.duration]);
    for (;;) {
      const waitMs = await this.tryAcquire(keys, argv);
      if (waitMs <= 0) return;
      const wait = waitMs + Math.floor(Math.random() * 50);
      if (Date.now() + wait - started > this.maxWaitMs) throw new RateLimitWaitError(wait);
      await sleep(wait);
    }
  }

  private async tryAcquire(keys: string[], argv: number[]): Promise<number> {
    try {
      return Number(await this.redis.evalsha(ACQUIRE_SHA, keys.length, ...keys, ...argv));
    } catch (error) {
      if (!(error instanceof Error) || !error.message.includes('NOSCRIPT')) throw error;
      return Number(await this.redis.eval(ACQUIRE_LUA, keys.length, ...keys, ...argv));
    }
  }
}
