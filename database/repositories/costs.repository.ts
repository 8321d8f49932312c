/**
 * Cost reads of the API, from the rollup tables only (cost_daily_service, cost_daily_account,
 * cost_daily_region, cost_monthly_service, cost_forecasts) — never from cost_data. Amounts stay
 * numeric strings; sums are computed in SQL. Date ranges are inclusive. Every value is a bind
 * parameter; lists fetch `limit + 1` rows so the caller knows whether another page exists.
 */
import type { Queryable } from '../../lib/db.js';

/** Which cost column a ranking or total uses. */
export type CostMetric = 'unblended' | 'amortized' | 'net_unblended';

export interface DailyCostRow {
  day: string;
  /** Service, linked account or region; null for daily totals. */
  key: string | null;
  unit: string;
  unblended_cost: string;
  amortized_cost: string;
  net_unblended_cost: string;
  estimated: boolean;
}

export interface MonthlyCostRow {
  month: string;
  key: string | null;
  unit: string;
  unblended_cost: string;
  amortized_cost: string;
  net_unblended_cost: string;
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
  amount: string;
}

export interface PeriodComparison {
  unit: string;
  month_to_date: string;
  previous_period: string;
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

// Daily cost per service over [from, to], optionally of one service, ordered by day then service.
// Parameters: $1 org, $2 from, $3 to, $4 service or null, $5 limit + 1, $6 offset.
export async function dailyCostsByService(
  db: Queryable,
  q: RangeQuery & { service: string | null },
): Promise<DailyCostRow[]> {
  const { rows } = await db.query<DailyCostRow>(
    `SELECT day, service AS key, unit, unblended_cost, amortized_cost, net_unblended_cost, estimated
       FROM cost_daily_service
      WHERE organization_id = $1 AND day BETWEEN $2::date AND $3::date
        AND ($4::text IS NULL OR service = $4::text)
      ORDER BY day, service, unit
      LIMIT $5 OFFSET $6`,
    [q.orgId, q.from, q.to, q.service, q.limit + 1, q.offset],
  );
  return rows;
}

// Daily cost per linked account over [from, to], optionally of one account, ordered by day then account.
// Parameters: $1 org, $2 from, $3 to, $4 linked account or null, $5 limit + 1, $6 offset.
export async function dailyCostsByAccount(
  db: Queryable,
  q: RangeQuery & { account: string | null },
): Promise<DailyCostRow[]> {
  const { rows } = await db.query<DailyCostRow>(
    `SELECT day, linked_account AS key, unit, unblended_cost, amortized_cost, net_unblended_cost, estimated
       FROM cost_daily_account
      WHERE organization_id = $1 AND day BETWEEN $2::date AND $3::date
        AND ($4::text IS NULL OR linked_account = $4::text)
      ORDER BY day, linked_account, unit
      LIMIT $5 OFFSET $6`,
    [q.orgId, q.from, q.to, q.account, q.limit + 1, q.offset],
  );
  return rows;
}

// Daily cost per region over [from, to], optionally of one region, ordered by day then region.
// Parameters: $1 org, $2 from, $3 to, $4 region or null, $5 limit + 1, $6 offset.
export async function dailyCostsByRegion(
  db: Queryable,
  q: RangeQuery & { region: string | null },
): Promise<DailyCostRow[]> {
  const { rows } = await db.query<DailyCostRow>(
    `SELECT day, region AS key, unit, unblended_cost, amortized_cost, net_unblended_cost, estimated
       FROM cost_daily_region
      WHERE organization_id = $1 AND day BETWEEN $2::date AND $3::date
        AND ($4::text IS NULL OR region = $4::text)
      ORDER BY day, region, unit
      LIMIT $5 OFFSET $6`,
    [q.orgId, q.from, q.to, q.region, q.limit + 1, q.offset],
  );
  return rows;
}

// Daily totals (sum over services) over [from, to], optionally of one service only.
// Parameters: $1 org, $2 from, $3 to, $4 service or null, $5 limit + 1, $6 offset.
export async function dailyTotalsFromServices(
  db: Queryable,
  q: RangeQuery & { service: string | null },
): Promise<DailyCostRow[]> {
  const { rows } = await db.query<DailyCostRow>(
    `SELECT day, NULL::text AS key, unit, sum(unblended_cost)::text AS unblended_cost,
            sum(amortized_cost)::text AS amortized_cost, sum(net_unblended_cost)::text AS net_unblended_cost,
            bool_or(estimated) AS estimated
       FROM cost_daily_service
      WHERE organization_id = $1 AND day BETWEEN $2::date AND $3::date
        AND ($4::text IS NULL OR service = $4::text)
      GROUP BY day, unit
      ORDER BY day, unit
      LIMIT $5 OFFSET $6`,
    [q.orgId, q.from, q.to, q.service, q.limit + 1, q.offset],
  );
  return rows;
}

// Daily totals of one linked account over [from, to] (the account rollup is the only one with accounts).
// Parameters: $1 org, $2 from, $3 to, $4 linked account, $5 limit + 1, $6 offset.
export async function dailyTotalsOfAccount(
  db: Queryable,
  q: RangeQuery & { account: string },
): Promise<DailyCostRow[]> {
  const { rows } = await db.query<DailyCostRow>(
    `SELECT day, NULL::text AS key, unit, sum(unblended_cost)::text AS unblended_cost,
            sum(amortized_cost)::text AS amortized_cost, sum(net_unblended_cost)::text AS net_unblended_cost,
            bool_or(estimated) AS estimated
       FROM cost_daily_account
      WHERE organization_id = $1 AND day BETWEEN $2::date AND $3::date AND linked_account = $4::text
      GROUP BY day, unit
      ORDER BY day, unit
      LIMIT $5 OFFSET $6`,
    [q.orgId, q.from, q.to, q.account, q.limit + 1, q.offset],
  );
  return rows;
}

// Daily totals of one region over [from, to] (the region rollup is the only one with regions).
// Parameters: $1 org, $2 from, $3 to, $4 region, $5 limit + 1, $6 offset.
export async function dailyTotalsOfRegion(
  db: Queryable,
  q: RangeQuery & { region: string },
): Promise<DailyCostRow[]> {
  const { rows } = await db.query<DailyCostRow>(
    `SELECT day, NULL::text AS key, unit, sum(unblended_cost)::text AS unblended_cost,
            sum(amortized_cost)::text AS amortized_cost, sum(net_unblended_cost)::text AS net_unblended_cost,
            bool_or(estimated) AS estimated
       FROM cost_daily_region
      WHERE organization_id = $1 AND day BETWEEN $2::date AND $3::date AND region = $4::text
      GROUP BY day, unit
      ORDER BY day, unit
      LIMIT $5 OFFSET $6`,
    [q.orgId, q.from, q.to, q.region, q.limit + 1, q.offset],
  );
  return rows;
}

// Monthly cost per service for the months from from's month to to's month, optionally one service.
// Parameters: $1 org, $2 from, $3 to, $4 service or null, $5 limit + 1, $6 offset.
export async function monthlyCostsByService(
  db: Queryable,
  q: RangeQuery & { service: string | null },
): Promise<MonthlyCostRow[]> {
  const { rows } = await db.query<MonthlyCostRow>(
    `SELECT month, service AS key, unit, unblended_cost, amortized_cost, net_unblended_cost, estimated, days
       FROM cost_monthly_service
      WHERE organization_id = $1
        AND month BETWEEN date_trunc('month', $2::date)::date AND date_trunc('month', $3::date)::date
        AND ($4::text IS NULL OR service = $4::text)
      ORDER BY month, service, unit
      LIMIT $5 OFFSET $6`,
    [q.orgId, q.from, q.to, q.service, q.limit + 1, q.offset],
  );
  return rows;
}

// Monthly totals (sum over services) for the months from from's month to to's month.
// Parameters: $1 org, $2 from, $3 to, $4 service or null, $5 limit + 1, $6 offset.
export async function monthlyTotals(
  db: Queryable,
  q: RangeQuery & { service: string | null },
): Promise<MonthlyCostRow[]> {
  const { rows } = await db.query<MonthlyCostRow>(
    `SELECT month, NULL::text AS key, unit, sum(unblended_cost)::text AS unblended_cost,
            sum(amortized_cost)::text AS amortized_cost, sum(net_unblended_cost)::text AS net_unblended_cost,
            bool_or(estimated) AS estimated, max(days) AS days
       FROM cost_monthly_service
      WHERE organization_id = $1
        AND month BETWEEN date_trunc('month', $2::date)::date AND date_trunc('month', $3::date)::date
        AND ($4::text IS NULL OR service = $4::text)
      GROUP BY month, unit
      ORDER BY month, unit
      LIMIT $5 OFFSET $6`,
    [q.orgId, q.from, q.to, q.service, q.limit + 1, q.offset],
  );
  return rows;
}

export interface TopQuery {
  orgId: number;
  from: string;
  to: string;
  metric: CostMetric;
  limit: number;
}

// Services ranked by total cost over [from, to] (ties by name), at most `limit`.
// Parameters: $1 org, $2 from, $3 to, $4 metric (unblended|amortized|net_unblended), $5 limit.
export async function topServices(db: Queryable, q: TopQuery): Promise<RankedCost[]> {
  const { rows } = await db.query<RankedCost>(
    `SELECT service AS key, unit,
            sum(CASE $4::text WHEN 'amortized' THEN amortized_cost
                              WHEN 'net_unblended' THEN net_unblended_cost
                              ELSE unblended_cost END)::text AS amount
       FROM cost_daily_service
      WHERE organization_id = $1 AND day BETWEEN $2::date AND $3::date
      GROUP BY service, unit
      ORDER BY sum(CASE $4::text WHEN 'amortized' THEN amortized_cost
                                 WHEN 'net_unblended' THEN net_unblended_cost
                                 ELSE unblended_cost END) DESC, service, unit
      LIMIT $5`,
    [q.orgId, q.from, q.to, q.metric, q.limit],
  );
  return rows;
}

// Linked accounts ranked by total cost over [from, to] (ties by id), at most `limit`.
// Parameters: $1 org, $2 from, $3 to, $4 metric (unblended|amortized|net_unblended), $5 limit.
export async function topAccounts(db: Queryable, q: TopQuery): Promise<RankedCost[]> {
  const { rows } = await db.query<RankedCost>(
    `SELECT linked_account AS key, unit,
            sum(CASE $4::text WHEN 'amortized' THEN amortized_cost
                              WHEN 'net_unblended' THEN net_unblended_cost
                              ELSE unblended_cost END)::text AS amount
       FROM cost_daily_account
      WHERE organization_id = $1 AND day BETWEEN $2::date AND $3::date
      GROUP BY linked_account, unit
      ORDER BY sum(CASE $4::text WHEN 'amortized' THEN amortized_cost
                                 WHEN 'net_unblended' THEN net_unblended_cost
                                 ELSE unblended_cost END) DESC, linked_account, unit
      LIMIT $5`,
    [q.orgId, q.from, q.to, q.metric, q.limit],
  );
  return rows;
}

// Regions ranked by total cost over [from, to] (ties by name), at most `limit`.
// Parameters: $1 org, $2 from, $3 to, $4 metric (unblended|amortized|net_unblended), $5 limit.
export async function topRegions(db: Queryable, q: TopQuery): Promise<RankedCost[]> {
  const { rows } = await db.query<RankedCost>(
    `SELECT region AS key, unit,
            sum(CASE $4::text WHEN 'amortized' THEN amortized_cost
                              WHEN 'net_unblended' THEN net_unblended_cost
                              ELSE unblended_cost END)::text AS amount
       FROM cost_daily_region
      WHERE organization_id = $1 AND day BETWEEN $2::date AND $3::date
      GROUP BY region, unit
      ORDER BY sum(CASE $4::text WHEN 'amortized' THEN amortized_cost
                                 WHEN 'net_unblended' THEN net_unblended_cost
                                 ELSE unblended_cost END) DESC, region, unit
      LIMIT $5`,
    [q.orgId, q.from, q.to, q.metric, q.limit],
  );
  return rows;
}

// Month-to-date total against the same days of the previous month, per unit, with the change in %
// (rounded to 2 places; null when the previous period is zero). Parameters: $1 org, $2..$3 this
// period, $4..$5 previous period (inclusive), $6 metric (unblended|amortized|net_unblended).
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
              CASE $6::text WHEN 'amortized' THEN amortized_cost
                            WHEN 'net_unblended' THEN net_unblended_cost
                            ELSE unblended_cost END AS cost
         FROM cost_daily_service
        WHERE organization_id = $1
          AND (day BETWEEN $2::date AND $3::date OR day BETWEEN $4::date AND $5::date)
     ), totals AS (
       SELECT unit,
              coalesce(sum(cost) FILTER (WHERE day BETWEEN $2::date AND $3::date), 0) AS mtd,
              coalesce(sum(cost) FILTER (WHERE day BETWEEN $4::date AND $5::date), 0) AS prev
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
