/**
 * Forecast fetch: GetCostForecast of the rest of the month, once a day per organization, as its own
 * job. It runs after a refresh's cost load committed and never touches that load: it never calls
 * GetCostAndUsage, and its failures (5xx, throttling beyond the SDK's retries, an answer that does
 * not parse) retry this job alone with backoff, recorded in forecast_refreshes and shown by
 * /ingestion/status. DataUnavailableException (too little history) is "no forecast", not an error.
 */
import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import type { AwsGateway } from '../lib/aws.js';
import { RequestTracker, operationOfError, withRequestTracker } from '../lib/aws.js';
import { accessRemedy, awsErrorCode, classifyAwsError } from '../lib/aws-errors.js';
import { RateLimitWaitError } from '../lib/aws-rate-limit.js';
import type { Pool } from '../lib/db.js';
import type { Logger } from '../lib/logger.js';
import { addMonths, todayUtc, type DateWindow } from '../lib/dates.js';
import { forecastJobSchema, type ForecastJobData } from '../lib/jobs.js';
import {
  finishForecastRun,
  startForecastRun,
  type MonthForecast,
} from '../database/repositories/forecast-refreshes.repository.js';
import { fetchForecast } from './cost-explorer.js';
import { delayWhileDatabaseDown } from './fetch-job.js';

/** A forecast refresh that succeeded: what the budgets' forecasted thresholds are evaluated on. */
export interface ForecastRefreshed {
  orgId: number;
  /** The day the forecast was asked on (its "today"). */
  day: string;
  /** The period forecast: [today, first of next month). */
  period: DateWindow;
  /** AWS's forecast of the period; null when AWS has too little history (status `unavailable`). */
  forecast: MonthForecast | null;
}

export interface FetchForecastDeps {
  db: Pool;
  log: Logger;
  aws: AwsGateway;
  now: () => Date;
  /**
   * Called after every successful forecast refresh of an organization, once its forecast and the
   * month's projection are stored (the place to evaluate budgets). A failure here is logged; it
   * does not retry the forecast.
   */
  onForecastRefreshed?: (event: ForecastRefreshed) => Promise<void>;
}

export type ForecastResult =
  { status: 'succeeded' | 'unavailable'; runId: number; awsRequests: number } | { skipped: string };

function parseForecastJob(job: Job): ForecastJobData {
  const parsed = forecastJobSchema.safeParse(job.data);
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

export function createFetchForecastProcessor(deps: FetchForecastDeps) {
  return async (job: Job, token?: string): Promise<ForecastResult> => {
    try {
      return await runForecastAttempt(deps, job);
    } catch (error) {
      if (error instanceof DelayedError || error instanceof UnrecoverableError) throw error;
      return delayWhileDatabaseDown(job, token, error, deps.log);
    }
  };
}

async function runForecastAttempt(deps: FetchForecastDeps, job: Job): Promise<ForecastResult> {
  const data = parseForecastJob(job);
  // The forecast's dates come from the injected clock at run time: a retry after midnight forecasts
  // the new day's rest of the month.
  const today = todayUtc(deps.now());
  const period = { from: today, to: addMonths(today, 1) };
  const attempt = job.attemptsMade + 1;
  const finalAttempt = attempt >= (job.opts.attempts ?? 1);
  const start = await startForecastRun(deps.db, {
    orgId: data.orgId,
    day: today,
    jobId: job.id ?? null,
    attempt,
  });
  if (!start.org) throw new UnrecoverableError(`organization ${data.orgId} does not exist`);
  if (start.runId === null) {
    const reason = start.done
      ? `the forecast of ${today} is already done`
      : `organization ${start.org.id} is ${start.org.status}`;
    deps.log.debug({ jobId: job.id, orgId: data.orgId }, `forecast skipped: ${reason}`);
    return { skipped: reason };
  }
  const { org, runId } = start;
  const tracker = new RequestTracker();
  let forecast: MonthForecast | null;
  try {
    forecast = await withRequestTracker(tracker, () => fetchForecast(deps.aws.costExplorer(org), period));
  } catch (error) {
    const kind = error instanceof RateLimitWaitError ? 'throttled' : classifyAwsError(error);
    const operation = operationOfError(error) ?? 'GetCostForecast';
    const context = {
      jobId: job.id,
      orgId: org.id,
      day: today,
      attempt,
      code: awsErrorCode(error),
      operation,
    };
    // A permission or request error cannot heal by retrying: the forecast fails for good (the next
    // day's refresh asks again). The org's cost loads are not affected.
    const permanent = kind === 'access_denied' || kind === 'invalid';
    const text =
      kind === 'access_denied'
        ? `AWS denied ${operation}: ${message(error)}. ${accessRemedy(operation, org)}`
        : kind === 'throttled'
          ? `AWS throttled ${operation} beyond its retries: ${message(error)}`
          : message(error);
    await finishForecastRun(deps.db, {
      orgId: org.id,
      runId,
      status: permanent || finalAttempt ? 'failed' : 'retrying',
      awsRequests: tracker.byOperation,
      error: text,
    });
    if (permanent) {
      deps.log.error(context, `forecast failed: ${text}`);
      throw new UnrecoverableError(text);
    }
    if (finalAttempt) deps.log.error({ ...context, err: error }, `forecast failed after ${attempt} attempts`);
    else deps.log.debug({ ...context, err: error }, 'forecast attempt failed; will retry');
    throw error;
  }
  const status = forecast ? 'succeeded' : 'unavailable';
  await finishForecastRun(deps.db, {
    orgId: org.id,
    runId,
    status,
    awsRequests: tracker.byOperation,
    result: { period, forecast },
  });
  if (deps.onForecastRefreshed) {
    await deps
      .onForecastRefreshed({ orgId: org.id, day: today, period, forecast })
      .catch((error: unknown) => deps.log.warn({ orgId: org.id, err: error }, 'after-forecast hook failed'));
  }
  return { status, runId, awsRequests: tracker.total };
}
