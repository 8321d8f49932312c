/**
 * Worker role: `costwatch worker [--queues a,b]`. Builds the pool, Redis connections, AWS gateway
 * and processors, runs one BullMQ Worker per queue, serves /health /ready /metrics on
 * METRICS_PORT, and on SIGTERM stops taking jobs, lets running ones finish within
 * SHUTDOWN_GRACE_SECONDS (or hands them back), closes connections and exits 0.
 */
import { Worker, type Job, type Processor } from 'bullmq';
import type { ServiceConfig } from '../lib/config.js';
import { clockFromConfig, type Now } from '../lib/clock.js';
import { CHECKPOINT_POOL_SIZE } from './page-checkpoints.js';
import { createPool } from '../lib/db.js';
import { createRedis } from '../lib/redis.js';
import { createLogger, type Logger } from '../lib/logger.js';
import { AwsGateway } from '../lib/aws.js';
import { AwsRateLimiter } from '../lib/aws-rate-limit.js';
import { CeRequestCap } from '../lib/ce-request-cap.js';
import { jobDuration, jobsTotal, setOpenAnomaliesSampler } from '../lib/metrics.js';
import { dependencyReadiness, startHealthServer } from '../lib/health-server.js';
import { JOB_NAMES, NOTIFICATION_SWEEP_SCHEDULER_ID, QUEUES } from '../lib/jobs.js';
import { setUndeliveredSampler } from '../lib/metrics.js';
import { undeliveredCount } from '../database/repositories/notifications.repository.js';
import { createQueues } from '../producers/queues.js';
import { observeQueueDepth } from '../producers/queue-depth.js';
import { createFetchCostsProcessor } from './fetch-costs.worker.js';
import { createFetchMetricsProcessor } from './fetch-metrics.worker.js';
import { createFetchForecastProcessor, type ForecastRefreshed } from './fetch-forecast.worker.js';
import { createRollupProcessor } from './rollup.worker.js';
import { createEvaluateBudgetsProcessor } from './evaluate-budgets.worker.js';
import { createNotifyProcessor, notifySettings } from './notify.worker.js';
import { enqueueBudgetEvaluation } from '../producers/notifications.js';
import { createDetectAnomaliesProcessor } from './detect-anomalies.worker.js';
import { countOpenAnomalies } from '../database/repositories/anomalies.repository.js';

/** The queues a worker serves by default (the scheduler queue belongs to `costwatch scheduler`). */
export const WORKER_QUEUES = [
  QUEUES.fetchCosts,
  QUEUES.fetchMetrics,
  QUEUES.fetchForecast,
  QUEUES.rollups,
  QUEUES.anomalies,
  QUEUES.budgets,
  QUEUES.notifications,
] as const;
export type WorkerQueue = (typeof WORKER_QUEUES)[number];

export interface RunningWorkers {
  metricsPort: number;
  /** Stops taking jobs, waits up to the grace period, closes everything. */
  stop(): Promise<void>;
}

export async function startWorkers(
  config: ServiceConfig,
  options: {
    queues?: WorkerQueue[];
    log?: Logger;
    /** The clock of the workers' date decisions (refresh forecasts); tests pin it. */
    now?: Now;
    /** Runs after every successful forecast refresh of an organization (budget evaluation). */
    onForecastRefreshed?: (event: ForecastRefreshed) => Promise<void>;
  } = {},
): Promise<RunningWorkers> {
  const log = options.log ?? createLogger({ level: config.LOG_LEVEL, name: 'worker' });
  const now = options.now ?? clockFromConfig(config);
  const db = createPool({
    connectionString: config.DATABASE_URL,
    max: config.DB_POOL_SIZE,
    applicationName: 'costwatch-worker',
    log,
  });
  // Page checkpoints have their own small pool: a load waits for its checkpoint writes before it
  // commits, so they must never queue behind the loads of the main pool (workers/page-checkpoints.ts).
  const checkpointDb =
    config.CE_PAGE_CHECKPOINT_SECONDS > 0
      ? createPool({
          connectionString: config.DATABASE_URL,
          max: CHECKPOINT_POOL_SIZE,
          applicationName: 'costwatch-worker-checkpoints',
          log,
        })
      : null;
  const redis = createRedis(config.REDIS_URL, 'worker', log);
  const queues = createQueues(redis, {
    prefix: config.QUEUE_PREFIX,
    attempts: config.FETCH_ATTEMPTS,
    backoffMs: config.RETRY_BACKOFF_MS,
  });
  const limiter = new AwsRateLimiter(redis, config.QUEUE_PREFIX, {
    ce: config.CE_RATE_PER_ORG,
    cloudwatch: config.CW_RATE_PER_ORG,
    global: config.AWS_RATE_GLOBAL,
    orgShare: config.AWS_RATE_ORG_SHARE,
  });
  const aws = new AwsGateway({
    ceRequestCap: new CeRequestCap(redis, config.QUEUE_PREFIX, config.CE_DAILY_REQUEST_CAP, now),
    region: config.AWS_REGION,
    endpoint: config.AWS_ENDPOINT_URL,
    limiter,
    maxAttempts: config.AWS_MAX_ATTEMPTS,
    throttleAttempts: config.AWS_THROTTLE_ATTEMPTS,
    maxPages: config.AWS_MAX_PAGES,
    jobDeadlineMs: config.AWS_JOB_DEADLINE_SECONDS * 1000,
  });
  const fetchDeps = {
    db,
    redis,
    log,
    prefix: config.QUEUE_PREFIX,
    throttleBackoffMs: config.THROTTLE_BACKOFF_MS,
    queues,
  };

  // A typed map: a queue without a processor is a compile error.
  const processors: Record<WorkerQueue, Processor> = {
    'fetch-costs': createFetchCostsProcessor({
      ...fetchDeps,
      aws,
      now,
      restatementProbe: config.RESTATEMENT_PROBE,
      billCloseDay: config.BILL_CLOSE_DAY,
      ...(checkpointDb && {
        checkpoints: { db: checkpointDb, maxAgeSeconds: config.CE_PAGE_CHECKPOINT_SECONDS, log },
      }),
    }),
    'fetch-metrics': createFetchMetricsProcessor({
      ...fetchDeps,
      aws,
      periodSeconds: config.METRICS_PERIOD_SECONDS,
      concurrency: config.METRICS_CONCURRENCY,
    }),
    'fetch-forecast': createFetchForecastProcessor({
      db,
      log,
      aws,
      now,
      // Budgets are evaluated after every forecast refresh (and after every cost rollup).
      onForecastRefreshed: async (event) => {
        await enqueueBudgetEvaluation(queues, event.orgId);
        await options.onForecastRefreshed?.(event);
      },
    }),
    rollups: createRollupProcessor({ db, redis, prefix: config.QUEUE_PREFIX, log, queues }),
    anomalies: createDetectAnomaliesProcessor({ db, log, now, queues }),
    budgets: createEvaluateBudgetsProcessor({
      db,
      queues,
      log,
      now,
      deadlineSeconds: config.NOTIFY_DEADLINE_SECONDS,
    }),
    notifications: createNotifyProcessor({
      db,
      queues,
      log,
      settings: notifySettings(config),
    }),
  };

  const served = options.queues ?? [...WORKER_QUEUES];
  let accepting = true;
  const workers = served.map((name) => {
    const worker = new Worker(name, processors[name], {
      connection: redis,
      prefix: config.QUEUE_PREFIX,
      concurrency: config.WORKER_CONCURRENCY,
      lockDuration: config.JOB_LOCK_SECONDS * 1000,
      stalledInterval: Math.max(1000, Math.floor((config.JOB_LOCK_SECONDS * 1000) / 2)),
      // Several kill -9s in a row may stall a job more than once; it must still complete.
      maxStalledCount: 5,
    });
    const observe = (job: Job | undefined) => {
      if (job?.processedOn && job.finishedOn)
        jobDuration.observe({ queue: name }, (job.finishedOn - job.processedOn) / 1000);
    };
    const durationMs = (job: Job | undefined) =>
      job?.processedOn && job.finishedOn ? job.finishedOn - job.processedOn : undefined;
    worker.on('completed', (job) => {
      jobsTotal.inc({ queue: name, outcome: 'completed' });
      observe(job);
      log.debug(
        { queue: name, jobId: job.id, job: job.name, attempt: job.attemptsMade, durationMs: durationMs(job) },
        'job completed',
      );
    });
    worker.on('failed', (job, error) => {
      const final = !job || job.attemptsMade >= (job.opts.attempts ?? 1) || job.finishedOn !== undefined;
      jobsTotal.inc({ queue: name, outcome: final ? 'failed' : 'retried' });
      observe(job);
      log[final ? 'warn' : 'debug'](
        { queue: name, jobId: job?.id, job: job?.name, attempt: job?.attemptsMade, reason: error.message },
        final ? 'job failed' : 'job failed; will retry',
      );
    });
    worker.on('error', (error) => log.warn({ err: error, queue: name }, 'worker error'));
    return worker;
  });
  observeQueueDepth(queues.all);
  setUndeliveredSampler(() => undeliveredCount(db));
  if (served.includes(QUEUES.notifications)) {
    // One Job Scheduler per deployment (upsert is idempotent across replicas).
    await queues.notifications.upsertJobScheduler(
      NOTIFICATION_SWEEP_SCHEDULER_ID,
      { every: config.NOTIFY_SWEEP_SECONDS * 1000 },
      { name: JOB_NAMES.sweepNotifications, data: {} },
    );
  }
  setOpenAnomaliesSampler(() => countOpenAnomalies(db));

  const health = await startHealthServer({
    host: config.HOST,
    port: config.METRICS_PORT,
    readiness: async () =>
      accepting
        ? dependencyReadiness({ postgres: () => db.query('SELECT 1'), redis: () => redis.ping() })
        : 'shutting down',
  });
  log.info(
    { queues: served, concurrency: config.WORKER_CONCURRENCY, metricsPort: health.port },
    'worker started',
  );

  return {
    metricsPort: health.port,
    async stop() {
      accepting = false;
      const graceful = Promise.all(workers.map((w) => w.close()));
      const timedOut = await Promise.race([
        graceful.then(() => false),
        new Promise<boolean>((resolve) =>
          setTimeout(() => resolve(true), config.SHUTDOWN_GRACE_SECONDS * 1000).unref(),
        ),
      ]);
      if (timedOut) {
        // BullMQ's close(true) after close() returns the same pending promise, so it cannot force
        // anything: stop waiting instead. Exiting drops the job's Postgres connection (its transaction
        // rolls back: nothing half-loaded) and its lock expires after JOB_LOCK_SECONDS, when another
        // worker's stalled check takes the job over.
        log.warn(
          { graceSeconds: config.SHUTDOWN_GRACE_SECONDS },
          'jobs still running after the grace period; handing them back',
        );
      }
      await queues.close();
      aws.destroy();
      // The pool's end waits for checked-out clients, which a handed-back job still holds.
      const pools = Promise.all([db.end(), checkpointDb?.end()]);
      const poolEnded = timedOut
        ? Promise.race([pools, new Promise((resolve) => setTimeout(resolve, 1_000).unref())])
        : pools;
      await Promise.all([poolEnded, health.close()]);
      redis.disconnect();
    },
  };
}
