/** fetch_runs: one row per fetch job attempt — the ingestion ledger the API and backfill read. */
import type { Queryable } from '../../lib/db.js';
import { ORGANIZATION_COLUMNS, type Organization } from './organizations.repository.js';

export type RunStatus =
  'running' | 'succeeded' | 'failed' | 'retrying' | 'throttled' | 'interrupted' | 'capped';

export interface RunStart {
  orgId: number;
  source: 'costs' | 'metrics';
  from: string;
  to: string;
  trigger: 'scheduled' | 'backfill' | 'manual';
  jobId: string | null;
  attempt: number;
  backfillId: string | null;
}

/** The organization of a fetch (null: it does not exist) and its run (null: the org is not active, nothing recorded). */
export interface StartedRun {
  org: Organization | null;
  runId: number | null;
  /**
   * A run of the org was throttled in the last hour. Every throttle strike (a Redis key that
   * expires 15 minutes after the last one) goes with a throttled run, so when this is false the
   * org has no strikes to clear.
   */
  throttledLately: boolean;
  /**
   * An earlier attempt of this same job committed its load (its run succeeded): the retry must not
   * fetch again, only finish what follows the commit. No run is recorded for this attempt then.
   */
  committedRun: { id: number; rows: number } | null;
}

// startFetchRun: reads the organization and, only if it is an active customer organization (the
// platform organization has no AWS account), records the fetch attempt as
// running, in one statement (one round trip per job). An earlier attempt of the same job still
// 'running' was cut off (worker killed, or handed back on SIGTERM): it is marked interrupted.
// Also says whether the org had a throttled run lately (its started_at index bounds the look), and
// whether an earlier attempt of this job (same job id, org, source and window, within a day: BullMQ
// ids restart only if Redis loses its data) already committed its load.
// Params: org, source, window, trigger, job id, attempt number, backfill id.
export async function startFetchRun(db: Queryable, run: RunStart): Promise<StartedRun> {
  const { rows } = await db.query<
    Organization & {
      runId: number | null;
      throttledLately: boolean;
      committedId: number | null;
      committedRows: number | null;
    }
  >(
    `WITH org AS (SELECT ${ORGANIZATION_COLUMNS} FROM organizations WHERE id = $1),
     committed AS (
       SELECT id, rows_loaded FROM fetch_runs
       WHERE $6::text IS NOT NULL AND job_id = $6 AND organization_id = $1 AND source = $2 AND status = 'succeeded'
         AND window_start = $3::date AND window_end = $4::date AND started_at > now() - interval '1 day'
       ORDER BY id DESC LIMIT 1),
     active AS (SELECT id FROM org WHERE status = 'active' AND kind = 'customer' AND NOT EXISTS (SELECT FROM committed)),
     cut_off AS (
       UPDATE fetch_runs SET status = 'interrupted', finished_at = now(),
         duration_ms = (extract(epoch FROM now() - started_at) * 1000)::int,
         error = 'the worker stopped before this attempt finished; the job was handed to another attempt'
       WHERE $6::text IS NOT NULL AND job_id = $6 AND organization_id = $1 AND source = $2 AND status = 'running'
         AND EXISTS (SELECT FROM active)),
     started AS (
       INSERT INTO fetch_runs (organization_id, source, window_start, window_end, status, trigger, job_id, attempt, backfill_id)
       SELECT id, $2, $3::date, $4::date, 'running', $5::text, $6, $7::int, $8::text FROM active RETURNING id)
     SELECT org.*, (SELECT id FROM started) AS "runId",
       (SELECT id FROM committed) AS "committedId", (SELECT rows_loaded FROM committed) AS "committedRows",
       EXISTS (SELECT FROM fetch_runs WHERE organization_id = $1 AND started_at > now() - interval '1 hour' AND status = 'throttled') AS "throttledLately"
     FROM org`,
    [run.orgId, run.source, run.from, run.to, run.trigger, run.jobId, run.attempt, run.backfillId],
  );
  const row = rows[0];
  if (!row) return { org: null, runId: null, throttledLately: false, committedRun: null };
  const { runId, throttledLately, committedId, committedRows, ...org } = row;
  const committedRun = committedId === null ? null : { id: committedId, rows: committedRows ?? 0 };
  return { org, runId, throttledLately, committedRun };
}

export interface RunFinish {
  status: Exclude<RunStatus, 'running'>;
  rows: number;
  awsRequests: Record<string, number>;
  /** Full text, for operators. */
  error?: string | null;
  /** What tenants see instead (lib/tenant-errors.ts). */
  shown?: { code: string; message: string } | null;
}

// finishFetchRun: closes a run with its outcome, rows, AWS requests per operation, error and its
// tenant-safe code and message. Params: run id, outcome.
export async function finishFetchRun(db: Queryable, id: number, finish: RunFinish): Promise<void> {
  const total = Object.values(finish.awsRequests).reduce((a, b) => a + b, 0);
  await db.query(
    `UPDATE fetch_runs SET status = $2, rows_loaded = $3, aws_requests = $4, aws_requests_by_operation = $5,
       error = $6, error_code = $7, public_error = $8,
       finished_at = now(), duration_ms = (extract(epoch FROM now() - started_at) * 1000)::int
     WHERE id = $1`,
    [
      id,
      finish.status,
      finish.rows,
      total,
      JSON.stringify(finish.awsRequests),
      finish.error ?? null,
      finish.shown?.code ?? null,
      finish.shown?.message ?? null,
    ],
  );
}

// markRunRolledUp: publishes one succeeded run whose rollup rebuilt only the days it changed (the
// window routines mark the runs inside their window). Params: run id. Returns whether it was marked.
export async function markRunRolledUp(db: Queryable, runId: number): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE fetch_runs SET rolled_up_at = now()
     WHERE id = $1 AND status = 'succeeded' AND rolled_up_at IS NULL`,
    [runId],
  );
  return (rowCount ?? 0) > 0;
}

export interface BackfillProgress {
  windowsTotal: number;
  succeeded: number;
  rolledUp: number;
  failed: number;
  rows: number;
}

// backfillProgress: per backfill, how many distinct windows succeeded, are rolled up, or failed
// for good (latest attempt failed). Params: backfill id.
export async function backfillProgress(
  db: Queryable,
  backfillId: string,
): Promise<Omit<BackfillProgress, 'windowsTotal'>> {
  const { rows } = await db.query<{ succeeded: number; rolled_up: number; failed: number; rows: string }>(
    `WITH latest AS (
       SELECT DISTINCT ON (organization_id, source, window_start, window_end) status, rolled_up_at, rows_loaded
       FROM fetch_runs WHERE backfill_id = $1
       ORDER BY organization_id, source, window_start, window_end, id DESC)
     SELECT count(*) FILTER (WHERE status = 'succeeded')::int AS succeeded,
            count(*) FILTER (WHERE status = 'succeeded' AND rolled_up_at IS NOT NULL)::int AS rolled_up,
            count(*) FILTER (WHERE status = 'failed')::int AS failed,
            coalesce(sum(rows_loaded) FILTER (WHERE status = 'succeeded'), 0)::text AS rows
     FROM latest`,
    [backfillId],
  );
  const r = rows[0];
  return {
    succeeded: r?.succeeded ?? 0,
    rolledUp: r?.rolled_up ?? 0,
    failed: r?.failed ?? 0,
    rows: Number(r?.rows ?? 0),
  };
}

export interface BackfillFailure {
  orgId: number;
  orgName: string;
  source: string;
  windowStart: string;
  windowEnd: string;
  error: string | null;
  /** The organization's recorded remedy (permission errors), when recorded by this backfill. */
  remedy: string | null;
}

// firstBackfillFailure: the earliest window of a backfill whose latest attempt failed for good,
// with its organization's remedy when that was recorded during this attempt. Params: backfill id.
export async function firstBackfillFailure(
  db: Queryable,
  backfillId: string,
): Promise<BackfillFailure | null> {
  const { rows } = await db.query<BackfillFailure>(
    `WITH latest AS (
       SELECT DISTINCT ON (organization_id, source, window_start, window_end) *
       FROM fetch_runs WHERE backfill_id = $1
       ORDER BY organization_id, source, window_start, window_end, id DESC)
     SELECT l.organization_id::int AS "orgId", o.name AS "orgName", l.source,
            to_char(l.window_start, 'YYYY-MM-DD') AS "windowStart", to_char(l.window_end, 'YYYY-MM-DD') AS "windowEnd",
            l.error,
            CASE WHEN o.last_error_at >= l.started_at THEN o.last_error_remedy END AS remedy
     FROM latest l JOIN organizations o ON o.id = l.organization_id
     WHERE l.status = 'failed'
     ORDER BY l.finished_at NULLS LAST, l.id
     LIMIT 1`,
    [backfillId],
  );
  return rows[0] ?? null;
}

export interface RecentRun {
  orgId: number;
  source: string;
  windowStart: string;
  windowEnd: string;
  status: RunStatus;
  rows: number;
  rolledUp: boolean;
  error: string | null;
}

// latestRunsSince: per (organization, source, window), the latest attempt of a fetch started at
// or after `since` with this trigger (e.g. the runs of one manual refresh). Params: org ids,
// since, trigger.
export async function latestRunsSince(
  db: Queryable,
  orgIds: number[],
  since: Date,
  trigger: RunStart['trigger'],
): Promise<RecentRun[]> {
  const { rows } = await db.query<RecentRun>(
    `SELECT DISTINCT ON (organization_id, source, window_start, window_end)
            organization_id::int AS "orgId", source,
            to_char(window_start, 'YYYY-MM-DD') AS "windowStart", to_char(window_end, 'YYYY-MM-DD') AS "windowEnd",
            status, rows_loaded::int AS rows, rolled_up_at IS NOT NULL AS "rolledUp", error
     FROM fetch_runs
     WHERE organization_id = ANY($1::bigint[]) AND started_at >= $2 AND trigger = $3
     ORDER BY organization_id, source, window_start, window_end, id DESC`,
    [orgIds, since, trigger],
  );
  return rows;
}
