/**
 * Ingestion reads of the API: an organization's pipeline status and AWS usage (from
 * organizations and fetch_runs) and the fetch-run ledger, paged by a stable keyset cursor
 * (started_at desc, id desc).
 */
import type { Queryable } from '../../lib/db.js';
import type { OrgKind } from './organizations.repository.js';

export interface OrganizationIngestion {
  id: number;
  name: string;
  /** 'platform': operators only, no AWS account, never fetched. */
  kind: OrgKind;
  status: string;
  last_success_at: Date | null;
  last_error: string | null;
  last_error_remedy: string | null;
  last_error_at: Date | null;
  /** Tenant-safe versions of last_error / last_error_remedy (migration 0007). */
  last_error_code: string | null;
  last_error_public: string | null;
  last_error_public_remedy: string | null;
  estimated_from: string | null;
}

export interface IngestionUsage {
  runs: number;
  failed_runs: number;
  rows_loaded: number;
  aws_requests: number;
  aws_requests_by_operation: Record<string, number>;
  estimated_aws_cost: string;
}

export interface FetchRunRow {
  id: number;
  source: string;
  window_start: string;
  window_end: string;
  status: string;
  trigger: string;
  job_id: string | null;
  attempt: number;
  backfill_id: string | null;
  rows_loaded: number;
  aws_requests: number;
  aws_requests_by_operation: Record<string, number>;
  started_at: Date;
  finished_at: Date | null;
  duration_ms: number | null;
  error: string | null;
  /** Tenant-safe code and message of `error` (migration 0007). */
  error_code: string | null;
  public_error: string | null;
  /** started_at to the microsecond, UTC, for the page cursor. */
  started_at_key: string;
}

// An organization's pipeline state: status, last success, last error with its remedy.
// Parameters: $1 organization id.
export async function findOrganizationIngestion(
  db: Queryable,
  orgId: number,
): Promise<OrganizationIngestion | null> {
  const { rows } = await db.query<OrganizationIngestion>(
    `SELECT id, name, kind, status, last_success_at, last_error, last_error_remedy, last_error_at, estimated_from,
            last_error_code, last_error_public, last_error_public_remedy
       FROM organizations
      WHERE id = $1`,
    [orgId],
  );
  return rows[0] ?? null;
}

// Runs, failures, rows and AWS requests (per operation, and their estimated price) since a time.
// AWS requests include the forecast's (forecast_runs); runs and failures count fetch runs.
// Parameters: $1 org, $2 since (timestamptz), $3 priced operations (text[]), $4 their prices in dollars (numeric[]).
export async function ingestionUsageSince(
  db: Queryable,
  q: { orgId: number; since: Date; prices: Record<string, number> },
): Promise<IngestionUsage> {
  const operations = Object.keys(q.prices);
  const { rows } = await db.query<IngestionUsage>(
    `WITH runs AS (
       SELECT status, rows_loaded, aws_requests, aws_requests_by_operation
         FROM fetch_runs
        WHERE organization_id = $1 AND started_at >= $2::timestamptz
     ), billed AS (
       SELECT aws_requests, aws_requests_by_operation FROM runs
       UNION ALL
       SELECT aws_requests, aws_requests_by_operation
         FROM forecast_runs
        WHERE organization_id = $1 AND started_at >= $2::timestamptz
     ), ops AS (
       SELECT op.key AS operation, sum((op.value #>> '{}')::numeric) AS requests
         FROM billed, jsonb_each(CASE jsonb_typeof(billed.aws_requests_by_operation)
                                 WHEN 'object' THEN billed.aws_requests_by_operation ELSE '{}'::jsonb END) AS op
        WHERE jsonb_typeof(op.value) = 'number'
        GROUP BY op.key
     ), prices AS (
       SELECT * FROM unnest($3::text[], $4::numeric[]) AS p(operation, price)
     )
     SELECT (SELECT count(*) FROM runs)::int AS runs,
            (SELECT count(*) FROM runs WHERE status = 'failed')::int AS failed_runs,
            (SELECT coalesce(sum(rows_loaded), 0) FROM runs)::bigint AS rows_loaded,
            (SELECT coalesce(sum(aws_requests), 0) FROM billed)::bigint AS aws_requests,
            (SELECT coalesce(jsonb_object_agg(operation, requests ORDER BY operation), '{}'::jsonb) FROM ops)
              AS aws_requests_by_operation,
            (SELECT coalesce(sum(ops.requests * prices.price), 0) FROM ops JOIN prices USING (operation))::text
              AS estimated_aws_cost`,
    [q.orgId, q.since, operations, operations.map((op) => String(q.prices[op] ?? 0))],
  );
  const row = rows[0];
  if (!row) throw new Error('ingestion usage query returned no row');
  return row;
}

// One page of an organization's fetch runs, newest first, after an optional (started_at, id) cursor.
// Parameters: $1 org, $2 cursor started_at or null, $3 cursor id or null, $4 source or null, $5 status or null, $6 limit + 1.
export async function listFetchRuns(
  db: Queryable,
  q: {
    orgId: number;
    after: { startedAt: string; id: number } | null;
    source: string | null;
    status: string | null;
    limit: number;
  },
): Promise<FetchRunRow[]> {
  const { rows } = await db.query<FetchRunRow>(
    `SELECT id, source, window_start, window_end, status, trigger, job_id, attempt, backfill_id,
            rows_loaded, aws_requests, aws_requests_by_operation, started_at, finished_at, duration_ms, error,
            error_code, public_error,
            to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS started_at_key
       FROM fetch_runs
      WHERE organization_id = $1
        AND ($2::timestamptz IS NULL OR (started_at, id) < ($2::timestamptz, $3::bigint))
        AND ($4::text IS NULL OR source = $4::text)
        AND ($5::text IS NULL OR status = $5::text)
      ORDER BY started_at DESC, id DESC
      LIMIT $6`,
    [q.orgId, q.after?.startedAt ?? null, q.after?.id ?? null, q.source, q.status, q.limit + 1],
  );
  return rows;
}
