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

/** Calls one of migration 0004's rollup routines (a fixed name, never user input). */
async function rebuild(
  db: Queryable,
  routine: 'cw_rebuild_cost_rollups' | 'cw_rebuild_metric_rollups',
  orgId: number,
  from: string,
  to: string,
): Promise<RollupResult> {
  const { rows } = await db.query<{ rows_written: number; runs_marked: number }>(
    `SELECT rows_written, runs_marked FROM ${routine}($1, $2::date, $3::date)`,
    [orgId, from, to],
  );
  const result = rows[0];
  if (!result) throw new Error('rollup function returned no row');
  return { rows: result.rows_written, runs: result.runs_marked };
}

type Rebuild = (db: Queryable, orgId: number, from: string, to: string) => Promise<RollupResult>;

/**
 * rebuildCostRollups: recomputes the daily service/account/region rollups of one organization for
 * [from, to) from cost_data, and the monthly rollup of every month those days fall in; marks the
 * runs it publishes. One statement, so one transaction. Params: pool or client, org id, window.
 */
export const rebuildCostRollups: Rebuild = (db, orgId, from, to) =>
  rebuild(db, 'cw_rebuild_cost_rollups', orgId, from, to);

/**
 * rebuildMetricRollups: recomputes metric_daily (average of Average, max of Maximum per resource,
 * metric and UTC day) of one organization for [from, to), and marks the runs it publishes.
 * Params: pool or client, org id, window.
 */
export const rebuildMetricRollups: Rebuild = (db, orgId, from, to) =>
  rebuild(db, 'cw_rebuild_metric_rollups', orgId, from, to);
