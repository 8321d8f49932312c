/**
 * ioredis connection factories. BullMQ workers need `maxRetriesPerRequest: null` (blocking
 * commands must wait through reconnects); producers and the API fail fast instead.
 */
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from './logger.js';

export type { Redis } from 'ioredis';

export type RedisPurpose = 'worker' | 'producer' | 'cache';

export function createRedis(url: string, purpose: RedisPurpose, log?: Logger): Redis {
  const options: RedisOptions = {
    maxRetriesPerRequest: purpose === 'worker' ? null : 3,
    enableReadyCheck: true,
    connectionName: `costwatch-${purpose}`,
    // Reconnect forever with a capped delay: Redis restarts must not kill the process.
    retryStrategy: (times) => Math.min(200 * times, 5_000),
    ...(purpose === 'worker' ? {} : { enableOfflineQueue: true }),
  };
  const redis = new Redis(url, options);
  let lastLogged = 0;
  redis.on('error', (error: Error) => {
    // Reconnect loops emit an error per attempt; log at most one a second.
    if (Date.now() - lastLogged > 1_000) {
      lastLogged = Date.now();
      log?.warn({ err: error, purpose }, 'redis connection error');
    }
  });
  return redis;
}
