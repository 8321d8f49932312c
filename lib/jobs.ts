/**
 * Job contracts: every queue name, job name, job-data schema, default option and dedupe id.
 * Producers and workers import from here only; types come from the schemas.
 */
import { z } from 'zod';
import type { DefaultJobOptions } from 'bullmq';

export const QUEUES = {
  fetchCosts: 'fetch-costs',
  fetchMetrics: 'fetch-metrics',
  rollups: 'rollups',
  anomalies: 'anomalies',
  scheduler: 'scheduler',
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
  })
  .refine((d) => d.to > d.from, { message: 'to must be after from', path: ['to'] });
export type RollupJobData = z.infer<typeof rollupJobSchema>;

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

export const JOB_NAMES = {
  fetchCosts: 'fetch-costs',
  fetchMetrics: 'fetch-metrics',
  rollup: 'rollup',
  detectAnomalies: 'detect-anomalies',
  refreshTick: 'refresh-tick',
} as const;

/** The id of the scheduler's Job Scheduler (one, whatever the number of scheduler replicas). */
export const REFRESH_SCHEDULER_ID = 'refresh-all-orgs';

/**
 * Dedupe id of a fetch: one (org, source, window) is never queued twice while one is waiting.
 * BullMQ ids may not contain ':'.
 */
export function fetchDedupeId(source: 'costs' | 'metrics', data: Pick<FetchJobData, 'orgId' | 'from' | 'to'>): string {
  return `${source}_${data.orgId}_${data.from}_${data.to}`;
}

export function rollupDedupeId(data: Pick<RollupJobData, 'orgId' | 'source' | 'from' | 'to'>): string {
  return `rollup_${data.source}_${data.orgId}_${data.from}_${data.to}`;
}

export function detectAnomaliesDedupeId(data: Pick<DetectAnomaliesJobData, 'orgId' | 'from' | 'to'>): string {
  return `anomalies_${data.orgId}_${data.from}_${data.to}`;
}

/** Completed jobs are removed after an hour (or beyond 5,000); failed ones kept a week for inspection. */
const retention = {
  removeOnComplete: { age: 3600, count: 5000 },
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
    rollups: { ...retried, attempts: Math.max(options.attempts, 10) },
    anomalies: { ...retried, attempts: Math.max(options.attempts, 10) },
    scheduler: { attempts: 3, backoff: { type: 'exponential', delay: 5_000 }, ...retention },
  };
}
