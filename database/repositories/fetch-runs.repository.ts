/** fetch_runs: one row per fetch job attempt — the ingestion ledger the API and backfill read. */
import type { Queryable } from '../../lib/db.js';

export type RunStatus = 'running' | 'succeeded' | 'failed' | 'retrying' | 'throttled' | 'interrupted';

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

// startFetchRun: records a fetch attempt as running and returns its id. An earlier attempt of the
// same job still 'running' was cut off (worker killed, or handed back on SIGTERM): it is marked
// interrupted. Params: org, source, window, trigger, job id, attempt number, backfill id.
export async function startFetchRun(db: Queryable, run: RunStart): Promise<number> {
  const { rows } = await db.query<{ id: number }>(
    `WITH cut_off AS (
       UPDATE fetch_runs SET status = 'interrupted', finished_at = now(),
         duration_ms = (extract(epoch FROM now() - started_at) * 1000)::int,
         error = 'the worker stopped before this attempt finished; the job was handed to another attempt'
       WHERE $6::text IS NOT NULL AND job_id = $6 AND organization_id = $1 AND source = $2 AND status = 'running')
     INSERT INTO fetch_runs (organization_id, source, window_start, window_end, status, trigger, job_id, attempt, backfill_id)
     VALUES ($1, $2, $3, $4, 'running', $5, $6, $7, $8) RETURNING id`,
    [run.orgId, run.source, run.from, run.to, run.trigger, run.jobId, run.attempt, run.backfillId],
  );
  const id = rows[0]?.id;
  if (id === undefined) throw new Error('insert returned no row');
  return id;
}

export interface RunFinish {
  status: Exclude<RunStatus, 'running'>;
  rows: number;
  awsRequests: Record<string, number>;
  error?: string | null;
}

// finishFetchRun: closes a run with its outcome, rows, AWS requests per operation and error.
// Params: run id, outcome.
export async function finishFetchRun(db: Queryable, id: number, finish: RunFinish): Promise<void> {
  const total = Object.values(finish.awsRequests).reduce((a, b) => a + b, 0);
  await db.query(
    `UPDATE fetch_runs SET status = $2, rows_loaded = $3, aws_requests = $4, aws_requests_by_operation = $5,
       error = $6, finished_at = now(), duration_ms = (extract(epoch FROM now() - started_at) * 1000)::int
     WHERE id = $1`,
    [id, finish.status, finish.rows, total, JSON.stringify(finish.awsRequests), finish.error ?? null],
  );
}

// markRunsRolledUp: called inside a rollup's transaction: every succeeded run inside [from, to)
// that finished before the transaction began is now visible through the API. Params: org, source, window.
export async function markRunsRolledUp(
  db: Queryable,
  orgId: number,
  source: 'costs' | 'metrics',
  from: string,
  to: string,
): Promise<number> {
  const { rowCount } = await db.query(
    `UPDATE fetch_runs SET rolled_up_at = now()
     WHERE organization_id = $1 AND source = $2 AND status = 'succeeded' AND rolled_up_at IS NULL
       AND window_start >= $3 AND window_end <= $4 AND finished_at <= now()`,
    [orgId, source, from, to],
  );
  return rowCount ?? 0;
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
export async function backfillProgress(db: Queryable, backfillId: string): Promise<Omit<BackfillProgress, 'windowsTotal'>> {
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
  return { succeeded: r?.succeeded ?? 0, rolledUp: r?.rolled_up ?? 0, failed: r?.failed ?? 0, rows: Number(r?.rows ?? 0) };
}
