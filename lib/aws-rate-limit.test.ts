import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createRedis, type Redis } from './redis.js';
import { AwsRateLimiter, RateLimitWaitError } from './aws-rate-limit.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

function newPrefix(): string {
  return `cwrltest${randomBytes(4).toString('hex')}`;
}

/** Commands this client sent (every command ioredis writes goes through sendCommand). */
function countCommands(redis: Redis): { readonly sent: string[] } {
  const sent: string[] = [];
  const send = redis.sendCommand.bind(redis);
  redis.sendCommand = ((command: { name: string }, ...rest: unknown[]) => {
    sent.push(command.name);
    return (send as (...args: unknown[]) => unknown)(command, ...rest);
  }) as Redis['sendCommand'];
  return { sent };
}

describe('AwsRateLimiter', () => {
  let redis: Redis;
  before(() => {
    redis = createRedis(REDIS_URL, 'worker');
  });
  after(() => redis.disconnect());

  it('checks the per-org, fair-share and global limits of a request in one Redis round trip', async () => {
    const limiter = new AwsRateLimiter(redis, newPrefix(), {
      ce: 1000,
      cloudwatch: 1000,
      global: 10_000,
      orgShare: 0.25,
    });
    await limiter.acquire('ce', 1); // loads the script (NOSCRIPT + EVAL the first time)
    const counter = countCommands(redis);
    for (let i = 0; i < 20; i++) await limiter.acquire(i % 2 ? 'ce' : 'cloudwatch', 1 + (i % 3));
    await limiter.acquire('sts', 7);
    // Before: one command per limit, three for a CE or CloudWatch request with a fair share.
    assert.deepEqual(
      counter.sent,
      Array.from({ length: 21 }, () => 'evalsha'),
    );
  });

  it('a request refused by one limit takes no point of the others', async () => {
    const prefix = newPrefix();
    // Global 3 a second: the first three requests pass, the fourth waits past maxWaitMs (0).
    const limiter = new AwsRateLimiter(redis, prefix, { ce: 1000, cloudwatch: 1000, global: 3 }, 0);
    for (let i = 0; i < 3; i++) await limiter.acquire('ce', 1);
    await assert.rejects(limiter.acquire('ce', 1), RateLimitWaitError);
    // The per-org window counted the 3 requests that went out, not the refused one.
    assert.equal(await redis.get(`${prefix}:rl:ce:1`), '3');
    assert.equal(await redis.get(`${prefix}:rl:global:all`), '3');
    const ttl = await redis.pttl(`${prefix}:rl:global:all`);
    assert.ok(ttl > 0 && ttl <= 1000, `the global window expires with its second (pttl ${ttl})`);
  });

  it('waits for the next window instead of failing when the wait fits in maxWaitMs', async () => {
    const limiter = new AwsRateLimiter(redis, newPrefix(), { ce: 2, cloudwatch: 1000, global: 1000 }, 5_000);
    const started = Date.now();
    for (let i = 0; i < 3; i++) await limiter.acquire('ce', 9);
    // 2 a second: the third request goes out in the next one-second window.
    const waited = Date.now() - started;
    assert.ok(waited < 2_500, `third request after ${waited} ms`);
  });
});
