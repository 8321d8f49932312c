/**
 * Job contracts: every queue name, job name, job-data schema, default option and dedupe id.
 * Producers and workers import from here only; types come from the schemas.
 */
import { z } from 'zod';
import type { DefaultJobOptions } from 'bullmq';

export const QUEUES = {
  fetchCosts: 'fetch-costs',
  fetchMetrics: 'fetch-metrics',
  fetchForecast: 'fetch-forecast',
  rollups: 'rollups',
  anomalies: 'anomalies',
  scheduler: 'scheduler',
  budgets: 'budgets',
  notifications: 'notifications',
} as const;
export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];
export const ALL_QUEUES: QueueName[] = Object.values(QUEUES);

const isoDate = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be YYYY-MM-DD')
  .refine((s) => !Number.isNaN(Date.parse(`${s}T00:00:00Z`)) && new Date(`${s}T00:00:00Z`).toISOString().startsWith(s), 'must be a real date');

export const triggerSchema = z.enum(['scheduled', 'backfill', 'manual']);
export type Trigger = z.infer<typeof triggerSchema>;

/** A fetch of one organization's data for [from, to) (to exclusive, as AWS's TimePeriod.End). */
export const fetchJobSchema = z
  .object({
    orgId: z.number().int().positive(),
    from: isoDate,
    to: isoDate,
    trigger: triggerSchema,
    backfillId: z.string().max(64).optional(),
  })
  .refine((d) => d.to > d.from, { message: 'to must be after from', path: ['to'] });
export type FetchJobData = z.infer<typeof fetchJobSchema>;

/** Recompute the rollups of one organization for the days [from, to) a load touched. */
export const rollupJobSchema = z
  .object({
    orgId: z.number().int().positive(),
    source: z.enum(['costs', 'metrics']),
    from: isoDate,
    to: isoDate,
    /**
     * The fetch run this rollup publishes when its days are fewer than the run's window (a probed
     * refresh rebuilds only the days it changed; its other days' rollups are already current).
     */
    runId: z.number().int().positive().optional(),
  })
  .refine((d) => d.to > d.from, { message: 'to must be after from', path: ['to'] });
export type RollupJobData = z.infer<typeof rollupJobSchema>;

/**
 * The daily GetCostForecast of one organization, enqueued by a refresh after its cost load
 * committed. `day` is the refresh's today: at most one forecast job per org and day is queued.
 */
export const forecastJobSchema = z.object({
  orgId: z.number().int().positive(),
  day: isoDate,
  trigger: triggerSchema,
});
export type ForecastJobData = z.infer<typeof forecastJobSchema>;
/** Detect anomalies of one organization on the cost rollups of the days [from, to) a rollup rebuilt. */
export const detectAnomaliesJobSchema = z
  .object({
    orgId: z.number().int().positive(),
    from: isoDate,
    to: isoDate,
  })
  .refine((d) => d.to > d.from, { message: 'to must be after from', path: ['to'] });
export type DetectAnomaliesJobData = z.infer<typeof detectAnomaliesJobSchema>;

/** The scheduler's cron tick: enqueue due fetches for every active organization. */
export const refreshTickSchema = z.object({}).passthrough();

/** Evaluate one organization's budgets (after its rollups and forecast refreshes, or a budget change). */
export const evaluateBudgetsJobSchema = z.object({ orgId: z.number().int().positive() });
export type EvaluateBudgetsJobData = z.infer<typeof evaluateBudgetsJobSchema>;

/** Send one outbox row (the delivery id is its idempotency key). */
export const deliverNotificationJobSchema = z.object({ deliveryId: z.uuid() });
export type DeliverNotificationJobData = z.infer<typeof deliverNotificationJobSchema>;

export const JOB_NAMES = {
  fetchCosts: 'fetch-costs',
  fetchMetrics: 'fetch-metrics',
  fetchForecast: 'fetch-forecast',
  rollup: 'rollup',
  detectAnomalies: 'detect-anomalies',
  refreshTick: 'refresh-tick',
  evaluateBudgets: 'evaluate-budgets',
  deliverNotification: 'deliver-notification',
  sweepNotifications: 'sweep-notifications',
} as const;

/** The Job Scheduler that re-dispatches outbox rows left without a job (one per deployment). */
export const NOTIFICATION_SWEEP_SCHEDULER_ID = 'sweep-notification-outbox';

/** One evaluation of an org waiting at a time; one asked while one runs runs once after it. */
export function evaluateBudgetsDedupeId(data: EvaluateBudgetsJobData): string {
  return `budgets_${data.orgId}`;
}

/** One job per delivery while it is in flight (the sweep re-adds only rows whose job is gone). */
export function deliveryDedupeId(data: DeliverNotificationJobData): string {
  return `deliver_${data.deliveryId}`;
}

/** The id of the scheduler's Job Scheduler (one, whatever the number of scheduler replicas). */
export const REFRESH_SCHEDULER_ID = 'refresh-all-orgs';

/**
 * Dedupe id of a fetch: one (org, source, window) is never queued twice while one is waiting.
 * BullMQ ids may not contain ':'.
 */
export function fetchDedupeId(source: 'costs' | 'metrics', data: Pick<FetchJobData, 'orgId' | 'from' | 'to'>): string {
  return `${source}_${data.orgId}_${data.from}_${data.to}`;
}

export function rollupDedupeId(data: Pick<RollupJobData, 'orgId' | 'source' | 'from' | 'to' | 'runId'>): string {
  // A rollup that publishes a run by id is never merged with another run's.
  return `rollup_${data.source}_${data.orgId}_${data.from}_${data.to}${data.runId ? `_r${data.runId}` : ''}`;
}

export function forecastDedupeId(data: Pick<ForecastJobData, 'orgId' | 'day'>): string {
  return `forecast_${data.orgId}_${data.day}`;
}

export function detectAnomaliesDedupeId(data: Pick<DetectAnomaliesJobData, 'orgId' | 'from' | 'to'>): string {
  return `anomalies_${data.orgId}_${data.from}_${data.to}`;
}

/** Completed jobs kept per queue (the newest; older ones and those past an hour are removed). */
export const COMPLETED_JOBS_KEPT = 5000;

/** Completed jobs are removed after an hour (or beyond 5,000); failed ones kept a week for inspection. */
const retention = {
  removeOnComplete: { age: 3600, count: COMPLETED_JOBS_KEPT },
  removeOnFail: { age: 7 * 24 * 3600, count: 50_000 },
} satisfies Partial<DefaultJobOptions>;

export function defaultJobOptions(options: { attempts: number; backoffMs: number }): Record<QueueName, DefaultJobOptions> {
  const retried: DefaultJobOptions = {
    attempts: options.attempts,
    // Exponential with jitter, so retries of many orgs after an outage do not arrive together.
    backoff: { type: 'exponential', delay: options.backoffMs, jitter: 0.5 },
    ...retention,
  };
  return {
    'fetch-costs': retried,
    'fetch-metrics': retried,
    // The forecast retries on its own, longer than a fetch (a failure never touches the committed load):
    // 10 attempts from RETRY_BACKOFF_MS, about 34 minutes in all with the default 2 s.
    'fetch-forecast': { ...retried, attempts: Math.max(options.attempts, 10) },
    rollups: { ...retried, attempts: Math.max(options.attempts, 10) },
    anomalies: { ...retried, attempts: Math.max(options.attempts, 10) },
    scheduler: { attempts: 3, backoff: { type: 'exponential', delay: 5_000 }, ...retention },
    budgets: { ...retried, attempts: Math.max(options.attempts, 10) },
    // Delivery retries follow the outbox row's own backoff and deadline (the job is delayed, not
    // failed); these attempts only cover unexpected errors, and the sweep re-adds after them.
    notifications: { ...retried, attempts: 5 },
  };
}
