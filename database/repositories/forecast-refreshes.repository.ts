/**
 * The daily forecast of an organization (the fetch-forecast job): its status per organization
 * (forecast_refreshes), its attempts with their AWS requests (forecast_runs), and the month's
 * projection the API serves (cost_forecasts).
 */
import type { Queryable } from '../../lib/db.js';
import { startOfMonth } from '../../lib/dates.js';
import { ORGANIZATION_COLUMNS, type Organization } from './organizations.repository.js';

/** Cost Explorer's forecast of a period (GetCostForecast), amounts as AWS sent them. */
export interface MonthForecast {
  mean: string;
  lower: string | null;
  upper: string | null;
  unit: string;
}

export type ForecastStatus = 'running' | 'succeeded' | 'unavailable' | 'retrying' | 'failed';

export interface ForecastStart {
  org: Organization | null;
  /** The attempt's forecast_runs row; null when nothing is due (org not active, or the day's forecast is done). */
  runId: number | null;
  /** The forecast of this day already succeeded (or AWS said it has too little history). */
  done: boolean;
}

// startForecastRun: reads the organization and, if it is active and its forecast of `day` is not
// done yet, marks the forecast running and records the attempt, in one statement. An earlier attempt
// of the same job still 'running' was cut off (worker killed): it is marked interrupted.
// Params: org, day, job id, attempt number.
export async function startForecastRun(
  db: Queryable,
  run: { orgId: number; day: string; jobId: string | null; attempt: number },
): Promise<ForecastStart> {
  const { rows } = await db.query<Organization & { runId: number | null; done: boolean }>(
    `WITH org AS (SELECT ${ORGANIZATION_COLUMNS} FROM organizations WHERE id = $1),
     done AS (SELECT FROM forecast_refreshes
              WHERE organization_id = $1 AND forecast_day = $2::date AND status IN ('succeeded', 'unavailable')),
     due AS (SELECT id FROM org WHERE status = 'active' AND NOT EXISTS (SELECT FROM done)),
     cut_off AS (
       UPDATE forecast_runs SET status = 'interrupted', finished_at = now(),
         error = 'the worker stopped before this attempt finished'
       WHERE $3::text IS NOT NULL AND job_id = $3 AND organization_id = $1 AND status = 'running'
         AND EXISTS (SELECT FROM due)),
     state AS (
       INSERT INTO forecast_refreshes (organization_id, status, forecast_day, attempts)
       SELECT id, 'running', $2::date, $4::int FROM due
       ON CONFLICT (organization_id) DO UPDATE
         SET status = 'running', forecast_day = EXCLUDED.forecast_day, attempts = EXCLUDED.attempts, updated_at = now()),
     started AS (
       INSERT INTO forecast_runs (organization_id, forecast_day, status, job_id, attempt)
       SELECT id, $2::date, 'running', $3::text, $4::int FROM due RETURNING id)
     SELECT org.*, (SELECT id FROM started) AS "runId", EXISTS (SELECT FROM done) AS done FROM org`,
    [run.orgId, run.day, run.jobId, run.attempt],
  );
  const row = rows[0];
  if (!row) return { org: null, runId: null, done: false };
  const { runId, done, ...org } = row;
  return { org, runId, done };
}

export interface ForecastFinish {
  orgId: number;
  runId: number;
  status: Exclude<ForecastStatus, 'running'>;
  awsRequests: Record<string, number>;
  /** Why the attempt failed (retrying, failed). */
  error?: string | null;
  /** On success: the period asked and AWS's forecast of it (null: unavailable). */
  result?: { period: { from: string; to: string }; forecast: MonthForecast | null };
}

// finishForecastRun: closes the attempt and the org's forecast status; on success stores the
// forecast and the month's projection (cost_forecasts) = month-to-date unblended cost (cost_data,
// the month's days before the period) + the forecast of the rest, in one statement.
// Params: org, run, outcome.
export async function finishForecastRun(db: Queryable, finish: ForecastFinish): Promise<void> {
  const total = Object.values(finish.awsRequests).reduce((a, b) => a + b, 0);
  const succeeded = finish.status === 'succeeded' || finish.status === 'unavailable';
  const period = finish.result?.period ?? null;
  const forecast = finish.result?.forecast ?? null;
  await db.query(
    `WITH run AS (
       UPDATE forecast_runs SET status = $3, error = $4, aws_requests = $5, aws_requests_by_operation = $6::jsonb,
         finished_at = now()
       WHERE id = $2),
     state AS (
       UPDATE forecast_refreshes SET status = $3, updated_at = now(),
         last_error = CASE WHEN $7 THEN NULL ELSE $4 END,
         last_error_at = CASE WHEN $7 THEN NULL ELSE now() END,
         last_success_at = CASE WHEN $7 THEN now() ELSE last_success_at END,
         period_start = CASE WHEN $7 THEN $8::date ELSE period_start END,
         period_end = CASE WHEN $7 THEN $9::date ELSE period_end END,
         mean = CASE WHEN $7 THEN $11::numeric ELSE mean END,
         lower_bound = CASE WHEN $7 THEN $12::numeric ELSE lower_bound END,
         upper_bound = CASE WHEN $7 THEN $13::numeric ELSE upper_bound END,
         unit = CASE WHEN $7 THEN $14 ELSE unit END
       WHERE organization_id = $1),
     mtd AS (
       SELECT coalesce(sum(unblended_cost), 0) AS actual FROM cost_data
       WHERE $11::numeric IS NOT NULL AND organization_id = $1 AND grouping = 'account_service'
         AND cost_date >= $10::date AND cost_date < $8::date)
     INSERT INTO cost_forecasts (organization_id, month, amount, lower_bound, upper_bound, unit, fetched_at)
     SELECT $1, $10::date, actual + $11::numeric, actual + $12::numeric, actual + $13::numeric, $14, now()
     FROM mtd WHERE $7 AND $11::numeric IS NOT NULL
     ON CONFLICT (organization_id, month) DO UPDATE
       SET amount = EXCLUDED.amount, lower_bound = EXCLUDED.lower_bound, upper_bound = EXCLUDED.upper_bound,
           unit = EXCLUDED.unit, fetched_at = now()`,
    [
      finish.orgId,
      finish.runId,
      finish.status,
      finish.error ?? null,
      total,
      JSON.stringify(finish.awsRequests),
      succeeded,
      period?.from ?? null,
      period?.to ?? null,
      period ? startOfMonth(period.from) : null,
      forecast?.mean ?? null,
      forecast?.lower ?? null,
      forecast?.upper ?? null,
      forecast?.unit ?? null,
    ],
  );
}

export interface ForecastRefreshRow {
  status: ForecastStatus;
  forecast_day: string;
  period_start: string | null;
  period_end: string | null;
  mean: string | null;
  lower_bound: string | null;
  upper_bound: string | null;
  unit: string | null;
  attempts: number;
  last_error: string | null;
  last_error_at: Date | null;
  last_success_at: Date | null;
  updated_at: Date;
}

// findForecastRefresh: an organization's forecast status, or null before its first forecast.
// Params: org.
export async function findForecastRefresh(db: Queryable, orgId: number): Promise<ForecastRefreshRow | null> {
  const { rows } = await db.query<ForecastRefreshRow>(
    `SELECT status, forecast_day, period_start, period_end, mean::text, lower_bound::text, upper_bound::text, unit,
            attempts, last_error, last_error_at, last_success_at, updated_at
       FROM forecast_refreshes WHERE organization_id = $1`,
    [orgId],
  );
  return rows[0] ?? null;
}
