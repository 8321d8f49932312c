/**
 * Redis response cache of the rollup-backed GET endpoints. Keys name the organization, the route,
 * the validated query and the UTC day; each stored answer is prefixed with the org's cache version
 * (lib/cache.ts: bumped by every rollup of that org) current when it was computed, so a completed
 * rollup invalidates every cached answer of the org at once. A lookup is one MGET of the version
 * and the answer, and a hit is sent as the stored bytes. Redis trouble never fails a request: a
 * slow or failing cache is a miss.
 *
 * Bounded (the cache may live in the `noeviction` queue Redis, where filling memory stops every
 * tenant's jobs): an answer above CACHE_MAX_ENTRY_BYTES is not stored, pages with an `offset` above
 * CACHE_MAX_OFFSET are not cached, and each organization may store CACHE_MAX_ENTRIES_PER_ORG answers
 * per API_CACHE_TTL_SECONDS window (a counter that expires with the window; one Lua script counts
 * and stores atomically), so at most twice that many answers of an org are alive at any moment:
 * an org's cache holds at most 2 x CACHE_MAX_ENTRIES_PER_ORG x CACHE_MAX_ENTRY_BYTES. With
 * CACHE_REDIS_URL the cache lives in its own Redis (allkeys-lru) and cannot touch the queues.
 */
import { createHash } from 'node:crypto';
import type { Logger } from '../../lib/logger.js';
import type { Redis } from '../../lib/redis.js';
import { orgCacheVersionKey } from '../../lib/cache.js';

const CACHE_TIMEOUT_MS = 250;

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`redis did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** JSON with sorted keys, so equal queries give equal keys whatever the parameter order. */
function canonical(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
}

/** The bounds of the response cache (CACHE_MAX_* settings). */
export interface CacheLimits {
  maxEntryBytes: number;
  maxEntriesPerOrg: number;
  maxOffset: number;
}

// KEYS[1] the org's entry counter, KEYS[2] the entry; ARGV: ttl seconds, max entries, value.
// Counts first, so parallel stores of one org can never exceed the cap.
const STORE_BOUNDED = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
if n > tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[1])
return 1`;

export function orgEntryCounterKey(prefix: string, orgId: number): string {
  return `${prefix}:cache:n:${orgId}`;
}

export class ResponseCache {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlSeconds: number,
    private readonly log: Logger,
    private readonly limits: CacheLimits = { maxEntryBytes: 262144, maxEntriesPerOrg: 1000, maxOffset: 200 },
  ) {}

  get enabled(): boolean {
    return this.ttlSeconds > 0;
  }

  /**
   * Looks an answer up. Returns the cached bytes (null on a miss) and a `store` that caches a freshly
   * computed answer under the version read here (so an answer computed across a rollup is never
   * served as current). Null when Redis fails.
   */
  async lookup(
    orgId: number,
    route: string,
    query: unknown,
    day: string,
  ): Promise<{ hit: Buffer | null; store: (body: string) => Promise<void> } | null> {
    const offset =
      typeof query === 'object' && query !== null ? (query as { offset?: unknown }).offset : undefined;
    if (typeof offset === 'number' && offset > this.limits.maxOffset) return null;
    const digest = createHash('sha256')
      .update(`${route}\n${canonical(query)}\n${day}`)
      .digest('base64url');
    const key = `${this.prefix}:cache:r:${orgId}:${digest}`;
    try {
      const [versionRaw, stored] = await withTimeout(
        this.redis.mgetBuffer(orgCacheVersionKey(this.prefix, orgId), key),
        CACHE_TIMEOUT_MS,
      );
      const version = versionRaw ? versionRaw.toString() : '0';
      const tag = Buffer.from(`${version}\n`);
      const hit = stored && stored.subarray(0, tag.length).equals(tag) ? stored.subarray(tag.length) : null;
      return { hit, store: (body) => this.set(orgId, key, `${version}\n${body}`) };
    } catch (error) {
      this.log.warn({ err: error }, 'response cache unavailable');
      return null;
    }
  }

  private async set(orgId: number, key: string, value: string): Promise<void> {
    if (Buffer.byteLength(value) > this.limits.maxEntryBytes) return;
    try {
      await withTimeout(
        this.redis.eval(
          STORE_BOUNDED,
          2,
          orgEntryCounterKey(this.prefix, orgId),
          key,
          this.ttlSeconds,
          this.limits.maxEntriesPerOrg,
          value,
        ),
        CACHE_TIMEOUT_MS,
      );
    } catch (error) {
      this.log.warn({ err: error }, 'response cache write failed');
    }
  }
}
