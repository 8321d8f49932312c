/**
 * Redis response cache of the rollup-backed GET endpoints. Keys name the organization, its cache
 * version (lib/cache.ts: bumped by every rollup of that org), the route, the validated query and
 * the UTC day, so a completed rollup invalidates every cached answer of the org at once. Redis
 * trouble never fails a request: a slow or failing cache is a miss.
 */
import { createHash } from 'node:crypto';
import type { Logger } from '../../lib/logger.js';
import type { Redis } from '../../lib/redis.js';
import { orgCacheVersion } from '../../lib/cache.js';

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

export class ResponseCache {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlSeconds: number,
    private readonly log: Logger,
  ) {}

  get enabled(): boolean {
    return this.ttlSeconds > 0;
  }

  /** The key of one answer: org, its current cache version, route, query and day. Null when Redis fails. */
  async keyFor(orgId: number, route: string, query: unknown, day: string): Promise<string | null> {
    try {
      const version = await withTimeout(orgCacheVersion(this.redis, this.prefix, orgId), CACHE_TIMEOUT_MS);
      const digest = createHash('sha256')
        .update(`${route}\n${canonical(query)}\n${day}`)
        .digest('base64url');
      return `${this.prefix}:cache:r:${orgId}:${version}:${digest}`;
    } catch (error) {
      this.log.warn({ err: error }, 'response cache unavailable');
      return null;
    }
  }

  async get(key: string): Promise<string | null> {
    try {
      return await withTimeout(this.redis.get(key), CACHE_TIMEOUT_MS);
    } catch (error) {
      this.log.warn({ err: error }, 'response cache read failed');
      return null;
    }
  }

  async set(key: string, body: string): Promise<void> {
    try {
      await withTimeout(this.redis.set(key, body, 'EX', this.ttlSeconds), CACHE_TIMEOUT_MS);
    } catch (error) {
      this.log.warn({ err: error }, 'response cache write failed');
    }
  }
}
