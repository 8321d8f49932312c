/**
 * Rollups: recomputed for exactly the (organization, days) a load touched, in one transaction.
 * The statements live in plpgsql (migration 0004): one round trip per rollup instead of twelve.
 */
import type { Queryable } from '../../lib/db.js';

/** Rollup rows written, and fetch runs it published (marked rolled_up_at). */
export interface RollupResult {
  rows: number;
  runs: number;
}

async function rebuild(
  db: Queryable,
  sql: string,
  orgId: number,
  from: string,
  to: string,
): Promise<RollupResult> {
  const { rows } = await db.query<{ rows_written: number; runs_marked: number }>(sql, [orgId, from, to]);
  const result = rows[0];
  if (!result) throw new Error('rollup function returned no row');
  return { rows: result.rows_written, runs: result.runs_marked };
}

/**
 * rebuildCostRollups: recomputes the daily service/account/region rollups of one organization for
 * [from, to) from cost_data, and the monthly rollup of every month those days fall in; marks the
 * runs it publishes. One statement, so one transaction. Params: pool or client, org id, window.
 */
export function rebuildCostRollups(
  db: Queryable,
  orgId: number,
  from: string,
  to: string,
): Promise<RollupResult> {
  return rebuild(
    db,
    'SELECT rows_written, runs_marked FROM cw_rebuild_cost_rollups($1, $2::date, $3::date)',
    orgId,
    from,
    to,
  );
}

/**
 * rebuildMetricRollups: recomputes metric_daily (average of Average, max of Maximum per resource,
 * metric and UTC day) of one organization for [from, to), and marks the runs it publishes.
 * Params: pool or client, org id, window.
 */
export function rebuildMetricRollups(
  db: Queryable,
  orgId: number,
  from: string,
  to: string,
): Promise<RollupResult> {
  return rebuild(
    db,
    'SELECT rows_written, runs_marked FROM cw_rebuild_metric_rollups($1, $2::date, $3::date)',
    orgId,
    from,
    to,
  );
}
