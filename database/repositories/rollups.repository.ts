/** Rollups: recomputed for exactly the (organization, days) a load touched, in one transaction. */
import { withTransaction, type Pool } from '../../lib/db.js';
import { addMonths, startOfMonth, addDays } from '../../lib/dates.js';
import { markRunsRolledUp } from './fetch-runs.repository.js';

/** Rollup rows written, and fetch runs it published (marked rolled_up_at). */
export interface RollupResult {
  rows: number;
  runs: number;
}

const COST_SUMS = `sum(unblended_cost), sum(amortized_cost), sum(net_unblended_cost), sum(usage_quantity), min(unit), bool_or(estimated)`;

/**
 * rebuildCostRollups: recomputes the daily service/account/region rollups of one organization for
 * [from, to) from cost_data, and the monthly rollup of every month those days fall in.
 * Marks the runs it publishes, in the same transaction. Params: pool, org id, window.
 */
export async function rebuildCostRollups(pool: Pool, orgId: number, from: string, to: string): Promise<RollupResult> {
  const monthFrom = startOfMonth(from);
  const monthTo = addMonths(addDays(to, -1), 1);
  return withTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock(1003, $1)', [orgId]);
    let written = 0;
    const range = [orgId, from, to];
    for (const [table, column, grouping] of [
      ['cost_daily_service', 'service', 'account_service'],
      ['cost_daily_account', 'linked_account', 'account_service'],
      ['cost_daily_region', 'region', 'region_service'],
    ] as const) {
      await client.query(`DELETE FROM ${table} WHERE organization_id = $1 AND day >= $2 AND day < $3`, range);
      const inserted = await client.query(
        `INSERT INTO ${table} (organization_id, day, ${column}, unblended_cost, amortized_cost, net_unblended_cost, usage_quantity, unit, estimated)
         SELECT organization_id, cost_date, ${column}, ${COST_SUMS}
         FROM cost_data WHERE organization_id = $1 AND cost_date >= $2 AND cost_date < $3 AND grouping = '${grouping}'
         GROUP BY organization_id, cost_date, ${column}`,
        range,
      );
      written += inserted.rowCount ?? 0;
    }
    await client.query('DELETE FROM cost_monthly_service WHERE organization_id = $1 AND month >= $2 AND month < $3', [orgId, monthFrom, monthTo]);
    const monthly = await client.query(
      `INSERT INTO cost_monthly_service (organization_id, month, service, unblended_cost, amortized_cost, net_unblended_cost, usage_quantity, unit, estimated, days)
       SELECT organization_id, date_trunc('month', day)::date, service, ${COST_SUMS}, count(DISTINCT day)::int
       FROM cost_daily_service WHERE organization_id = $1 AND day >= $2 AND day < $3
       GROUP BY organization_id, date_trunc('month', day), service`,
      [orgId, monthFrom, monthTo],
    );
    const runs = await markRunsRolledUp(client, orgId, 'costs', from, to);
    return { rows: written + (monthly.rowCount ?? 0), runs };
  });
}

/**
 * rebuildMetricRollups: recomputes metric_daily (average of Average, max of Maximum per resource,
 * metric and UTC day) of one organization for [from, to), and marks the runs it publishes.
 * Params: pool, org id, window.
 */
export async function rebuildMetricRollups(pool: Pool, orgId: number, from: string, to: string): Promise<RollupResult> {
  return withTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock(1004, $1)', [orgId]);
    await client.query('DELETE FROM metric_daily WHERE organization_id = $1 AND day >= $2 AND day < $3', [orgId, from, to]);
    const inserted = await client.query(
      `INSERT INTO metric_daily (organization_id, day, namespace, resource_id, metric_name, avg_value, max_value, samples, unit)
       SELECT organization_id, (ts AT TIME ZONE 'UTC')::date, namespace, resource_id, metric_name,
              avg(value) FILTER (WHERE stat = 'Average'), max(value) FILTER (WHERE stat = 'Maximum'),
              count(*) FILTER (WHERE stat = 'Average')::int, min(unit)
       FROM cloudwatch_metrics
       WHERE organization_id = $1 AND ts >= ($2::date::timestamp AT TIME ZONE 'UTC') AND ts < ($3::date::timestamp AT TIME ZONE 'UTC')
       GROUP BY organization_id, (ts AT TIME ZONE 'UTC')::date, namespace, resource_id, metric_name`,
      [orgId, from, to],
    );
    const runs = await markRunsRolledUp(client, orgId, 'metrics', from, to);
    return { rows: inserted.rowCount ?? 0, runs };
  });
}
