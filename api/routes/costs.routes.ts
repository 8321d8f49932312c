/** /costs: daily, monthly, summary, forecast and top, all from the rollup tables. */
import * as costs from '../../database/repositories/costs.repository.js';
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
  type DailyQuery,
} from './costs.schema.js';
import type { Queryable } from '../../lib/db.js';

function dailyRows(db: Queryable, orgId: number, q: DailyQuery): Promise<costs.DailyCostRow[]> {
  const range = { orgId, from: q.from, to: q.to, limit: q.limit, offset: q.offset };
  switch (q.group_by) {
    case 'service':
      return costs.dailyCostsByService(db, { ...range, service: q.service ?? null });
    case 'account':
      return costs.dailyCostsByAccount(db, { ...range, account: q.account ?? null });
    case 'region':
      return costs.dailyCostsByRegion(db, { ...range, region: q.region ?? null });
    case 'none':
      if (q.account !== undefined) return costs.dailyTotalsOfAccount(db, { ...range, account: q.account });
      if (q.region !== undefined) return costs.dailyTotalsOfRegion(db, { ...range, region: q.region });
      return costs.dailyTotalsFromServices(db, { ...range, service: q.service ?? null });
  }
}

function costColumns(row: {
  unit: string;
  unblended_cost: string;
  amortized_cost: string;
  net_unblended_cost: string;
  estimated: boolean;
}) {
  return {
    unblended_cost: asMoney(row.unblended_cost, row.unit),
    amortized_cost: asMoney(row.amortized_cost, row.unit),
    net_unblended_cost: asMoney(row.net_unblended_cost, row.unit),
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

export const costRoutes: Route[] = [
  orgRoute({
    method: 'get',
    path: '/costs/daily',
    tag: 'costs',
    summary: 'Daily costs over an inclusive date range, by service, account, region or in total',
    description:
      'Rows are ordered by date, then group. Filters: service (with group_by=service or none), account (with ' +
      'group_by=account or none), region (with group_by=region or none). Range at most 400 days. Offset-paginated.',
    cache: true,
    query: dailyQuery,
    response: dailyResponse,
    async handler({ app, orgId, query }) {
      const rows = await dailyRows(app.db, orgId, query);
      const page = pageOf(rows, query.limit, query.offset);
      return {
        organization_id: orgId,
        from: query.from,
        to: query.to,
        group_by: query.group_by,
        ...page,
        items: page.items.map((r) => ({ date: r.day, group: r.key, ...costColumns(r) })),
      };
    },
  }),
  orgRoute({
    method: 'get',
    path: '/costs/monthly',
    tag: 'costs',
    summary: 'Monthly costs of the months from `from` to `to`, by service or in total',
    cache: true,
    query: monthlyQuery,
    response: monthlyResponse,
    async handler({ app, orgId, query }) {
      const args = {
        orgId,
        from: query.from,
        to: query.to,
        service: query.service ?? null,
        limit: query.limit,
        offset: query.offset,
      };
      const rows =
        query.group_by === 'service'
          ? await costs.monthlyCostsByService(app.db, args)
          : await costs.monthlyTotals(app.db, args);
      const page = pageOf(rows, query.limit, query.offset);
      return {
        organization_id: orgId,
        from: query.from,
        to: query.to,
        group_by: query.group_by,
        ...page,
        items: page.items.map((r) => ({ month: r.month, group: r.key, ...costColumns(r), days: r.days })),
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
      const [comparison, forecasts, top] = await Promise.all([
        costs.compareMonthToDate(app.db, {
          orgId,
          from: monthStart,
          to: today,
          previousFrom,
          previousTo,
          metric: query.metric,
        }),
        costs.listForecasts(app.db, orgId, monthStart),
        costs.topServices(app.db, {
          orgId,
          from: monthStart,
          to: today,
          metric: query.metric,
          limit: query.top,
        }),
      ]);
      const main = comparison.find((c) => c.unit === 'USD') ?? comparison[0];
      const unit = main?.unit ?? 'USD';
      const forecast = forecasts.find((f) => f.month === monthStart);
      return {
        organization_id: orgId,
        metric: query.metric,
        as_of: today,
        month_to_date: { from: monthStart, to: today, total: asMoney(main?.month_to_date ?? '0', unit) },
        previous_period: {
          from: previousFrom,
          to: previousTo,
          total: asMoney(main?.previous_period ?? '0', unit),
        },
        change_percent: main?.change_percent ?? null,
        forecast: forecast ? forecastItem(forecast) : null,
        top_services: top.map((t) => ({ service: t.key, total: asMoney(t.amount, t.unit) })),
        other_units: comparison
          .filter((c) => c !== main)
          .map((c) => ({
            unit: c.unit,
            month_to_date: asMoney(c.month_to_date, c.unit),
            previous_period: asMoney(c.previous_period, c.unit),
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
    summary: 'The services, accounts or regions that cost the most over an inclusive date range',
    cache: true,
    query: topQuery,
    response: topResponse,
    async handler({ app, orgId, query }) {
      const args = { orgId, from: query.from, to: query.to, metric: query.metric, limit: query.limit };
      const rows =
        query.dimension === 'service'
          ? await costs.topServices(app.db, args)
          : query.dimension === 'account'
            ? await costs.topAccounts(app.db, args)
            : await costs.topRegions(app.db, args);
      return {
        organization_id: orgId,
        from: query.from,
        to: query.to,
        dimension: query.dimension,
        metric: query.metric,
        items: rows.map((r, i) => ({ rank: i + 1, key: r.key, total: asMoney(r.amount, r.unit) })),
      };
    },
  }),
];
