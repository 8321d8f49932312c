/**
 * API response cache keys. Each organization has a version number in Redis; cached responses
 * are stored under the version current when they were computed, so bumping the version (after a
 * rollup of that org commits) invalidates every cached answer of that org at once, on every
 * API replica, without scanning keys. Old entries expire by TTL.
 */
import type { Redis } from 'ioredis';

export function orgCacheVersionKey(prefix: string, orgId: number): string {
  return `${prefix}:cache:v:${orgId}`;
}

/** Invalidates every cached API response of an organization. */
export async function invalidateOrgCache(redis: Redis, prefix: string, orgId: number): Promise<void> {
  await redis.incr(orgCacheVersionKey(prefix, orgId));
}

/** The current cache version of an organization (0 before the first rollup). */
export async function orgCacheVersion(redis: Redis, prefix: string, orgId: number): Promise<number> {
  return Number((await redis.get(orgCacheVersionKey(prefix, orgId))) ?? 0);
}
