/**
 * Enqueue functions: what gets fetched, for which window, under which dedupe id. Used by the
 * scheduler tick, `costwatch backfill`, the API's refresh action and the fetch workers (rollups).
 */
import type { JobsOptions } from 'bullmq';
import {
  fetchDedupeId,
  fetchJobSchema,
  forecastDedupeId,
  forecastJobSchema,
  JOB_NAMES,
  rollupDedupeId,
  rollupJobSchema,
  type FetchJobData,
  type ForecastJobData,
  type RollupJobData,
  type Trigger,
} from '../lib/jobs.js';
import {
  addDays,
  addMonths,
  startOfMonth,
  splitWindows,
  type DateWindow,
  type IsoDate,
} from '../lib/dates.js';
import type { Queues } from './queues.js';

export type FetchSource = 'costs' | 'metrics';

export interface RefreshSettings {
  RESTATEMENT_DAYS: number;
  METRICS_REFRESH_DAYS: number;
  REFETCH_CURRENT_MONTH: boolean;
  BILL_CLOSE_DAY: number;
}

/**
 * The cost window that can still change on `today`: the restatement days, the earliest day AWS
 * still flagged Estimated, the current month (when configured), and the previous month until its
 * bill closes. Everything before is final and never fetched again. End is exclusive (tomorrow).
 */
export function costRefreshWindow(
  today: IsoDate,
  settings: RefreshSettings,
  estimatedFrom?: IsoDate | null,
): DateWindow {
  const candidates = [addDays(today, -settings.RESTATEMENT_DAYS)];
  if (settings.REFETCH_CURRENT_MONTH) candidates.push(startOfMonth(today));
  if (Number(today.slice(8, 10)) <= settings.BILL_CLOSE_DAY) candidates.push(addMonths(today, -1));
  // An Estimated day older than a year is AWS data we can no longer refresh; ignore it.
  if (estimatedFrom && estimatedFrom >= addDays(today, -365)) candidates.push(estimatedFrom);
  const from = candidates.reduce((a, b) => (a < b ? a : b));
  return { from, to: addDays(today, 1) };
}

/**
 * The metrics window a refresh re-reads: today and METRICS_REFRESH_DAYS before it. CloudWatch
 * datapoints arrive within minutes (at most a few hours) and are never restated, unlike Cost
 * Explorer's Estimated days, so re-reading the cost restatement window would fetch final data again.
 */
export function metricsRefreshWindow(
  today: IsoDate,
  settings: Pick<RefreshSettings, 'METRICS_REFRESH_DAYS'>,
): DateWindow {
  return { from: addDays(today, -settings.METRICS_REFRESH_DAYS), to: addDays(today, 1) };
}

function fetchJob(
  source: FetchSource,
  data: FetchJobData,
): { name: string; data: FetchJobData; opts: JobsOptions } {
  const parsed = fetchJobSchema.parse(data);
  return {
    name: source === 'costs' ? JOB_NAMES.fetchCosts : JOB_NAMES.fetchMetrics,
    data: parsed,
    // While one is waiting, the same window is not queued again; if one is running, the newest
    // request runs once after it, so a refresh asked mid-fetch is never lost.
    opts: { deduplication: { id: fetchDedupeId(source, parsed), keepLastIfActive: true } },
  };
}

/** Enqueues fetches (deduplicated) and returns how many were handed to BullMQ. */
export async function enqueueFetches(
  queues: Queues,
  source: FetchSource,
  jobs: FetchJobData[],
): Promise<number> {
  const queue = source === 'costs' ? queues.fetchCosts : queues.fetchMetrics;
  for (let i = 0; i < jobs.length; i += 1000) {
    await queue.addBulk(jobs.slice(i, i + 1000).map((job) => fetchJob(source, job)));
  }
  return jobs.length;
}

/** Enqueues a cost and a metrics fetch of one organization's refresh windows. */
export async function enqueueOrgRefresh(
  queues: Queues,
  org: { id: number; estimatedFrom?: IsoDate | null },
  today: IsoDate,
  settings: RefreshSettings,
  trigger: Trigger,
): Promise<{ costs: DateWindow; metrics: DateWindow }> {
  const costs = costRefreshWindow(today, settings, org.estimatedFrom);
  const metrics = metricsRefreshWindow(today, settings);
  await enqueueFetches(queues, 'costs', [{ orgId: org.id, ...costs, trigger }]);
  await enqueueFetches(queues, 'metrics', [{ orgId: org.id, ...metrics, trigger }]);
  return { costs, metrics };
}

/** Splits a backfill range (to exclusive) into per-org windows and enqueues both sources; returns the windows per source. */
export async function enqueueBackfill(
  queues: Queues,
  orgIds: number[],
  range: DateWindow,
  windowDays: number,
  backfillId: string,
): Promise<{ windows: number }> {
  const windows = splitWindows(range.from, range.to, windowDays);
  // Window-major: each org's rate limit is its own, so interleaving orgs keeps every worker slot
  // busy instead of filling them with one org's windows that all wait on that org's limit.
  const jobs = windows.flatMap((w) =>
    orgIds.map((orgId) => ({ orgId, ...w, trigger: 'backfill' as const, backfillId })),
  );
  await enqueueFetches(queues, 'costs', jobs);
  await enqueueFetches(queues, 'metrics', jobs);
  return { windows: jobs.length };
}

/** Enqueues the rollup of the days a load touched (deduplicated per org and range). */
export async function enqueueRollup(queues: Queues, data: RollupJobData): Promise<void> {
  const parsed = rollupJobSchema.parse(data);
  await queues.rollups.add(JOB_NAMES.rollup, parsed, {
    deduplication: { id: rollupDedupeId(parsed), keepLastIfActive: true },
  });
}

/**
 * Enqueues an organization's forecast of `day` (deduplicated per org and day while one is queued,
 * delayed or retrying). Called by the cost fetch once a refresh's load has committed.
 */
export async function enqueueForecast(queues: Queues, data: ForecastJobData): Promise<void> {
  const parsed = forecastJobSchema.parse(data);
  await queues.fetchForecast.add(JOB_NAMES.fetchForecast, parsed, {
    deduplication: { id: forecastDedupeId(parsed) },
  });
}
