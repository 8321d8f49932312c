/**
 * Request and response schemas of /costs. Rollups hold one dimension each (service, linked
 * account, region), so a filter on one dimension combines with group_by of the same dimension or
 * with group_by=none, never with another dimension.
 */
import { z } from 'zod';
import {
  checkRange,
  isoDate,
  limitParam,
  money,
  offsetPage,
  offsetParam,
  orgIdParam,
  textFilter,
} from './common.schema.js';

export const MAX_DAILY_RANGE_DAYS = 400;
export const MAX_MONTHLY_RANGE_DAYS = 1200;

const metric = z
  .enum(['unblended', 'amortized', 'net_unblended'])
  .default('unblended')
  .describe('cost column: unblended (default), amortized or net_unblended');

const dimensionOfFilter = { service: 'service', account: 'account', region: 'region' } as const;

export const dailyQuery = z
  .strictObject({
    org_id: orgIdParam,
    from: isoDate.describe('first day, inclusive (YYYY-MM-DD)'),
    to: isoDate.describe('last day, inclusive (YYYY-MM-DD)'),
    group_by: z
      .enum(['service', 'account', 'region', 'none'])
      .default('service')
      .describe('dimension of each row (default service)'),
    service: textFilter('only this service, e.g. "Amazon Elastic Compute Cloud - Compute"'),
    account: textFilter('only this linked account id'),
    region: textFilter('only this region, e.g. us-east-1'),
    limit: limitParam,
    offset: offsetParam,
  })
  .superRefine((q, ctx) => {
    checkRange(q, ctx, MAX_DAILY_RANGE_DAYS);
    const filters = (Object.keys(dimensionOfFilter) as (keyof typeof dimensionOfFilter)[]).filter(
      (k) => q[k] !== undefined,
    );
    if (filters.length > 1) {
      ctx.addIssue({
        code: 'custom',
        path: [filters[1] ?? 'service'],
        message: 'filter on at most one of service, account, region',
      });
      return;
    }
    const filter = filters[0];
    if (filter && q.group_by !== 'none' && q.group_by !== dimensionOfFilter[filter]) {
      ctx.addIssue({
        code: 'custom',
        path: [filter],
        message: `cannot filter by ${filter} while grouping by ${q.group_by}; use group_by=${dimensionOfFilter[filter]} or group_by=none`,
      });
    }
  });
export type DailyQuery = z.output<typeof dailyQuery>;

const costColumns = {
  unblended_cost: money,
  amortized_cost: money,
  net_unblended_cost: money,
  estimated: z.boolean().describe('AWS still flags some of this cost as Estimated'),
};

export const dailyResponse = z.object({
  organization_id: z.number().int(),
  from: z.string(),
  to: z.string(),
  group_by: z.enum(['service', 'account', 'region', 'none']),
  items: z.array(
    z.object({
      date: z.string().describe('YYYY-MM-DD'),
      group: z.string().nullable().describe('the service, account or region; null with group_by=none'),
      ...costColumns,
    }),
  ),
  ...offsetPage,
});

export const monthlyQuery = z
  .strictObject({
    org_id: orgIdParam,
    from: isoDate.describe('a day of the first month (YYYY-MM-DD)'),
    to: isoDate.describe('a day of the last month, inclusive (YYYY-MM-DD)'),
    group_by: z.enum(['service', 'none']).default('service').describe('service (default) or none'),
    service: textFilter('only this service'),
    limit: limitParam,
    offset: offsetParam,
  })
  .superRefine((q, ctx) => checkRange(q, ctx, MAX_MONTHLY_RANGE_DAYS));

export const monthlyResponse = z.object({
  organization_id: z.number().int(),
  from: z.string(),
  to: z.string(),
  group_by: z.enum(['service', 'none']),
  items: z.array(
    z.object({
      month: z.string().describe('first day of the month, YYYY-MM-DD'),
      group: z.string().nullable(),
      ...costColumns,
      days: z.number().int().describe('days of the month with data'),
    }),
  ),
  ...offsetPage,
});

export const summaryQuery = z.strictObject({
  org_id: orgIdParam,
  metric,
  top: z
    .string()
    .regex(/^\d{1,3}$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(1).max(50))
    .default(5)
    .describe('how many top services (1..50, default 5)'),
});

const forecastItem = z.object({
  month: z.string().describe('first day of the forecast month'),
  amount: money,
  lower_bound: money.nullable(),
  upper_bound: money.nullable(),
  fetched_at: z.string().describe('when Cost Explorer produced it (ISO 8601)'),
});

export const summaryResponse = z.object({
  organization_id: z.number().int(),
  metric: z.enum(['unblended', 'amortized', 'net_unblended']),
  as_of: z.string().describe('today (UTC), the last day counted'),
  month_to_date: z.object({ from: z.string(), to: z.string(), total: money }),
  previous_period: z
    .object({ from: z.string(), to: z.string(), total: money })
    .describe('the same days of the previous month'),
  change_percent: z
    .string()
    .nullable()
    .describe('(month_to_date - previous_period) / previous_period x 100, 2 places; null if previous is 0'),
  forecast: forecastItem.nullable().describe("Cost Explorer's forecast of the current month"),
  top_services: z.array(z.object({ service: z.string(), total: money })),
  other_units: z
    .array(z.object({ unit: z.string(), month_to_date: money, previous_period: money }))
    .describe('totals in units other than the main one (rare)'),
});

export const forecastQuery = z.strictObject({ org_id: orgIdParam });

export const forecastResponse = z.object({
  organization_id: z.number().int(),
  items: z.array(forecastItem).describe('forecasts from the current month on, oldest first'),
});

export const topQuery = z
  .strictObject({
    org_id: orgIdParam,
    from: isoDate.describe('first day, inclusive'),
    to: isoDate.describe('last day, inclusive'),
    dimension: z
      .enum(['service', 'account', 'region'])
      .default('service')
      .describe('what to rank (default service)'),
    metric,
    limit: z
      .string()
      .regex(/^\d{1,4}$/, 'must be a whole number')
      .transform(Number)
      .pipe(z.number().int().min(1, 'must be at least 1').max(100, 'must be at most 100'))
      .default(10)
      .describe('how many (1..100, default 10)'),
  })
  .superRefine((q, ctx) => checkRange(q, ctx, MAX_DAILY_RANGE_DAYS));

export const topResponse = z.object({
  organization_id: z.number().int(),
  from: z.string(),
  to: z.string(),
  dimension: z.enum(['service', 'account', 'region']),
  metric: z.enum(['unblended', 'amortized', 'net_unblended']),
  items: z.array(z.object({ rank: z.number().int(), key: z.string(), total: money })),
});
