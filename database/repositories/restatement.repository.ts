/**
 * What the restatement probe (workers/restatement-probe.ts) reads and writes of stored costs: the
 * per-day totals of one grouping of cost_data, and the once-per-month full re-read at bill close.
 */
import type { Queryable } from '../../lib/db.js';
import type { CostRow } from './cost-data.repository.js';

/** A cost_data grouping (the registry's grouping names, lib/dimensions.ts). */
type CostGrouping = CostRow['grouping'];

/** The stored totals of one day of one grouping (sums of its groups, exact decimal text). */
export interface StoredDayTotal {
  unblendedCost: string;
  amortizedCost: string;
  netUnblendedCost: string;
  /** Null when some group of the day was stored before migration 0012 (no NetAmortizedCost fetched). */
  netAmortizedCost: string | null;
  usageQuantity: string;
  /** Groups stored for the day. */
  groups: number;
  /** Some group of the day was stored while AWS flagged it Estimated. */
  estimated: boolean;
}

// storedDayTotals: the per-day totals of one grouping of an org's cost_data over [from, to).
// Params: org id, window, grouping (the one the summary sums: account_service). Returns day -> totals.
export async function storedDayTotals(
  db: Queryable,
  orgId: number,
  window: { from: string; to: string },
  grouping: CostGrouping = 'account_service',
): Promise<Map<string, StoredDayTotal>> {
  const { rows } = await db.query<StoredDayTotal & { day: string }>(
    `SELECT cost_date::text AS day,
            sum(unblended_cost)::text AS "unblendedCost", sum(amortized_cost)::text AS "amortizedCost",
            sum(net_unblended_cost)::text AS "netUnblendedCost",
            CASE WHEN count(*) = count(net_amortized_cost) THEN sum(net_amortized_cost)::text END AS "netAmortizedCost",
            sum(usage_quantity)::text AS "usageQuantity",
            count(*)::int AS groups, bool_or(estimated) AS estimated
       FROM cost_data
      WHERE organization_id = $1 AND grouping = $2 AND cost_date >= $3::date AND cost_date < $4::date
      GROUP BY cost_date`,
    [orgId, grouping, window.from, window.to],
  );
  return new Map(rows.map(({ day, ...total }) => [day, total]));
}

// fullReadDone: whether the org's month (its first day) was re-read in full at bill close.
export async function fullReadDone(db: Queryable, orgId: number, month: string): Promise<boolean> {
  const { rows } = await db.query(
    'SELECT 1 FROM cost_full_reads WHERE organization_id = $1 AND month = $2::date',
    [orgId, month],
  );
  return rows.length > 0;
}

// recordFullRead: in the full re-read's transaction, remembers that the org's month was re-read at bill close.
export async function recordFullRead(db: Queryable, orgId: number, month: string): Promise<void> {
  await db.query(
    `INSERT INTO cost_full_reads (organization_id, month) VALUES ($1, $2::date)
     ON CONFLICT (organization_id, month) DO UPDATE SET read_at = now()`,
    [orgId, month],
  );
}

// cappedOrganizationsSince: organizations with a fetch run stopped by CE_DAILY_REQUEST_CAP since
// `since` (the doctor's warning). Returns org ids and their latest capped run time, newest first.
export async function cappedOrganizationsSince(
  db: Queryable,
  since: Date,
): Promise<Array<{ orgId: number; at: Date }>> {
  const { rows } = await db.query<{ orgId: number; at: Date }>(
    `SELECT organization_id::int AS "orgId", max(started_at) AS at FROM fetch_runs
      WHERE status = 'capped' AND started_at >= $1::timestamptz
      GROUP BY organization_id ORDER BY at DESC LIMIT 100`,
    [since],
  );
  return rows;
}
