/**
 * Scheduler role: `costwatch scheduler`. Upserts one BullMQ Job Scheduler (REFRESH_CRON, UTC) —
 * idempotent, so any number of replicas may run — and processes its ticks (each tick runs on one
 * replica only), enqueueing the due fetches of every active organization. Serves /health, /ready
 * and /metrics (organization status and refresh age gauges) on METRICS_PORT.
 */
import { Worker } from 'bullmq';
import type { ServiceConfig } from '../lib/config.js';
import { clockFromConfig, type Now } from '../lib/clock.js';
import { createPool } from '../lib/db.js';
import { createRedis } from '../lib/redis.js';
import { createLogger, type Logger } from '../lib/logger.js';
import { JOB_NAMES, QUEUES, REFRESH_SCHEDULER_ID } from '../lib/jobs.js';
import { organizationsGauge, refreshAge } from '../lib/metrics.js';
import { dependencyReadiness, startHealthServer } from '../lib/health-server.js';
import { organizationHealth } from '../database/repositories/organizations.repository.js';
import { createQueues } from './queues.js';
import { observeQueueDepth } from './queue-depth.js';
import { createRefreshTickProcessor } from './refresh-tick.js';

export interface RunningScheduler {
  metricsPort: number;
  stop(): Promise<void>;
}

export async function startScheduler(
  config: ServiceConfig,
  options: { log?: Logger; now?: Now } = {},
): Promise<RunningScheduler> {
  const log = options.log ?? createLogger({ level: config.LOG_LEVEL, name: 'scheduler' });
  // The ticks fire on REFRESH_CRON in real time; which days they enqueue is this clock's decision.
  const now = options.now ?? clockFromConfig(config);
  const db = createPool({
    connectionString: config.DATABASE_URL,
    max: Math.min(config.DB_POOL_SIZE, 4),
    applicationName: 'costwatch-scheduler',
    log,
  });
  const redis = createRedis(config.REDIS_URL, 'worker', log);
  const queues = createQueues(redis, {
    prefix: config.QUEUE_PREFIX,
    attempts: config.FETCH_ATTEMPTS,
    backoffMs: config.RETRY_BACKOFF_MS,
  });
  try {
    await queues.scheduler.upsertJobScheduler(
      REFRESH_SCHEDULER_ID,
      { pattern: config.REFRESH_CRON, tz: 'UTC' },
      { name: JOB_NAMES.refreshTick, data: {} },
    );
  } catch (error) {
    await queues.close();
    redis.disconnect();
    await db.end();
    throw new Error(
      `REFRESH_CRON: ${JSON.stringify(config.REFRESH_CRON)} was refused by the scheduler: ${error instanceof Error ? error.message : String(error)}`,
      {
        cause: error,
      },
    );
  }
  const settings = {
    RESTATEMENT_DAYS: config.RESTATEMENT_DAYS,
    METRICS_REFRESH_DAYS: config.METRICS_REFRESH_DAYS,
    REFETCH_CURRENT_MONTH: config.REFETCH_CURRENT_MONTH,
    BILL_CLOSE_DAY: config.BILL_CLOSE_DAY,
  };
  const worker = new Worker(
    QUEUES.scheduler,
    createRefreshTickProcessor({ db, queues, log, settings, now }),
    {
      connection: redis,
      prefix: config.QUEUE_PREFIX,
      concurrency: 1,
    },
  );
  worker.on('failed', (job, error) => log.error({ err: error, jobId: job?.id }, 'refresh tick failed'));
  worker.on('error', (error) => log.warn({ err: error }, 'scheduler worker error'));
  observeQueueDepth(queues.all);

  const sampleOrgs = async () => {
    const health = await organizationHealth(db);
    for (const status of ['active', 'disabled', 'access_denied', 'error'])
      organizationsGauge.set({ status }, health.byStatus[status] ?? 0);
    refreshAge.set(health.oldestSuccessAgeSeconds ?? 0);
  };
  const timer = setInterval(
    () => void sampleOrgs().catch((e: unknown) => log.debug({ err: e }, 'org gauge sample failed')),
    15_000,
  );
  timer.unref();
  await sampleOrgs().catch(() => undefined);

  let accepting = true;
  const health = await startHealthServer({
    host: config.HOST,
    port: config.METRICS_PORT,
    readiness: async () =>
      accepting
        ? dependencyReadiness({ postgres: () => db.query('SELECT 1'), redis: () => redis.ping() })
        : 'shutting down',
  });
  log.info({ cron: config.REFRESH_CRON, metricsPort: health.port }, 'scheduler started');
  return {
    metricsPort: health.port,
    async stop() {
      accepting = false;
      clearInterval(timer);
      await worker.close();
      await queues.close();
      await Promise.all([db.end(), health.close()]);
      redis.disconnect();
    },
  };
}
