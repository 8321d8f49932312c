/**
 * Budgets and their evaluation. The evaluation reads rollups only (the generic cost_rollup_daily
 * and cost_rollup_monthly of migration 0008, by scope dimension: service, account, region,
 * record_type, usage_type, tag:<key>, cost_category:<name>) and the stored Cost Explorer forecast
 * (cost_forecasts), and fires alerts
 * with INSERT ... ON CONFLICT DO NOTHING on budget_alerts' unique key (budget, period start,
 * threshold, kind): whatever the replicas, retries or crashes, the database decides "once". The
 * outbox rows of a new alert are inserted by the same statement, so an alert never exists without
 * its deliveries. See docs/ALERTS.md for the forecast projection.
 */
import type { Queryable } from '../../lib/db.js';
import type { BudgetScope } from '../../lib/budget-scope.js';

export type BudgetPeriod = 'monthly' | 'quarterly' | 'annual';
export type BudgetMetric = 'unblended' | 'amortized' | 'net_unblended';
export type ThresholdKind = 'actual' | 'forecasted';

export interface Threshold {
  percent: number;
  kind: ThresholdKind;
}

export interface Budget {
  id: number;
  organizationId: number;
  name: string;
  period: BudgetPeriod;
  amount: string;
  currency: string;
  metric: BudgetMetric;
  scope: BudgetScope;
  thresholds: Threshold[];
  channelIds: number[];
  createdAt: Date;
  updatedAt: Date;
}

export interface BudgetInput {
  name: string;
  period: BudgetPeriod;
  amount: string;
  currency: string;
  metric: BudgetMetric;
  scope: BudgetScope;
  thresholds: Threshold[];
  channelIds: number[];
}

const BUDGET_COLUMNS = `b.id::int AS id, b.organization_id::int AS "organizationId", b.name, b.period, b.amount::text AS amount,
  b.currency, b.metric, b.scope, b.created_at AS "createdAt", b.updated_at AS "updatedAt",
  coalesce((SELECT json_agg(json_build_object('percent', t.percent::float8, 'kind', t.kind) ORDER BY t.kind, t.percent)
              FROM budget_thresholds t WHERE t.budget_id = b.id), '[]'::json) AS thresholds,
  coalesce((SELECT array_agg(c.channel_id::int ORDER BY c.channel_id) FROM budget_channels c WHERE c.budget_id = b.id), '{}') AS "channelIds"`;

// listBudgets: an organization's budgets (or the given ones), by id.
// Params: org, ids or null.
export async function listBudgets(
  db: Queryable,
  orgId: number,
  ids: number[] | null = null,
): Promise<Budget[]> {
  const { rows } = await db.query<Budget>(
    `SELECT ${BUDGET_COLUMNS} FROM budgets b WHERE b.organization_id = $1 AND ($2::bigint[] IS NULL OR b.id = ANY($2)) ORDER BY b.id`,
    [orgId, ids],
  );
  return rows;
}

/** Channel ids of `ids` that are not channels of the organization (to refuse them with a 400). */
// foreignChannels: the given channel ids that do not belong to the organization. Params: org, ids.
export async function foreignChannels(db: Queryable, orgId: number, ids: number[]): Promise<number[]> {
  if (ids.length === 0) return [];
  const { rows } = await db.query<{ id: number }>(
    `SELECT x::int AS id FROM unnest($2::bigint[]) x
      WHERE NOT EXISTS (SELECT 1 FROM notification_channels c WHERE c.id = x AND c.organization_id = $1)`,
    [orgId, ids],
  );
  return rows.map((r) => r.id);
}

// createBudget: inserts a budget with its thresholds and channels in one statement.
// Params: org, name, period, amount, currency, metric, scope, threshold percents, kinds, channel ids.
export async function createBudget(db: Queryable, orgId: number, b: BudgetInput): Promise<number> {
  const { rows } = await db.query<{ id: number }>(
    `WITH nb AS (
       INSERT INTO budgets (organization_id, name, period, amount, currency, metric, scope)
       VALUES ($1, $2, $3, $4::numeric, $5, $6, $7::jsonb) RETURNING id),
     th AS (
       INSERT INTO budget_thresholds (budget_id, percent, kind)
       SELECT nb.id, p, k FROM nb, unnest($8::numeric[], $9::text[]) AS x(p, k)),
     ch AS (
       INSERT INTO budget_channels (budget_id, channel_id)
       SELECT nb.id, c FROM nb, unnest($10::bigint[]) AS c)
     SELECT id::int AS id FROM nb`,
    [
      orgId,
      b.name,
      b.period,
      b.amount,
      b.currency,
      b.metric,
      JSON.stringify(b.scope),
      b.thresholds.map((t) => t.percent),
      b.thresholds.map((t) => t.kind),
      b.channelIds,
    ],
  );
  const created = rows[0];
  if (!created) throw new Error('insert returned no row');
  return created.id;
}

// updateBudget: replaces the fields given (thresholds and channels as whole lists). Alerts already
// fired stay (they key on percent and kind, not on threshold rows). Params: org, id, the fields.
export async function updateBudget(
  db: Queryable,
  orgId: number,
  id: number,
  patch: Partial<BudgetInput>,
): Promise<boolean> {
  const { rows } = await db.query<{ id: number }>(
    `WITH ub AS (
       UPDATE budgets SET name = coalesce($3, name), period = coalesce($4, period), amount = coalesce($5::numeric, amount),
              currency = coalesce($6, currency), metric = coalesce($7, metric), scope = coalesce($8::jsonb, scope), updated_at = now()
        WHERE id = $2 AND organization_id = $1 RETURNING id),
     dt AS (DELETE FROM budget_thresholds t USING ub WHERE $9::numeric[] IS NOT NULL AND t.budget_id = ub.id
              AND (t.percent, t.kind) NOT IN (SELECT * FROM unnest($9::numeric[], $10::text[]))),
     it AS (INSERT INTO budget_thresholds (budget_id, percent, kind)
              SELECT ub.id, p, k FROM ub, unnest($9::numeric[], $10::text[]) AS x(p, k) WHERE $9::numeric[] IS NOT NULL
              ON CONFLICT (budget_id, percent, kind) DO NOTHING),
     dc AS (DELETE FROM budget_channels c USING ub WHERE $11::bigint[] IS NOT NULL AND c.budget_id = ub.id AND c.channel_id <> ALL($11)),
     ic AS (INSERT INTO budget_channels (budget_id, channel_id)
              SELECT ub.id, c FROM ub, unnest($11::bigint[]) AS c WHERE $11::bigint[] IS NOT NULL
              ON CONFLICT DO NOTHING)
     SELECT id::int AS id FROM ub`,
    [
      orgId,
      id,
      patch.name ?? null,
      patch.period ?? null,
      patch.amount ?? null,
      patch.currency ?? null,
      patch.metric ?? null,
      patch.scope ? JSON.stringify(patch.scope) : null,
      patch.thresholds ? patch.thresholds.map((t) => t.percent) : null,
      patch.thresholds ? patch.thresholds.map((t) => t.kind) : null,
      patch.channelIds ?? null,
    ],
  );
  return rows.length > 0;
}

// deleteBudget: removes a budget (its thresholds, channel links and alerts go with it).
// Params: org, id.
export async function deleteBudget(db: Queryable, orgId: number, id: number): Promise<boolean> {
  const { rowCount } = await db.query(`DELETE FROM budgets WHERE id = $2 AND organization_id = $1`, [
    orgId,
    id,
  ]);
  return (rowCount ?? 0) > 0;
}

/**
 * The evaluation of an organization's budgets on `today` ($1 org, $2 today, $3 budget ids or null):
 * one row per (budget, threshold) with the period, actual and forecasted spend (numeric), the
 * threshold's amount and its spend of the threshold's kind. Reads rollups and cost_forecasts only.
 *
 * Forecast = actual of the period + the org's forecast of the rest of the current month x share +
 * (months of the period after the current one) x the org's projected current month x share, where
 * share = the scope's spend of the budget's metric / the org's unblended spend over the 30 days
 * before today (1 for an unscoped budget without history). Null without a stored forecast.
 */
const EVALUATION = `
  -- the current month [ms, me) and the first day of the trailing 30-day window (tr <= ms always)
  mon AS (SELECT date_trunc('month', $2::date)::date AS ms, (date_trunc('month', $2::date) + interval '1 month')::date AS me,
                 $2::date - 30 AS tr),
  b AS (
    SELECT b.id, b.name, b.period, b.amount, b.currency, b.metric, b.scope, d.dim,
           ARRAY(SELECT jsonb_array_elements_text(b.scope -> d.dim)) AS vals,
           date_trunc(p.unit, $2::date)::date AS ps, (date_trunc(p.unit, $2::date) + p.len)::date AS pe
      FROM budgets b
      CROSS JOIN LATERAL (SELECT coalesce((SELECT k FROM jsonb_object_keys(b.scope) k ORDER BY k LIMIT 1), '') AS dim) d
      CROSS JOIN LATERAL (SELECT CASE b.period WHEN 'monthly' THEN 'month' WHEN 'quarterly' THEN 'quarter' ELSE 'year' END AS unit,
                                 CASE b.period WHEN 'monthly' THEN interval '1 month' WHEN 'quarterly' THEN interval '3 months' ELSE interval '1 year' END AS len) p
     WHERE b.organization_id = $1 AND ($3::bigint[] IS NULL OR b.id = ANY($3))),
  -- What is read, and only that: whole months of the period before the current month from the
  -- monthly rollup (one row per value and month), and the days from tr on from the daily rollup
  -- (the trailing window and the current month), both on their primary keys (organization,
  -- dimension, month or day, key). service is read whole (the organization's totals); a scope
  -- dimension only for its values (key = ANY(...) is an index condition: other values' rows are
  -- never fetched). p0 = the earliest period start that needs whole months (NULL: none).
  w AS (
    SELECT b.dim, array_agg(DISTINCT v) AS vals, min(b.ps) FILTER (WHERE b.ps < mon.ms) AS p0
      FROM b CROSS JOIN mon CROSS JOIN LATERAL unnest(b.vals) v
     WHERE b.dim NOT IN ('', 'service') GROUP BY b.dim),
  ws AS (
    SELECT min(b.ps) FILTER (WHERE b.ps < mon.ms AND b.dim IN ('', 'service')) AS p0
      FROM b CROSS JOIN mon HAVING count(*) > 0),
  -- Day buckets between the boundaries the sums need: tr, the current month, today, every period end.
  bounds AS (
    SELECT array_agg(DISTINCT x ORDER BY x) AS xs
      FROM (SELECT b.pe AS x FROM b UNION ALL SELECT tr FROM mon UNION ALL SELECT ms FROM mon UNION ALL SELECT me FROM mon
            UNION ALL SELECT $2::date) v),
  dd AS (
    SELECT r.dimension AS dim, r.key AS k, width_bucket(r.day, bounds.xs) AS seg,
           sum(r.unblended_cost) AS u, sum(r.amortized_cost) AS a, sum(r.net_unblended_cost) AS n
      FROM ws, mon, bounds, cost_rollup_daily r
     WHERE r.organization_id = $1 AND r.dimension = 'service' AND r.day >= mon.tr AND r.day < bounds.xs[cardinality(bounds.xs)]
       AND r.unit = 'USD'
     GROUP BY 1, 2, 3
    UNION ALL
    SELECT r.dimension, r.key, width_bucket(r.day, bounds.xs), sum(r.unblended_cost), sum(r.amortized_cost), sum(r.net_unblended_cost)
      FROM w, mon, bounds, cost_rollup_daily r
     WHERE r.organization_id = $1 AND r.dimension = w.dim AND r.day >= mon.tr AND r.day < bounds.xs[cardinality(bounds.xs)]
       AND r.key = ANY(w.vals) AND r.unit = 'USD'
     GROUP BY 1, 2, 3),
  -- whole: a month of the monthly rollup (before the current month); otherwise a day bucket from
  -- its first day lo. A budget adds whole months from its period start and day buckets from the
  -- current month on; the trailing window adds day buckets only (never a month: no double count
  -- when tr is the first day of the previous month).
  sg AS MATERIALIZED (
    SELECT m.dimension AS dim, m.key AS k, true AS whole, m.month AS lo,
           m.unblended_cost AS u, m.amortized_cost AS a, m.net_unblended_cost AS n
      FROM ws, mon, cost_rollup_monthly m
     WHERE m.organization_id = $1 AND m.dimension = 'service' AND m.month >= ws.p0 AND m.month < mon.ms AND m.unit = 'USD'
    UNION ALL
    SELECT m.dimension, m.key, true, m.month, m.unblended_cost, m.amortized_cost, m.net_unblended_cost
      FROM w, mon, cost_rollup_monthly m
     WHERE m.organization_id = $1 AND m.dimension = w.dim AND m.month >= w.p0 AND m.month < mon.ms
       AND m.key = ANY(w.vals) AND m.unit = 'USD'
    UNION ALL
    SELECT dd.dim, dd.k, false, bounds.xs[dd.seg], dd.u, dd.a, dd.n FROM dd, bounds),
  -- MATERIALIZED: computed once, not once per budget of the join below
  org AS MATERIALIZED (
    SELECT coalesce(sum(sg.u) FILTER (WHERE sg.lo >= mon.ms AND sg.lo < mon.me), 0) AS month_actual,
           coalesce(sum(sg.u) FILTER (WHERE sg.lo >= mon.tr AND sg.lo < $2::date), 0) AS trailing,
           (SELECT f.amount FROM cost_forecasts f WHERE f.organization_id = $1 AND f.month = mon.ms AND f.unit = 'USD') AS forecast
      FROM mon LEFT JOIN sg ON sg.dim = 'service' AND NOT sg.whole GROUP BY mon.ms, mon.me, mon.tr),
  s AS (
    SELECT b.id,
           coalesce(sum(CASE b.metric WHEN 'amortized' THEN r.a WHEN 'net_unblended' THEN r.n ELSE r.u END)
                      FILTER (WHERE CASE WHEN r.whole THEN r.lo >= b.ps ELSE r.lo >= mon.ms AND r.lo < b.pe END), 0) AS actual,
           coalesce(sum(CASE b.metric WHEN 'amortized' THEN r.a WHEN 'net_unblended' THEN r.n ELSE r.u END)
                      FILTER (WHERE NOT r.whole AND r.lo >= mon.tr AND r.lo < $2::date), 0) AS trailing
      FROM b CROSS JOIN mon LEFT JOIN sg r
        ON (r.dim = b.dim OR (b.dim = '' AND r.dim = 'service')) AND (b.dim = '' OR r.k = ANY(b.vals))
     GROUP BY b.id),
  e AS (
    SELECT b.*, s.actual,
           CASE WHEN org.forecast IS NULL THEN NULL ELSE round(
             s.actual + (greatest(org.forecast - org.month_actual, 0)
               + greatest(org.forecast, org.month_actual)
                 * ((extract(year FROM b.pe) * 12 + extract(month FROM b.pe)) - (extract(year FROM mon.me) * 12 + extract(month FROM mon.me))))
             * (CASE WHEN org.trailing > 0 THEN s.trailing / org.trailing WHEN b.dim = '' THEN 1 ELSE 0 END), 2)
           END AS forecast
      FROM b JOIN s USING (id) CROSS JOIN org CROSS JOIN mon),
  t AS (
    SELECT e.*, th.percent, th.kind, trim_scale(e.amount * th.percent / 100) AS threshold_amount,
           CASE th.kind WHEN 'actual' THEN e.actual ELSE e.forecast END AS spend
      FROM e JOIN budget_thresholds th ON th.budget_id = e.id)`;

export interface ThresholdState {
  budgetId: number;
  percent: number;
  kind: ThresholdKind;
  periodStart: string;
  periodEnd: string;
  actual: string;
  forecast: string | null;
  thresholdAmount: string;
  crossed: boolean;
  alertId: number | null;
  firedAt: Date | null;
  belowSince: Date | null;
  restatements: number;
}

// budgetStates: every threshold of the organization's budgets (or the given ones) on `today`, with
// its spend, whether it is crossed now and the alert of this period if one fired. Read-only.
// Params: org, today, ids or null.
export async function budgetStates(
  db: Queryable,
  orgId: number,
  today: string,
  ids: number[] | null = null,
): Promise<ThresholdState[]> {
  const { rows } = await db.query<ThresholdState>(
    `WITH ${EVALUATION}
     SELECT t.id::int AS "budgetId", t.percent::float8 AS percent, t.kind, to_char(t.ps, 'YYYY-MM-DD') AS "periodStart",
            to_char(t.pe, 'YYYY-MM-DD') AS "periodEnd", t.actual::text AS actual, t.forecast::text AS forecast,
            t.threshold_amount::text AS "thresholdAmount", coalesce(t.spend >= t.threshold_amount, false) AS crossed,
            a.id::int AS "alertId", a.fired_at AS "firedAt", a.below_since AS "belowSince", coalesce(a.restatements, 0) AS restatements
       FROM t LEFT JOIN budget_alerts a
         ON a.budget_id = t.id AND a.period_start = t.ps AND a.threshold_percent = t.percent AND a.kind = t.kind
      ORDER BY t.id, t.kind, t.percent`,
    [orgId, today, ids],
  );
  return rows;
}

export interface EvaluationResult {
  /** Alerts this evaluation fired (none when another evaluation fired them first). */
  fired: Array<{ alertId: number; budgetId: number; percent: number; kind: ThresholdKind }>;
  /** Outbox rows created for them, to hand to the notifications queue. */
  deliveryIds: string[];
  /** Alerts whose recorded spend changed (restatements below or back above). */
  updated: number;
}

/** The evaluateBudgets statement ($1 org, $2 today, $3 budget ids or null, $4 the clock's instant,
 * $5 delivery deadline in seconds); exported for the benchmark's EXPLAIN. */
export const EVALUATE_STATEMENT = `WITH ${EVALUATION},
     -- each threshold with this period's alert if one fired (one probe of the unique key each);
     -- the alerts are inserted for the others only, and updated only where the spend changed
     cur AS MATERIALIZED (
       SELECT t.*, a.id AS alert_id, a.current_spend AS alert_spend, a.below_since AS alert_below_since
         FROM t LEFT JOIN budget_alerts a
           ON a.budget_id = t.id AND a.period_start = t.ps AND a.threshold_percent = t.percent AND a.kind = t.kind),
     ins AS (
       INSERT INTO budget_alerts (organization_id, budget_id, period_start, period_end, threshold_percent, kind, budget_amount,
                                  currency, threshold_amount, spend_at_fire, actual_at_fire, forecast_at_fire, fired_at,
                                  current_spend, last_evaluated_at)
       SELECT $1, t.id, t.ps, t.pe, t.percent, t.kind, t.amount, t.currency, t.threshold_amount, t.spend, t.actual, t.forecast,
              $4::timestamptz, t.spend, now()
         FROM cur t WHERE t.alert_id IS NULL AND t.spend >= t.threshold_amount
       -- a concurrent evaluation may have fired it since: the unique key still decides
       ON CONFLICT (budget_id, period_start, threshold_percent, kind) DO NOTHING
       RETURNING *),
     outbox AS (
       INSERT INTO notification_outbox (organization_id, channel_id, alert_id, source_key, type, data, deadline_at, created_at)
       SELECT ins.organization_id, bc.channel_id, ins.id, 'budget_alert_' || ins.id, 'budget.threshold_crossed',
              jsonb_build_object(
                'alert_id', ins.id,
                'budget', jsonb_build_object('id', t.id, 'name', t.name, 'period', t.period, 'metric', t.metric, 'scope', t.scope,
                                             'amount', jsonb_build_object('amount', t.amount::text, 'unit', t.currency)),
                'period', jsonb_build_object('start', to_char(t.ps, 'YYYY-MM-DD'), 'end', to_char(t.pe - 1, 'YYYY-MM-DD')),
                'threshold', jsonb_build_object('percent', t.percent::float8, 'kind', t.kind),
                'threshold_amount', jsonb_build_object('amount', t.threshold_amount::text, 'unit', t.currency),
                'spend', jsonb_build_object('amount', t.spend::text, 'unit', t.currency),
                'actual', jsonb_build_object('amount', t.actual::text, 'unit', t.currency),
                'forecast', CASE WHEN t.forecast IS NULL THEN NULL ELSE jsonb_build_object('amount', t.forecast::text, 'unit', t.currency) END,
                'fired_at', to_char($4::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')),
              now() + make_interval(secs => $5), $4::timestamptz
         FROM ins
         JOIN cur t ON t.id = ins.budget_id AND t.percent = ins.threshold_percent AND t.kind = ins.kind
         JOIN budget_channels bc ON bc.budget_id = ins.budget_id
       ON CONFLICT (channel_id, source_key) DO NOTHING
       RETURNING id),
     upd AS (
       UPDATE budget_alerts a
          SET current_spend = t.spend, last_evaluated_at = now(),
              below_since = CASE WHEN t.spend < t.threshold_amount THEN coalesce(a.below_since, $4::timestamptz) END,
              first_below_at = CASE WHEN t.spend < t.threshold_amount THEN coalesce(a.first_below_at, $4::timestamptz) ELSE a.first_below_at END,
              restatements = a.restatements + (t.spend < t.threshold_amount AND a.below_since IS NULL)::int
         FROM cur t
        WHERE a.id = t.alert_id AND t.spend IS NOT NULL
          -- only when something changed: the spend, or which side of the threshold it is on (a changed
          -- amount); checked on the snapshot first (no probe for unchanged alerts), then on the row
          AND (t.alert_spend IS DISTINCT FROM t.spend OR (t.alert_below_since IS NULL) <> (t.spend >= t.threshold_amount))
          AND (a.current_spend IS DISTINCT FROM t.spend OR (a.below_since IS NULL) <> (t.spend >= t.threshold_amount))
       RETURNING a.id)
     SELECT (SELECT json_agg(json_build_object('alertId', id, 'budgetId', budget_id, 'percent', threshold_percent::float8, 'kind', kind)) FROM ins) AS fired,
            (SELECT array_agg(id::text) FROM outbox) AS deliveries,
            (SELECT count(*)::int FROM upd) AS updated`;

/**
 * evaluateBudgets: evaluates the organization's budgets on `today` in one statement: inserts the
 * alerts of every crossed threshold (ON CONFLICT DO NOTHING: fired once), their outbox rows (one
 * per channel of the budget) and records the spend of the alerts already fired in this period —
 * below_since / restatements when a restatement brought it under the threshold.
 * Params: $1 org, $2 today, $3 budget ids or null, $4 the clock's instant (fired_at, created_at),
 * $5 delivery deadline in seconds.
 */
export async function evaluateBudgets(
  db: Queryable,
  input: { orgId: number; today: string; now: Date; deadlineSeconds: number; budgetIds?: number[] | null },
): Promise<EvaluationResult> {
  const { rows } = await db.query<{
    fired: EvaluationResult['fired'] | null;
    deliveries: string[] | null;
    updated: number;
  }>({
    // Named: prepared once per connection, so a rollup's evaluation does not re-plan this statement.
    name: 'cw-evaluate-budgets',
    text: EVALUATE_STATEMENT,
    values: [input.orgId, input.today, input.budgetIds ?? null, input.now, input.deadlineSeconds],
  });
  const row = rows[0];
  return { fired: row?.fired ?? [], deliveryIds: row?.deliveries ?? [], updated: row?.updated ?? 0 };
}
