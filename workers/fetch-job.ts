/**
 * What every fetch job shares: the organization check, the fetch_runs ledger row, AWS request
 * counting, and error steering — throttling delays this organization's job with backoff,
 * permission errors stop the organization with a remedy (UnrecoverableError), invalid requests
 * fail the job for good, anything else is retried by BullMQ with exponential backoff and jitter.
 */
import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { isConnectionError, type Pool } from '../lib/db.js';
import type { Logger } from '../lib/logger.js';
import { fetchJobSchema, type FetchJobData } from '../lib/jobs.js';
import { RequestTracker, operationOfError, withRequestTracker } from '../lib/aws.js';
import { accessRemedy, classifyAwsError, awsErrorCode } from '../lib/aws-errors.js';
import { publicErrorOf } from '../lib/tenant-errors.js';
import { RateLimitWaitError } from '../lib/aws-rate-limit.js';
import { CeRequestCapError } from '../lib/ce-request-cap.js';
import { jobsTotal, rowsLoaded } from '../lib/metrics.js';
import {
  recordOrganizationFailure,
  type Organization,
} from '../database/repositories/organizations.repository.js';
import { finishFetchRun, startFetchRun } from '../database/repositories/fetch-runs.repository.js';
import { enqueueRollup } from '../producers/enqueue.js';
import type { Queues } from '../producers/queues.js';

export interface FetchJobDeps {
  db: Pool;
  redis: Redis;
  log: Logger;
  /** Redis key prefix (QUEUE_PREFIX) for the per-organization throttle backoff. */
  prefix: string;
  throttleBackoffMs: number;
  queues: Queues;
}

export interface FetchOutcome {
  rows: number;
  /** Days whose data changed, for the rollup. */
  window: { from: string; to: string };
  /** The load closed its run as succeeded inside its own transaction (nothing left to record). */
  recorded?: boolean;
}

/** The attempt's run, for a load that records its success inside its own transaction. */
export interface FetchRunContext {
  runId: number;
  /** The BullMQ job id: the same on every attempt of the job, whichever worker runs it. */
  jobId: string | null;
  /** An earlier attempt of this job started (it failed, stalled after a kill, or was delayed). */
  retry: boolean;
  /** AWS requests of this attempt so far, per operation. */
  awsRequests(): Record<string, number>;
}

export type FetchResult = (FetchOutcome & { runId: number; awsRequests: number }) | { skipped: string };

/** Parses job data; malformed data can never succeed, so it fails the job without retries. */
export function parseFetchJob(job: Job): FetchJobData {
  const parsed = fetchJobSchema.safeParse(job.data);
  if (!parsed.success) {
    throw new UnrecoverableError(
      `invalid ${job.name} job data: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  }
  return parsed.data;
}

function message(error: unknown): string {
  return error instanceof Error
    ? `${error.name === 'Error' ? '' : `${error.name}: `}${error.message}`
    : String(error);
}

function throttleKey(deps: FetchJobDeps, orgId: number): string {
  return `${deps.prefix}:throttle:${orgId}`;
}

async function throttleDelayMs(deps: FetchJobDeps, orgId: number): Promise<number> {
  const key = throttleKey(deps, orgId);
  const strikes = await deps.redis.incr(key);
  await deps.redis.expire(key, 900);
  // Concurrent jobs of one org each add a strike, so the exponent is capped: at most 32x the base.
  const base = Math.min(deps.throttleBackoffMs * 2 ** Math.min(strikes - 1, 5), 600_000);
  return Math.round(base * (0.75 + Math.random() * 0.5));
}

/**
 * Postgres unreachable (restarting, failing over): the job cannot load or even record its run, and
 * retrying on the usual backoff would spend every attempt within seconds and fail it for good with
 * its run left 'running' (a backfill waiting on it would never finish). Instead the job is delayed
 * without spending an attempt, for as long as the outage lasts; `error` otherwise is rethrown.
 */
export async function delayWhileDatabaseDown(
  job: Job,
  token: string | undefined,
  error: unknown,
  log: Logger,
): Promise<never> {
  if (!token || !isConnectionError(error)) throw error;
  const delay = Math.round(1_000 + Math.random() * 1_000);
  log.warn(
    { jobId: job.id, queue: job.queueName, delayMs: delay, err: error },
    'Postgres unreachable; job delayed without spending an attempt',
  );
  await job.moveToDelayed(Date.now() + delay, token);
  throw new DelayedError();
}

/**
 * What a fetch processor passes: the job, its lock token, the dependencies, the source, the load,
 * and what follows a committed load once its rollup is queued (e.g. the cost refresh's forecast).
 */
type FetchJobArgs = [
  job: Job,
  token: string | undefined,
  deps: FetchJobDeps,
  source: 'costs' | 'metrics',
  work: (org: Organization, data: FetchJobData, run: FetchRunContext) => Promise<FetchOutcome>,
  afterCommit?: (org: Organization, data: FetchJobData) => Promise<void>,
];

/**
 * Runs one fetch job: `work` loads the data (inside a request tracker) and returns rows and the
 * touched window; this records the run, queues the rollup right after the load committed, steers
 * errors, and returns the result. Once a load committed, nothing that follows can make the job
 * fetch it again: `afterCommit` failures are logged, and a retry of a job whose load committed
 * (its rollup could not be queued) only queues the rollup.
 */
export async function runFetchJob(...args: FetchJobArgs): Promise<FetchResult> {
  const [job, token, deps] = args;
  try {
    return await runFetchAttempt(...args);
  } catch (error) {
    if (error instanceof DelayedError || error instanceof UnrecoverableError) throw error;
    return delayWhileDatabaseDown(job, token, error, deps.log);
  }
}

/** What follows a committed load: its failure is logged, never undoes nor repeats the load. */
async function followUp(
  deps: FetchJobDeps,
  org: Organization,
  data: FetchJobData,
  afterCommit: FetchJobArgs[5],
): Promise<void> {
  if (!afterCommit) return;
  try {
    await afterCommit(org, data);
  } catch (error) {
    deps.log.warn(
      { orgId: org.id, from: data.from, to: data.to, err: error },
      'step after a committed load failed',
    );
  }
}

async function runFetchAttempt(
  ...[job, token, deps, source, work, afterCommit]: FetchJobArgs
): Promise<FetchResult> {
  const data = parseFetchJob(job);
  const attempt = job.attemptsMade + 1;
  const finalAttempt = attempt >= (job.opts.attempts ?? 1);
  const { org, runId, throttledLately, committedRun } = await startFetchRun(deps.db, {
    orgId: data.orgId,
    source,
    from: data.from,
    to: data.to,
    trigger: data.trigger,
    jobId: job.id ?? null,
    attempt,
    backfillId: data.backfillId ?? null,
  });
  if (!org) throw new UnrecoverableError(`organization ${data.orgId} does not exist`);
  if (committedRun !== null) {
    // An earlier attempt of this job committed its load (and its run) but stopped before queueing
    // the rollup: finish that, without asking AWS again.
    const window = { from: data.from, to: data.to };
    await enqueueRollup(deps.queues, { orgId: org.id, source, ...window });
    await followUp(deps, org, data, afterCommit);
    return { rows: committedRun.rows, window, runId: committedRun.id, awsRequests: 0 };
  }
  if (runId === null) {
    deps.log.debug(
      { jobId: job.id, orgId: org.id, source, status: org.status },
      'organization not active; fetch skipped',
    );
    return {
      skipped:
        org.kind === 'platform'
          ? `organization ${org.id} is the platform organization (no AWS account)`
          : `organization ${org.id} is ${org.status}`,
    };
  }
  const tracker = new RequestTracker();
  let committed = false;
  try {
    const outcome = await withRequestTracker(tracker, () =>
      work(org, data, {
        runId,
        jobId: job.id ?? null,
        retry: job.attemptsMade > 0 || job.attemptsStarted > 1,
        awsRequests: () => ({ ...tracker.byOperation }),
      }),
    );
    committed = outcome.recorded === true;
    if (!committed)
      await finishFetchRun(deps.db, runId, {
        status: 'succeeded',
        rows: outcome.rows,
        awsRequests: tracker.byOperation,
      });
    committed = true;
    rowsLoaded.inc({ source }, outcome.rows);
    // Right after the commit (and the run's success, so the rollup can mark it published), before
    // anything that can fail: a committed load is always rolled up.
    const narrower = outcome.window.from > data.from || outcome.window.to < data.to;
    await enqueueRollup(deps.queues, {
      orgId: org.id,
      source,
      ...outcome.window,
      ...(narrower ? { runId } : {}),
    });
    await followUp(deps, org, data, afterCommit);
    // Success ends the org's throttle backoff; an org that was not throttled lately has no strikes
    // to clear, which spares the usual job a Redis command.
    if (throttledLately) await deps.redis.del(throttleKey(deps, org.id)).catch(() => undefined);
    return { rows: outcome.rows, window: outcome.window, runId, awsRequests: tracker.total };
  } catch (error) {
    if (committed) {
      // The load and its run are committed; only the rollup could not be queued (Redis). The retry
      // finds the committed run and queues the rollup without fetching again.
      deps.log.warn(
        { jobId: job.id, orgId: org.id, source, err: error },
        'load committed; queueing its rollup failed, will retry',
      );
      throw error;
    }
    if (error instanceof CeRequestCapError && token) {
      // The org spent its Cost Explorer requests of today: the rest of its work runs on its next day.
      // A little jitter (at most a minute) so capped jobs of many orgs do not all start at midnight.
      const delay = error.resumesInMs + Math.round(Math.random() * Math.min(60_000, error.resumesInMs / 20));
      await finishFetchRun(deps.db, runId, {
        status: 'capped',
        rows: 0,
        awsRequests: tracker.byOperation,
        error: error.message,
      });
      deps.log.warn({ jobId: job.id, orgId: org.id, source, delayMs: delay }, error.message);
      await job.moveToDelayed(Date.now() + delay, token);
      jobsTotal.inc({ queue: job.queueName, outcome: 'delayed' });
      throw new DelayedError();
    }
    const kind = error instanceof RateLimitWaitError ? 'throttled' : classifyAwsError(error);
    const operation = operationOfError(error) ?? 'unknown';
    // Tenants see this instead of the full text (AWS's message names CostWatch's principal).
    const shown = publicErrorOf({ kind, error, operation, org, window: data, retried: !finalAttempt });
    const logContext = {
      jobId: job.id,
      orgId: org.id,
      source,
      from: data.from,
      to: data.to,
      attempt,
      code: awsErrorCode(error),
      operation,
    };
    if (kind === 'throttled' && token) {
      const delay = await throttleDelayMs(deps, org.id);
      await finishFetchRun(deps.db, runId, {
        status: 'throttled',
        rows: 0,
        awsRequests: tracker.byOperation,
        error: `${message(error)}; retrying in ${delay} ms`,
        shown,
      });
      deps.log.info({ ...logContext, delayMs: delay }, 'AWS throttled this organization; job delayed');
      await job.moveToDelayed(Date.now() + delay, token);
      jobsTotal.inc({ queue: job.queueName, outcome: 'delayed' });
      throw new DelayedError();
    }
    if (kind === 'access_denied') {
      const remedy = accessRemedy(operation, org, error);
      const text = `AWS denied ${operation} for organization ${org.id}: ${message(error)}`;
      await recordOrganizationFailure(deps.db, org.id, 'access_denied', text, remedy, shown);
      await finishFetchRun(deps.db, runId, {
        status: 'failed',
        rows: 0,
        awsRequests: tracker.byOperation,
        error: `${text}. ${remedy}`,
        shown: {
          code: shown.code,
          message: shown.remedy ? `${shown.message}: ${shown.remedy}` : shown.message,
        },
      });
      deps.log.error({ ...logContext, remedy }, text);
      throw new UnrecoverableError(`${text}. ${remedy}`);
    }
    if (kind === 'invalid' || kind === 'limit') {
      const text =
        kind === 'limit'
          ? `${source} fetch of ${data.from}..${data.to} stopped: ${message(error)}`
          : `AWS rejected ${operation} for ${data.from}..${data.to}: ${message(error)}`;
      await finishFetchRun(deps.db, runId, {
        status: 'failed',
        rows: 0,
        awsRequests: tracker.byOperation,
        error: text,
        shown,
      });
      deps.log.error(logContext, text);
      throw new UnrecoverableError(text);
    }
    await finishFetchRun(deps.db, runId, {
      status: finalAttempt ? 'failed' : 'retrying',
      rows: 0,
      awsRequests: tracker.byOperation,
      error: message(error),
      shown,
    }).catch((e: unknown) => deps.log.warn({ err: e, runId }, 'could not record the failed run'));
    if (finalAttempt)
      deps.log.error({ ...logContext, err: error }, `${source} fetch failed after ${attempt} attempts`);
    else deps.log.debug({ ...logContext, err: error }, `${source} fetch attempt failed; will retry`);
    throw error;
  }
}
