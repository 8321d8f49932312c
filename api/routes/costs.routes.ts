/** /costs: daily, monthly, summary, forecast and top, all from the rollup tables, by any registry dimension. */
import * as costs from '../../database/repositories/costs.repository.js';
import { accountNames } from '../../database/repositories/dimensions.repository.js';
import { ApiError } from '../errors.js';
import { addDays, addMonths, startOfMonth, toIsoDate } from '../../lib/dates.js';
import { orgRoute, type Route } from '../routing.js';
import { asMoney, pageOf } from './common.schema.js';
import {
  dailyQuery,
  dailyResponse,
  forecastQuery,
  forecastResponse,
  monthlyQuery,
  monthlyResponse,
  summaryQuery,
  summaryResponse,
  topQuery,
  topResponse,
  filterDoc,
} from './costs.schema.js';
import type { Queryable } from '../../lib/db.js';

/** The filters of a planned query as the response echoes them. */
function filtersOf(q: {
  filters: Array<{ dimension: { name: string }; value: string }>;
}): Record<string, string> {
  return Object.fromEntries(q.filters.map((f) => [f.dimension.name, f.value]));
}

/** Adds `account: {id, name}` to rows keyed by account ids (names from the last fetch). */
async function withAccounts<T extends { key: string | null }>(
  db: Queryable,
  orgId: number,
  isAccount: boolean,
  rows: T[],
): Promise<Array<T & { account?: { id: string; name: string | null } }>> {
  if (!isAccount) return rows;
  const ids = rows.map((r) => r.key).filter((k): k is string => k !== null);
  const names = await accountNames(db, orgId, ids);
  return rows.map((r) =>
    r.key === null ? r : { ...r, account: { id: r.key, name: names.get(r.key) ?? null } },
  );
}

/** A total that may be unknown (net amortized cost over days loaded before migration 0012). */
function moneyOrNull(amount: string | null, unit: string) {
  return amount === null ? null : asMoney(amount, unit);
}

function costColumns(row: {
  unit: string;
  unblended_cost: string;
  amortized_cost: string;
  net_unblended_cost: string;
  net_amortized_cost: string | null;
  estimated: boolean;
}) {
  return {
    unblended_cost: asMoney(row.unblended_cost, row.unit),
    amortized_cost: asMoney(row.amortized_cost, row.unit),
    net_unblended_cost: asMoney(row.net_unblended_cost, row.unit),
    net_amortized_cost: moneyOrNull(row.net_amortized_cost, row.unit),
    estimated: row.estimated,
  };
}

function forecastItem(row: costs.ForecastRow) {
  return {
    month: row.month,
    amount: asMoney(row.amount, row.unit),
    lower_bound: row.lower_bound === null ? null : asMoney(row.lower_bound, row.unit),
    upper_bound: row.upper_bound === null ? null : asMoney(row.upper_bound, row.unit),
    fetched_at: row.fetched_at.toISOString(),
  };
}

/**
 * The page of a daily or monthly answer: the echoed query (range, group_by, filters), the page
 * fields, and the page's rows with `account: {id, name}` when grouped by account.
 */
async function pageWithAccounts<T extends { key: string | null }>(
  db: Queryable,
  orgId: number,
  query: {
    from: string;
    to: string;
    limit: number;
    offset: number;
    groupBy: { name: string } | null;
  } & Parameters<typeof filtersOf>[0],
  rows: T[],
) {
  const page = pageOf(rows, query.limit, query.offset);
  const grouped = query.groupBy?.name ?? 'none';
  const items = await withAccounts(db, orgId, grouped === 'account', page.items);
  const head = {
    organization_id: orgId,
    from: query.from,
    to: query.to,
    group_by: grouped,
    filters: filtersOf(query),
    ...page,
    items,
  };
  return { head, grouped, items };
}

/** The main unit of a set of totals: USD when present. */
function unitOf(totals: Array<{ unit: string }>): string {
  return totals.find((t) => t.unit === 'USD')?.unit ?? totals[0]?.unit ?? 'USD';
}

export const costRoutes: Route[] = [
  orgRoute({
    method: 'get',
    path: '/costs/daily',
    tag: 'costs',
    summary: 'Daily costs over an inclusive date range, by any dimension or in total',
    description: `Rows are ordered by date, then group. ${filterDoc} Range at most 400 days. Offset-paginated.`,
    cache: true,
    query: dailyQuery,
    response: dailyResponse,
    async handler({ app, orgId, query }) {
      const range = { orgId, from: query.from, to: query.to, limit: query.limit, offset: query.offset };
      const rows = await costs.dailyCosts(app.db, { ...range, plan: query.plan });
      const { head, grouped, items } = await pageWithAccounts(app.db, orgId, query, rows);
      return {
        ...head,
        items: items.map((r) => ({
          date: r.day,
          group: r.key,
          ...(r.account ? { account: r.account } : {}),
          ...(grouped === 'usage_type' ? { usage: asMoney(r.usage_quantity, r.usage_unit) } : {}),
          ...costColumns(r),
        })),
      };
    },
  }),
  orgRoute({
    method: 'get',
    path: '/costs/monthly',
    tag: 'costs',
    summary: 'Monthly costs of the months from `from` to `to`, by any dimension or in total',
    description:
      'Monthly rollups hold one dimension each: a filter combines with group_by of the same dimension or ' +
      'group_by=none (filters across service and another dimension: /costs/daily).',
    cache: true,
    query: monthlyQuery,
    response: monthlyResponse,
    async handler({ app, orgId, query }) {
      const { plan } = query;
      if (plan.source !== 'single') {
        const field = query.filters.find((f) => f.dimension.name !== query.groupBy?.name)?.dimension.name;
        throw new ApiError(
          'validation_failed',
          `${field ?? 'group_by'}: monthly rollups hold one dimension; filter on the grouped dimension, use group_by=none, or read /costs/daily`,
          field ?? 'group_by',
        );
      }
      const rows = await costs.monthlyCosts(app.db, {
        orgId,
        from: query.from,
        to: query.to,
        limit: query.limit,
        offset: query.offset,
        dimension: plan.dimension.name,
        key: plan.key,
        group: plan.group,
      });
      const { head } = await pageWithAccounts(app.db, orgId, query, rows);
      const items = head.items;
      return {
        ...head,
        items: items.map((r) => ({
          month: r.month,
          group: r.key,
          ...(r.account ? { account: r.account } : {}),
          ...costColumns(r),
          days: r.days,
        })),
      };
    },
  }),
  orgRoute({
    method: 'get',
    path: '/costs/summary',
    tag: 'costs',
    summary:
      'Month to date against the same days of last month, the forecast of the month, and the top services',
    cache: true,
    query: summaryQuery,
    response: summaryResponse,
    async handler({ app, orgId, query, now }) {
      const today = toIsoDate(now);
      const monthStart = startOfMonth(today);
      const previousFrom = addMonths(today, -1);
      const previousMonthEnd = addDays(monthStart, -1);
      const sameDay = addDays(previousFrom, Number(today.slice(8, 10)) - 1);
      const previousTo = sameDay < previousMonthEnd ? sameDay : previousMonthEnd;
      const [comparison, forecasts, top, records] = await Promise.all([
        costs.compareMonthToDate(app.db, {
          orgId,
          from: monthStart,
          to: today,
          previousFrom,
          previousTo,
          metric: query.metric,
        }),
        costs.listForecasts(app.db, orgId, monthStart),
        costs.topCosts(app.db, {
          orgId,
          from: monthStart,
          to: today,
          metric: query.metric,
          limit: query.top,
          dimension: 'service',
        }),
        costs.recordTypeTotals(app.db, { orgId, from: monthStart, to: today, metric: query.metric }),
      ]);
      const byRecord = records.find((r) => r.unit === unitOf(comparison)) ?? records[0];
      const main = comparison.find((c) => c.unit === unitOf(comparison)) ?? comparison[0];
      const unit = main?.unit ?? 'USD';
      const forecast = forecasts.find((f) => f.month === monthStart);
      return {
        organization_id: orgId,
        metric: query.metric,
        as_of: today,
        month_to_date: {
          from: monthStart,
          to: today,
          total: main ? moneyOrNull(main.month_to_date, unit) : asMoney('0', unit),
        },
        previous_period: {
          from: previousFrom,
          to: previousTo,
          total: main ? moneyOrNull(main.previous_period, unit) : asMoney('0', unit),
        },
        change_percent: main?.change_percent ?? null,
        forecast: forecast ? forecastItem(forecast) : null,
        top_services: top.map((t) => ({ service: t.key, total: moneyOrNull(t.amount, t.unit) })),
        record_types: byRecord
          ? {
              gross_usage: moneyOrNull(byRecord.usage, byRecord.unit),
              credits: moneyOrNull(byRecord.credits, byRecord.unit),
              refunds: moneyOrNull(byRecord.refunds, byRecord.unit),
              other: moneyOrNull(byRecord.other, byRecord.unit),
              net: moneyOrNull(byRecord.net, byRecord.unit),
            }
          : null,
        other_units: comparison
          .filter((c) => c !== main)
          .map((c) => ({
            unit: c.unit,
            month_to_date: moneyOrNull(c.month_to_date, c.unit),
            previous_period: moneyOrNull(c.previous_period, c.unit),
          })),
      };
    },
  }),
  orgRoute({
    method: 'get',
    path: '/costs/forecast',
    tag: 'costs',
    summary: "Cost Explorer's forecasts from the current month on",
    cache: true,
    query: forecastQuery,
    response: forecastResponse,
    async handler({ app, orgId, now }) {
      const rows = await costs.listForecasts(app.db, orgId, startOfMonth(toIsoDate(now)));
      return { organization_id: orgId, items: rows.map(forecastItem) };
    },
  }),
  orgRoute({
    method: 'get',
    path: '/costs/top',
    tag: 'costs',
    summary:
      'The values of a dimension (services, accounts, tag values, ...) that cost the most over an inclusive date range',
    cache: true,
    query: topQuery,
    response: topResponse,
    async handler({ app, orgId, query }) {
      const rows = await costs.topCosts(app.db, {
        orgId,
        from: query.from,
        to: query.to,
        metric: query.metric,
        limit: query.limit,
        dimension: query.dimension,
      });
      const isAccount = query.dimension === 'account';
      return {
        organization_id: orgId,
        from: query.from,
        to: query.to,
        dimension: query.dimension,
        metric: query.metric,
        items: rows.map((r, i) => ({
          rank: i + 1,
          key: r.key,
          ...(isAccount ? { account: { id: r.key, name: r.account_name } } : {}),
          total: moneyOrNull(r.amount, r.unit),
        })),
      };
    },
  }),
];
