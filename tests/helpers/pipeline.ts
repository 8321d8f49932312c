/**
 * An in-process CostWatch pipeline for integration tests: its own database, queue prefix and
 * simulator, real workers (BullMQ on the test Redis) and the real AWS SDK clients pointed at the
 * simulator through AWS_ENDPOINT_URL. One pinned clock (default: frozen at TEST_NOW) is the
 * simulator's and the workers' now.
 */
import { randomBytes } from 'node:crypto';
import { createClock, type Now } from '../../lib/clock.js';
import { parseConfig, asServiceConfig, type ServiceConfig } from '../../lib/config.js';
import { QUEUES } from '../../lib/jobs.js';
import { createRedis, type Redis } from '../../lib/redis.js';
import { createLogger } from '../../lib/logger.js';
import { createQueues, queueWork, type Queues } from '../../producers/queues.js';
import { enqueueBackfill } from '../../producers/enqueue.js';
import { backfillProgress } from '../../database/repositories/fetch-runs.repository.js';
import { createOrganization, type CustomerOrganization } from '../../database/repositories/organizations.repository.js';
import { startWorkers, type RunningWorkers } from '../../workers/main.js';
import { startSimulator, type RunningSimulator, type SimOptions } from '../../sim/server.js';
import { createTestDatabase, type TestDatabase } from './db.js';
import { discardQueues } from './queues.js';
import { pinnedClockEnv, TEST_NOW } from './clock.js';

// The default credential chain of the SDK (used for STS): static test keys.
process.env.AWS_ACCESS_KEY_ID ??= 'AKIACOSTWATCHTEST';
process.env.AWS_SECRET_ACCESS_KEY ??= 'costwatch-test-secret';

export interface TestPipeline {
  db: TestDatabase;
  sim: RunningSimulator;
  config: ServiceConfig;
  redis: Redis;
  queues: Queues;
  /** The pipeline's clock: the simulator's and the in-process workers' now. */
  now: Now;
  /** CLOCK_START / CLOCK_FROZEN that pin a spawned role at the pipeline clock's current reading (frozen). */
  clockEnv(): { CLOCK_START: string; CLOCK_FROZEN: string };
  workers: RunningWorkers | null;
  startWorkers(overrides?: Record<string, string>): Promise<RunningWorkers>;
  createOrg(accountId: string, options?: { externalId?: string; withoutRole?: boolean }): Promise<CustomerOrganization>;
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
  const now = options.now ?? createClock({ startAt: new Date(TEST_NOW), frozen: true });
  const db = await createTestDatabase({ poolSize: 10 });
  const sim = await startSimulator({ port: 0, ...options.sim }, { now });
  const prefix = `cwtest${randomBytes(4).toString('hex')}`;
  const env = testEnv({
    DATABASE_URL: db.url,
    QUEUE_PREFIX: prefix,
    AWS_ENDPOINT_URL: sim.url,
    ALLOW_INSECURE_AWS_ENDPOINT: 'true',
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
    now,
    clockEnv: () => pinnedClockEnv(now()),
    workers: null,
    async startWorkers(overrides = {}) {
      const cfg = asServiceConfig(parseConfig('worker', { ...env, ...overrides }));
      const running = await startWorkers(cfg, { log: createLogger({ level: cfg.LOG_LEVEL, name: 'worker' }), now });
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
        // Without a role: CostWatch's own identity, as `org create --self` asks for it.
        selfIdentity: opts.withoutRole === true,
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
        // Every queue but the scheduler's; a Job Scheduler's next delayed run (the outbox sweep) is not work.
        const counts = await Promise.all(queues.all.filter((q) => q.name !== QUEUES.scheduler).map((q) => queueWork(q)));
        if (counts.every((c) => c.pending === 0 && c.active === 0)) return;
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

/**
 * The environment of a `costwatch` process (spawnRole) that works on this pipeline: its database,
 * Redis, queue prefix and simulator, with `overrides` (e.g. `...p.clockEnv()` to pin its clock).
 */
export function roleProcessEnv(p: TestPipeline, overrides: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: p.config.DATABASE_URL,
    REDIS_URL: p.config.REDIS_URL,
    QUEUE_PREFIX: p.config.QUEUE_PREFIX,
    AWS_ENDPOINT_URL: p.sim.url,
    ALLOW_INSECURE_AWS_ENDPOINT: 'true',
    AWS_ACCESS_KEY_ID: 'AKIACOSTWATCHTEST',
    AWS_SECRET_ACCESS_KEY: 'costwatch-test-secret',
    METRICS_PORT: '0',
    LOG_LEVEL: 'info',
    ...overrides,
  };
}
