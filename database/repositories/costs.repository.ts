/**
 * Cost reads of the API, from the generic rollup tables only (cost_rollup_daily,
 * cost_rollup_daily_by_service, cost_rollup_monthly, cost_forecasts; migration 0008) — never from
 * cost_data. Which table and filters a query uses is planned by the dimension registry
 * (lib/dimensions.ts `planCostQuery`). Amounts stay numeric strings; sums are computed in SQL. Date
 * ranges are inclusive. Every value is a bind parameter; lists fetch `limit + 1` rows so the
 * caller knows whether another page exists.
 */
import type { QueryResultRow } from 'pg';
import type { Queryable } from '../../lib/db.js';
import type { CostQueryPlan } from '../../lib/dimensions.js';

/** Which cost column a ranking or total uses. */
export const COST_METRIC_NAMES = ['unblended', 'amortized', 'net_unblended', 'net_amortized'] as const;
export type CostMetric = (typeof COST_METRIC_NAMES)[number];

export interface DailyCostRow {
  day: string;
  /** The dimension's value (service, account id, tag value, ...); null for totals. */
  key: string | null;
  unit: string;
  unblended_cost: string;
  amortized_cost: string;
  net_unblended_cost: string;
  /** Null when some row of it was loaded before NetAmortizedCost was fetched (migration 0012). */
  net_amortized_cost: string | null;
  estimated: boolean;
  usage_quantity: string;
  /** Unit of usage_quantity ('' when the rows mix units or AWS gave none). */
  usage_unit: string;
}

export interface MonthlyCostRow {
  month: string;
  key: string | null;
  unit: string;
  unblended_cost: string;
  amortized_cost: string;
  net_unblended_cost: string;
  /** Null when some row of it was loaded before NetAmortizedCost was fetched (migration 0012). */
  net_amortized_cost: string | null;
  estimated: boolean;
  days: number;
}

export interface RangeQuery {
  orgId: number;
  from: string;
  to: string;
  limit: number;
  offset: number;
}

export interface RankedCost {
  key: string;
  unit: string;
  /** Null with metric net_amortized when some of its days were loaded before migration 0012. */
  amount: string | null;
  /** With the account dimension: the account's name, when known. */
  account_name: string | null;
}

export interface PeriodComparison {
  unit: string;
  /** Null with metric net_amortized when some day of the period was loaded before migration 0012. */
  month_to_date: string | null;
  previous_period: string | null;
  change_percent: string | null;
}

export interface ForecastRow {
  month: string;
  amount: string;
  lower_bound: string | null;
  upper_bound: string | null;
  unit: string;
  fetched_at: Date;
}

/** What a daily or monthly read needs: the range, the page and the registry's plan. */
export interface CostQuery extends RangeQuery {
  plan: CostQueryPlan;
}

/**
 * The two grains of the per-dimension rollups: the table, its period column, the range predicate
 * on it ($3, $4 = from, to) and the grain's own columns. Fixed SQL fragments, never input.
 */
const GRAINS = {
  daily: {
    table: 'cost_rollup_daily',
    period: 'day',
    range: 'day BETWEEN $3::date AND $4::date',
    columns: 'usage_quantity, usage_unit',
    sums: "sum(usage_quantity)::text AS usage_quantity, CASE WHEN min(usage_unit) = max(usage_unit) THEN min(usage_unit) ELSE '' END AS usage_unit",
  },
  monthly: {
    table: 'cost_rollup_monthly',
    period: 'month',
    range: "month BETWEEN date_trunc('month', $3::date)::date AND date_trunc('month', $4::date)::date",
    columns: 'days',
    sums: 'max(days) AS days',
  },
} as const;
type Grain = keyof typeof GRAINS;

/**
 * The sum of net_amortized_cost over a group, NULL when a row of it has none (loaded before
 * migration 0012): a partial sum would look like a complete one. A fixed SQL fragment.
 */
const NET_AMORTIZED_SUM =
  'CASE WHEN count(*) = count(net_amortized_cost) THEN sum(net_amortized_cost)::text END AS net_amortized_cost';

/** The cost of a metric named by bind parameter `param` (cw_metric_cost of migration 0012). Fixed SQL. */
const METRIC_COST = (param: string): string =>
  `cw_metric_cost(${param}::text, unblended_cost, amortized_cost, net_unblended_cost, net_amortized_cost)`;

/** The sum of `cost` over the rows matching `where` (0 when none), NULL when one of them has none. Fixed SQL. */
const completeSum = (where: string): string =>
  `CASE WHEN bool_and(cost IS NOT NULL) FILTER (WHERE ${where}) IS NOT FALSE
        THEN coalesce(sum(cost) FILTER (WHERE ${where}), 0) END`;

// One dimension's rollup rows of a grain over [from, to], per value (optionally one), by period then value.
// Parameters: $1 org, $2 dimension, $3 from, $4 to, $5 value or null, $6 limit + 1, $7 offset.
async function rowsByKey<R>(
  db: Queryable,
  grain: Grain,
  q: RangeQuery,
  dimension: string,
  key: string | null,
): Promise<R[]> {
  const g = GRAINS[grain];
  const { rows } = await db.query<R & QueryResultRow>(
    `SELECT ${g.period}, key, unit, unblended_cost, amortized_cost, net_unblended_cost, net_amortized_cost, estimated,
            ${g.columns}
       FROM ${g.table}
      WHERE organization_id = $1 AND dimension = $2 AND ${g.range}
        AND ($5::text IS NULL OR key = $5::text)
      ORDER BY ${g.period}, key, unit
      LIMIT $6 OFFSET $7`,
    [q.orgId, dimension, q.from, q.to, key, q.limit + 1, q.offset],
  );
  return rows;
}

// One dimension's totals of a grain over [from, to] (all values, or one), by period.
// Parameters: $1 org, $2 dimension, $3 from, $4 to, $5 value or null, $6 limit + 1, $7 offset.
async function totals<R>(
  db: Queryable,
  grain: Grain,
  q: RangeQuery,
  dimension: string,
  key: string | null,
): Promise<R[]> {
  const g = GRAINS[grain];
  const { rows } = await db.query<R & QueryResultRow>(
    `SELECT ${g.period}, NULL::text AS key, unit, sum(unblended_cost)::text AS unblended_cost,
            sum(amortized_cost)::text AS amortized_cost, sum(net_unblended_cost)::text AS net_unblended_cost,
            ${NET_AMORTIZED_SUM}, bool_or(estimated) AS estimated, ${g.sums}
       FROM ${g.table}
      WHERE organization_id = $1 AND dimension = $2 AND ${g.range}
        AND ($5::text IS NULL OR key = $5::text)
      GROUP BY ${g.period}, unit
      ORDER BY ${g.period}, unit
      LIMIT $6 OFFSET $7`,
    [q.orgId, dimension, q.from, q.to, key, q.limit + 1, q.offset],
  );
  return rows;
}

// Daily cost from the SERVICE x <dimension> rollup over [from, to], filtered on the dimension's value
// and/or the service, grouped by service ($7 = 'service'), by the value ('key') or in total (null).
// Parameters: $1 org, $2 dimension, $3 from, $4 to, $5 value or null, $6 service or null,
// $7 grouping, $8 limit + 1, $9 offset.
async function dailyByService(
  db: Queryable,
  q: RangeQuery,
  p: { dimension: string; key: string | null; service: string | null; group: 'service' | 'key' | null },
): Promise<DailyCostRow[]> {
  const { rows } = await db.query<DailyCostRow>(
    `SELECT day, CASE $7::text WHEN 'service' THEN service WHEN 'key' THEN key END AS key, unit,
            sum(unblended_cost)::text AS unblended_cost, sum(amortized_cost)::text AS amortized_cost,
            sum(net_unblended_cost)::text AS net_unblended_cost, ${NET_AMORTIZED_SUM},
            bool_or(estimated) AS estimated, sum(usage_quantity)::text AS usage_quantity,
            CASE WHEN min(usage_unit) = max(usage_unit) THEN min(usage_unit) ELSE '' END AS usage_unit
       FROM cost_rollup_daily_by_service
      WHERE organization_id = $1 AND dimension = $2 AND day BETWEEN $3::date AND $4::date
        AND ($5::text IS NULL OR key = $5::text) AND ($6::text IS NULL OR service = $6::text)
      GROUP BY 1, 2, 3
      ORDER BY 1, 2, 3
      LIMIT $8 OFFSET $9`,
    [q.orgId, p.dimension, q.from, q.to, p.key, p.service, p.group, q.limit + 1, q.offset],
  );
  return rows;
}

/** dailyCosts: the rows of a /costs/daily query, from the rollup its plan names. */
export function dailyCosts(db: Queryable, q: CostQuery): Promise<DailyCostRow[]> {
  const { plan } = q;
  if (plan.source === 'by_service')
    return dailyByService(db, q, {
      dimension: plan.dimension.name,
      key: plan.key,
      service: plan.service,
      group: plan.group,
    });
  return plan.group
    ? rowsByKey<DailyCostRow>(db, 'daily', q, plan.dimension.name, plan.key)
    : totals<DailyCostRow>(db, 'daily', q, plan.dimension.name, plan.key);
}

/** monthlyCosts: the rows of a /costs/monthly query (one dimension's monthly rollup, by value or in total). */
export function monthlyCosts(
  db: Queryable,
  q: RangeQuery & { dimension: string; key: string | null; group: boolean },
): Promise<MonthlyCostRow[]> {
  return q.group
    ? rowsByKey<MonthlyCostRow>(db, 'monthly', q, q.dimension, q.key)
    : totals<MonthlyCostRow>(db, 'monthly', q, q.dimension, q.key);
}

export interface TopQuery {
  orgId: number;
  from: string;
  to: string;
  metric: CostMetric;
  limit: number;
  /** API name of the dimension ranked. */
  dimension: string;
}

// Values of one dimension ranked by total cost over [from, to] (ties by value), at most `limit`; for
// the account dimension with each account's name (the join finds nothing for other dimensions).
// A total that misses a day's net amortized cost (loaded before migration 0012) is NULL and ranks last.
// Parameters: $1 org, $2 dimension, $3 from, $4 to, $5 metric (unblended|amortized|net_unblended|net_amortized), $6 limit.
export async function topCosts(db: Queryable, q: TopQuery): Promise<RankedCost[]> {
  const { rows } = await db.query<RankedCost>(
    `SELECT t.key, t.unit, t.total::text AS amount, n.name AS account_name
       FROM (SELECT key, unit, CASE WHEN count(*) = count(cost) THEN sum(cost) END AS total
               FROM (SELECT key, unit, ${METRIC_COST('$5')} AS cost
                       FROM cost_rollup_daily
                      WHERE organization_id = $1 AND dimension = $2 AND day BETWEEN $3::date AND $4::date) r
              GROUP BY key, unit
              ORDER BY total DESC NULLS LAST, key, unit
              LIMIT $6) t
       LEFT JOIN aws_account_names n ON $2 = 'account' AND n.organization_id = $1 AND n.account_id = t.key
      ORDER BY t.total DESC NULLS LAST, t.key, t.unit`,
    [q.orgId, q.dimension, q.from, q.to, q.metric, q.limit],
  );
  return rows;
}

// Month-to-date total against the same days of the previous month, per unit, with the change in %
// (rounded to 2 places; null when the previous period is zero). A period that misses a day's net
// amortized cost (loaded before migration 0012) totals NULL. Parameters: $1 org, $2..$3 this
// period, $4..$5 previous period (inclusive), $6 metric (unblended|amortized|net_unblended|net_amortized).
export async function compareMonthToDate(
  db: Queryable,
  q: {
    orgId: number;
    from: string;
    to: string;
    previousFrom: string;
    previousTo: string;
    metric: CostMetric;
  },
): Promise<PeriodComparison[]> {
  const { rows } = await db.query<PeriodComparison>(
    `WITH daily AS (
       SELECT day, unit,
              ${METRIC_COST('$6')} AS cost
         FROM cost_rollup_daily
        WHERE organization_id = $1 AND dimension = 'service'
          AND (day BETWEEN $2::date AND $3::date OR day BETWEEN $4::date AND $5::date)
     ), totals AS (
       SELECT unit,
              ${completeSum('day BETWEEN $2::date AND $3::date')} AS mtd,
              ${completeSum('day BETWEEN $4::date AND $5::date')} AS prev
         FROM daily
        GROUP BY unit
     )
     SELECT unit, mtd::text AS month_to_date, prev::text AS previous_period,
            round((mtd - prev) * 100 / NULLIF(prev, 0), 2)::text AS change_percent
       FROM totals
      ORDER BY unit`,
    [q.orgId, q.from, q.to, q.previousFrom, q.previousTo, q.metric],
  );
  return rows;
}

/** Null with metric net_amortized when some day of the kind was loaded before migration 0012. */
export interface RecordTypeTotals {
  unit: string;
  usage: string | null;
  credits: string | null;
  refunds: string | null;
  other: string | null;
  net: string | null;
}

// Totals over [from, to] by kind of record type, per unit: gross usage (Usage), credits (Credit),
// refunds (Refund), everything else (Tax, Support, Savings Plans, ...) and the net sum of them all.
// Empty when the record type rollup has no rows (days loaded before migration 0008).
// A kind that misses a day's net amortized cost (loaded before migration 0012) is NULL.
// Parameters: $1 org, $2 from, $3 to, $4 metric (unblended|amortized|net_unblended|net_amortized).
export async function recordTypeTotals(
  db: Queryable,
  q: { orgId: number; from: string; to: string; metric: CostMetric },
): Promise<RecordTypeTotals[]> {
  const { rows } = await db.query<RecordTypeTotals>(
    `WITH r AS (
       SELECT key, unit, ${METRIC_COST('$4')} AS cost
         FROM cost_rollup_daily
        WHERE organization_id = $1 AND dimension = 'record_type' AND day BETWEEN $2::date AND $3::date
     )
     SELECT unit,
            ${completeSum("key = 'Usage'")}::text AS usage,
            ${completeSum("key = 'Credit'")}::text AS credits,
            ${completeSum("key = 'Refund'")}::text AS refunds,
            ${completeSum("key NOT IN ('Usage', 'Credit', 'Refund')")}::text AS other,
            CASE WHEN count(*) = count(cost) THEN sum(cost)::text END AS net
       FROM r GROUP BY unit ORDER BY unit`,
    [q.orgId, q.from, q.to, q.metric],
  );
  return rows;
}

// Cost Explorer forecasts of an organization for the months from `fromMonth` on, oldest first.
// Parameters: $1 org, $2 first month (YYYY-MM-01).
export async function listForecasts(db: Queryable, orgId: number, fromMonth: string): Promise<ForecastRow[]> {
  const { rows } = await db.query<ForecastRow>(
    `SELECT month, amount::text AS amount, lower_bound::text AS lower_bound, upper_bound::text AS upper_bound,
            unit, fetched_at
       FROM cost_forecasts
      WHERE organization_id = $1 AND month >= $2::date
      ORDER BY month
      LIMIT 36`,
    [orgId, fromMonth],
  );
  return rows;
}
