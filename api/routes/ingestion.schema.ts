/** Request and response schemas of /ingestion. */
import { z } from 'zod';
import { limitParam, money, orgIdParam } from './common.schema.js';

const RUN_STATUSES = [
  'running',
  'succeeded',
  'failed',
  'retrying',
  'throttled',
  'interrupted',
  'capped',
] as const;

export interface RunCursor {
  startedAt: string;
  id: number;
}

/** Opaque page cursor: base64url of [started_at to the microsecond, id] of the last run of the page. */
export function encodeRunCursor(cursor: RunCursor): string {
  return Buffer.from(JSON.stringify([cursor.startedAt, cursor.id])).toString('base64url');
}

const cursorParam = z
  .string()
  .max(200, 'is not a cursor from this API')
  .regex(/^[A-Za-z0-9_-]+$/, 'is not a cursor from this API')
  .transform((value, ctx): RunCursor => {
    try {
      const decoded: unknown = JSON.parse(Buffer.from(value, 'base64url').toString('utf8'));
      if (
        Array.isArray(decoded) &&
        decoded.length === 2 &&
        typeof decoded[0] === 'string' &&
        /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/.test(decoded[0]) &&
        !Number.isNaN(Date.parse(decoded[0])) &&
        typeof decoded[1] === 'number' &&
        Number.isSafeInteger(decoded[1]) &&
        decoded[1] > 0
      ) {
        return { startedAt: decoded[0], id: decoded[1] };
      }
    } catch {
      // fall through
    }
    ctx.addIssue({ code: 'custom', message: 'is not a cursor from this API' });
    return z.NEVER;
  })
  .optional()
  .describe('next_cursor of the previous page');

export const statusQuery = z.strictObject({ org_id: orgIdParam });

const usage = z.object({
  since: z.string().describe('start of the period (ISO 8601)'),
  runs: z.number().int(),
  failed_runs: z.number().int(),
  rows_loaded: z.number().int(),
  aws_requests: z.number().int(),
  aws_requests_by_operation: z.record(z.string(), z.number()),
  estimated_aws_cost: money.describe('Cost Explorer requests at $0.01 each'),
});

export const statusResponse = z.object({
  organization: z.object({
    id: z.number().int(),
    name: z.string(),
    status: z.string().describe('active, disabled, access_denied or error'),
    last_success_at: z.string().nullable(),
    estimated_from: z
      .string()
      .nullable()
      .describe('earliest day AWS still flags Estimated (re-fetched by the next refresh)'),
    last_error: z
      .object({
        code: z.string().describe('stable error code (docs/API.md)'),
        message: z.string(),
        remedy: z.string().nullable(),
        at: z.string().nullable(),
      })
      .nullable()
      .describe(
        'the last pipeline error and what to do about it: the full text for operators, a sanitised message for the organization',
      ),
  }),
  forecast: z
    .object({
      status: z
        .enum(['running', 'succeeded', 'unavailable', 'retrying', 'failed'])
        .describe(
          'the latest forecast attempt: unavailable = AWS has too little history to forecast (not an error); ' +
            'retrying = it failed and retries on its own with backoff; failed = it gave up (the next refresh asks again)',
        ),
      day: z.string().describe('the day of the latest attempt (the forecast is refreshed once a day)'),
      attempts: z.number().int().describe("attempts of that day's forecast job"),
      updated_at: z.string(),
      last_success_at: z.string().nullable(),
      last_error: z
        .object({ message: z.string(), at: z.string().nullable() })
        .nullable()
        .describe('why the latest attempt failed (null once it succeeds)'),
      period: z
        .object({ from: z.string(), to: z.string().describe('exclusive') })
        .nullable()
        .describe('the period of the last successful forecast: its day to the end of the month'),
      mean: money.nullable().describe("Cost Explorer's forecast of the period (null: unavailable)"),
      lower_bound: money.nullable().describe('80% prediction interval'),
      upper_bound: money.nullable(),
    })
    .nullable()
    .describe(
      'the daily GetCostForecast, separate from the cost data status: its failure never holds back the cost data; null before the first forecast',
    ),
  usage: z.object({ last_24h: usage, last_30d: usage }),
  ce_budget: z
    .object({
      daily_request_cap: z.number().int().describe('CE_DAILY_REQUEST_CAP (0: no cap)'),
      capped: z
        .boolean()
        .describe("today's Cost Explorer requests reached the cap: the rest of the work runs tomorrow"),
      today: z.object({ since: z.string(), ce_requests: z.number().int(), estimated_aws_cost: money }),
      this_month: z.object({ since: z.string(), ce_requests: z.number().int(), estimated_aws_cost: money }),
    })
    .describe(
      'Cost Explorer requests and their dollars of today and this month (UTC), against the daily cap',
    ),
});

export const runsQuery = z.strictObject({
  org_id: orgIdParam,
  source: z.enum(['costs', 'metrics']).optional().describe('only runs of this source'),
  status: z.enum(RUN_STATUSES).optional().describe('only runs in this status'),
  limit: limitParam,
  cursor: cursorParam,
});

export const runsResponse = z.object({
  organization_id: z.number().int(),
  items: z.array(
    z.object({
      id: z.number().int(),
      source: z.string(),
      window_start: z.string(),
      window_end: z.string().describe('exclusive'),
      status: z.string(),
      trigger: z.string(),
      job_id: z.string().nullable(),
      attempt: z.number().int(),
      backfill_id: z.string().nullable(),
      rows_loaded: z.number().int(),
      aws_requests: z.number().int(),
      aws_requests_by_operation: z.record(z.string(), z.number()),
      started_at: z.string(),
      finished_at: z.string().nullable(),
      duration_ms: z.number().int().nullable(),
      error: z
        .string()
        .nullable()
        .describe("the full error for operators; the organization's users get a sanitised message"),
      error_code: z.string().nullable().describe('stable error code (docs/API.md)'),
    }),
  ),
  limit: z.number().int(),
  next_cursor: z.string().nullable().describe('pass as `cursor` for the next page; null on the last page'),
});

export const refreshQuery = z.strictObject({ org_id: orgIdParam });
export const refreshBody = z.strictObject({}).optional().describe('empty (or no body)');

const window = z.object({ from: z.string(), to: z.string().describe('exclusive') });
export const refreshResponse = z.object({
  organization_id: z.number().int(),
  trigger: z.literal('manual'),
  enqueued: z.object({ costs: window, metrics: window }),
});
