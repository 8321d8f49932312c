/**
 * API response cache versions. Each organization has a version number in Redis; cached responses
 * carry the version current when they were computed (api/middleware/cache.ts), so bumping the
 * version (after a rollup of that org commits) invalidates every cached answer of that org at
 * once, on every API replica, without scanning keys. Old entries expire by TTL.
 */
import type { Redis } from 'ioredis';

export function orgCacheVersionKey(prefix: string, orgId: number): string {
  return `${prefix}:cache:v:${orgId}`;
}

/** Invalidates every cached API response of an organization. */
export async function invalidateOrgCache(redis: Redis, prefix: string, orgId: number): Promise<void> {
  await redis.incr(orgCacheVersionKey(prefix, orgId));
}
