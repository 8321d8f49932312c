/**
 * An in-process CostWatch pipeline for integration tests: its own database, queue prefix and
 * simulator, real workers (BullMQ on the test Redis) and the real AWS SDK clients pointed at the
 * simulator through AWS_ENDPOINT_URL.
 */
import { randomBytes } from 'node:crypto';
import { parseConfig, asServiceConfig, type ServiceConfig } from '../../lib/config.js';
import { createRedis, type Redis } from '../../lib/redis.js';
import { createLogger } from '../../lib/logger.js';
import { createQueues, type Queues } from '../../producers/queues.js';
import { enqueueBackfill } from '../../producers/enqueue.js';
import { backfillProgress } from '../../database/repositories/fetch-runs.repository.js';
import { createOrganization, type Organization } from '../../database/repositories/organizations.repository.js';
import { startWorkers, type RunningWorkers } from '../../workers/main.js';
import { startSimulator, type RunningSimulator, type SimOptions } from '../../sim/server.js';
import { createTestDatabase, type TestDatabase } from './db.js';
import type { Now } from '../../lib/clock.js';
import { discardQueues } from './queues.js';

// The default credential chain of the SDK (used for STS): static test keys.
process.env.AWS_ACCESS_KEY_ID ??= 'AKIACOSTWATCHTEST';
process.env.AWS_SECRET_ACCESS_KEY ??= 'costwatch-test-secret';

export interface TestPipeline {
  db: TestDatabase;
  sim: RunningSimulator;
  config: ServiceConfig;
  redis: Redis;
  queues: Queues;
  workers: RunningWorkers | null;
  startWorkers(overrides?: Record<string, string>): Promise<RunningWorkers>;
  createOrg(accountId: string, options?: { externalId?: string; withoutRole?: boolean }): Promise<Organization>;
  /** Enqueues a backfill of [from, to) for the orgs and waits until every window is rolled up or failed. */
  backfill(orgIds: number[], from: string, to: string, timeoutMs?: number): Promise<{ backfillId: string; windows: number; rolledUp: number; failed: number }>;
  waitForIdle(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export function testEnv(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: process.env.DATABASE_URL ?? '',
    REDIS_URL: process.env.REDIS_URL ?? '',
    JWT_SECRET_KEY: process.env.JWT_SECRET_KEY ?? 'test-secret-test-secret-test-secret-1234',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent',
    METRICS_PORT: '0',
    HOST: '127.0.0.1',
    ...overrides,
  };
}

export async function startTestPipeline(
  options: { sim?: Partial<SimOptions>; env?: Record<string, string>; workers?: boolean; now?: Now } = {},
): Promise<TestPipeline> {
  const db = await createTestDatabase({ poolSize: 10 });
  const sim = await startSimulator({ port: 0, ...options.sim });
  const prefix = `cwtest${randomBytes(4).toString('hex')}`;
  const env = testEnv({
    DATABASE_URL: db.url,
    QUEUE_PREFIX: prefix,
    AWS_ENDPOINT_URL: sim.url,
    RETRY_BACKOFF_MS: '50',
    THROTTLE_BACKOFF_MS: '200',
    JOB_LOCK_SECONDS: '5',
    SHUTDOWN_GRACE_SECONDS: '5',
    WORKER_CONCURRENCY: '4',
    CE_RATE_PER_ORG: '100',
    CW_RATE_PER_ORG: '200',
    ...options.env,
  });
  const config = asServiceConfig(parseConfig('worker', env));
  const redis = createRedis(config.REDIS_URL, 'producer');
  const queues = createQueues(redis, { prefix, attempts: config.FETCH_ATTEMPTS, backoffMs: config.RETRY_BACKOFF_MS });
  const pipeline: TestPipeline = {
    db,
    sim,
    config,
    redis,
    queues,
    workers: null,
    async startWorkers(overrides = {}) {
      const cfg = asServiceConfig(parseConfig('worker', { ...env, ...overrides }));
      const running = await startWorkers(cfg, {
        log: createLogger({ level: cfg.LOG_LEVEL, name: 'worker' }),
        ...(options.now ? { now: options.now } : {}),
      });
      pipeline.workers = running;
      return running;
    },
    async createOrg(accountId, opts = {}) {
      if (opts.externalId) sim.control.registerExternalId(accountId, opts.externalId);
      return createOrganization(db.pool, {
        name: `org-${accountId}-${randomBytes(2).toString('hex')}`,
        awsAccountId: accountId,
        roleArn: opts.withoutRole ? null : `arn:aws:iam::${accountId}:role/CostWatchRead`,
        externalId: opts.externalId ?? null,
      });
    },
    async backfill(orgIds, from, to, timeoutMs = 120_000) {
      const backfillId = `bf-${randomBytes(4).toString('hex')}`;
      const { windows } = await enqueueBackfill(queues, orgIds, { from, to }, config.BACKFILL_WINDOW_DAYS, backfillId);
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const p = await backfillProgress(db.pool, backfillId);
        if (p.rolledUp + p.failed >= windows * 2) return { backfillId, windows: windows * 2, rolledUp: p.rolledUp, failed: p.failed };
        if (Date.now() > deadline) throw new Error(`backfill ${backfillId} not done after ${timeoutMs} ms: ${JSON.stringify(p)} of ${windows * 2}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async waitForIdle(timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const counts = await Promise.all(
          [queues.fetchCosts, queues.fetchMetrics, queues.rollups, queues.anomalies].map((q) => q.getJobCounts('waiting', 'active', 'delayed', 'prioritized')),
        );
        if (counts.every((c) => Object.values(c).every((n) => n === 0))) return;
        if (Date.now() > deadline) throw new Error(`queues not idle after ${timeoutMs} ms: ${JSON.stringify(counts)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async close() {
      await pipeline.workers?.stop();
      await discardQueues(queues);
      redis.disconnect();
      await sim.close();
      await db.drop();
    },
  };
  if (options.workers !== false) await pipeline.startWorkers();
  return pipeline;
}
