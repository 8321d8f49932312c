/** cost_forecasts: the projected total of each organization's month. */
import type { Queryable } from '../../lib/db.js';
import { startOfMonth } from '../../lib/dates.js';

// upsertForecastWithActuals: stores the month's projection = month-to-date unblended cost (from
// cost_data, days before `today`) + Cost Explorer's forecast of the rest. Params: org, today, forecast.
export async function upsertForecastWithActuals(
  db: Queryable,
  orgId: number,
  today: string,
  forecast: { mean: string; lower: string | null; upper: string | null; unit: string },
): Promise<void> {
  await db.query(
    `WITH mtd AS (
       SELECT coalesce(sum(unblended_cost), 0) AS actual FROM cost_data
       WHERE organization_id = $1 AND grouping = 'account_service' AND cost_date >= $2 AND cost_date < $3)
     INSERT INTO cost_forecasts (organization_id, month, amount, lower_bound, upper_bound, unit, fetched_at)
     SELECT $1, $2, actual + $4::numeric, actual + $5::numeric, actual + $6::numeric, $7, now() FROM mtd
     ON CONFLICT (organization_id, month) DO UPDATE
       SET amount = EXCLUDED.amount, lower_bound = EXCLUDED.lower_bound, upper_bound = EXCLUDED.upper_bound,
           unit = EXCLUDED.unit, fetched_at = now()`,
    [orgId, startOfMonth(today), today, forecast.mean, forecast.lower, forecast.upper, forecast.unit],
  );
}
