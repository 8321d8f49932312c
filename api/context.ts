/**
 * What the API's routes and middleware share: the dependencies handed to `createApp` plus the
 * services built from them once (token signer, login limiter, response cache, dummy hash).
 */
import type { Logger } from '../lib/logger.js';
import type { Pool } from '../lib/db.js';
import type { Redis } from '../lib/redis.js';
import type { ApiConfig } from '../lib/config.js';
import type { Queues } from '../producers/queues.js';
import type { TokenSigner } from './auth/tokens.js';
import type { LoginLimiter } from './auth/login.js';
import type { AdminSessions, PrincipalRateLimiter, RefreshCooldown } from './auth/limits.js';
import type { ResponseCache } from './middleware/cache.js';

/** Process state the composition root flips on SIGTERM; /ready answers 503 once draining. */
export interface Lifecycle {
  draining: boolean;
}

export interface AppOptions {
  /** Clock of the date-relative endpoints (summary, forecast, refresh windows, ingestion usage). */
  now?: () => Date;
  /**
   * bcrypt cost of the dummy hash an unknown email is compared against: keep it equal to the cost
   * of the stored hashes (12, the `user create` default) so both take the same time.
   */
  passwordHashCost?: number;
  /** Lifetime of the Bull Board browser session cookie, seconds (default: min(TOKEN_TTL_SECONDS, 900)). */
  adminSessionSeconds?: number;
  lifecycle?: Lifecycle;
}

/** The dependencies of the API, built by the composition root (api/main.ts) or a test. */
export interface AppDeps {
  config: ApiConfig;
  db: Pool;
  /** Rate limiter connection, and the cache's unless `cacheRedis` is given (fail-fast; see lib/redis.ts). */
  redis: Redis;
  /** The response cache's own Redis (CACHE_REDIS_URL); default: `redis`. */
  cacheRedis?: Redis;
  queues: Queues;
  log: Logger;
  options?: AppOptions;
}

export interface ApiContext {
  config: ApiConfig;
  db: Pool;
  redis: Redis;
  queues: Queues;
  log: Logger;
  now: () => Date;
  lifecycle: Lifecycle;
  tokens: TokenSigner;
  loginLimiter: LoginLimiter;
  /** API_RATE_PER_MINUTE per authenticated user. */
  apiLimiter: PrincipalRateLimiter;
  /** REFRESH_COOLDOWN_SECONDS per organization for POST /ingestion/refresh. */
  refreshCooldown: RefreshCooldown;
  /** Bull Board sessions ended by logout. */
  adminSessions: AdminSessions;
  cache: ResponseCache;
  /** Compared against when the email is unknown, so both paths cost one bcrypt comparison. */
  dummyHash: Promise<string>;
  adminSessionSeconds: number;
}
