/**
 * Request and response schemas of /costs, driven by the dimension registry (lib/dimensions.ts):
 * `group_by` takes any dimension's API name (or none), and every dimension is a filter parameter
 * (`service=`, `account=`, `usage_type=`, `tag:team=`, `cost_category:Product=`, ...). A filter
 * combines with group_by of the same dimension, with group_by=service / none, and with a service
 * filter: every stored grouping is SERVICE x one dimension (`planCostQuery` says why otherwise).
 */
import { z } from 'zod';
import {
  BUILTIN_DIMENSIONS,
  COST_CATEGORY_PREFIX,
  DIMENSION_NAMES_TEXT,
  TAG_PREFIX,
  isDimensionParameter,
  lookupDimension,
  planCostQuery,
  type CostQueryPlan,
  type Dimension,
  type DimensionFilter,
} from '../../lib/dimensions.js';
import { COST_METRIC_NAMES } from '../../database/repositories/costs.repository.js';
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

/** The metrics a cost answer can rank or total by. */
const metricName = z.enum(COST_METRIC_NAMES);

const metric = metricName
  .default('unblended')
  .describe(
    'cost column: unblended (default), amortized, net_unblended or net_amortized (net amortized: null over days loaded before it was fetched)',
  );

/** A total of the chosen metric: null only with net_amortized over days loaded before migration 0012. */
const metricTotal = money
  .nullable()
  .describe(
    'null with metric=net_amortized when some day counted was loaded before net amortized cost was fetched',
  );

/** A dimension's API name, checked against the registry. */
const dimensionName = (what: string) =>
  z
    .string()
    .max(160, 'must be at most 160 characters')
    .superRefine((name, ctx) => {
      if (name === 'none' && what === 'group_by') return;
      const found = lookupDimension(name);
      if (!found.ok) ctx.addIssue({ code: 'custom', message: found.message });
    });

const groupByParam = dimensionName('group_by')
  .default('service')
  .describe(`dimension of each row: ${DIMENSION_NAMES_TEXT}, or none for totals (default service)`);

/** The built-in dimensions' filter parameters (tags and cost categories come as extra keys). */
const builtinFilters = Object.fromEntries(
  BUILTIN_DIMENSIONS.map((d) => [d.name, textFilter(`only this ${d.name}: ${d.description}`)]),
) as Record<'service' | 'account' | 'region' | 'record_type' | 'usage_type', ReturnType<typeof textFilter>>;

/** The value of a `tag:<key>=` or `cost_category:<name>=` filter. */
const extraFilter = z
  .string()
  .min(1, 'must not be empty')
  .max(256, 'must be at most 256 characters')
  .regex(/^[^\p{Cc}]*$/u, 'must not contain control characters');

const FIXED_KEYS = new Set([
  'org_id',
  'from',
  'to',
  'group_by',
  'limit',
  'offset',
  ...BUILTIN_DIMENSIONS.map((d) => d.name),
]);

export interface PlannedQuery {
  /** The grouped dimension, or null for totals. */
  groupBy: Dimension | null;
  filters: DimensionFilter[];
  plan: CostQueryPlan;
}

/** Reads the filters of a query (built-in parameters and `tag:` / `cost_category:` keys) and plans it. */
function planOf(q: Record<string, unknown>, ctx: z.RefinementCtx): PlannedQuery | null {
  const filters: DimensionFilter[] = [];
  for (const [key, value] of Object.entries(q)) {
    if (value === undefined || (FIXED_KEYS.has(key) && !isDimensionParameter(key))) continue;
    if (!isDimensionParameter(key)) {
      ctx.addIssue({
        code: 'custom',
        path: [key],
        message: `unknown query parameter "${key.slice(0, 100)}"; filters are ${DIMENSION_NAMES_TEXT}`,
      });
      return null;
    }
    const found = lookupDimension(key);
    if (!found.ok) {
      ctx.addIssue({ code: 'custom', path: [key], message: found.message });
      return null;
    }
    filters.push({ dimension: found.dimension, value: String(value) });
  }
  const groupName = String(q.group_by ?? 'service');
  const groupBy = groupName === 'none' ? null : lookupDimension(groupName);
  if (groupBy && !groupBy.ok) return null;
  const planned = planCostQuery(groupBy?.dimension ?? null, filters);
  if (!planned.ok) {
    ctx.addIssue({ code: 'custom', path: [planned.field], message: planned.message });
    return null;
  }
  return { groupBy: groupBy?.dimension ?? null, filters, plan: planned.plan };
}

const filterDoc =
  `Filters: one parameter per dimension (${BUILTIN_DIMENSIONS.map((d) => d.name).join(', ')}, ` +
  `${TAG_PREFIX}<key>, ${COST_CATEGORY_PREFIX}<name>), e.g. tag:team=payments. A filter combines with group_by of ` +
  'the same dimension, group_by=service or none, and with a service filter (e.g. group_by=usage_type&service=...).';
export { filterDoc };

/** A /costs/daily or /costs/monthly query: range, group_by, filters, page; planned by the registry. */
function costQuery(maxDays: number, describeFrom: string, describeTo: string) {
  return z
    .object({
      org_id: orgIdParam,
      from: isoDate.describe(describeFrom),
      to: isoDate.describe(describeTo),
      group_by: groupByParam,
      ...builtinFilters,
      limit: limitParam,
      offset: offsetParam,
    })
    .catchall(extraFilter)
    .transform((q, ctx) => {
      checkRange(q, ctx, maxDays);
      const planned = planOf(q, ctx);
      if (!planned) return z.NEVER;
      return { ...q, ...planned };
    });
}

export const dailyQuery = costQuery(
  MAX_DAILY_RANGE_DAYS,
  'first day, inclusive (YYYY-MM-DD)',
  'last day, inclusive (YYYY-MM-DD)',
);
export type DailyQuery = z.output<typeof dailyQuery>;

const costColumns = {
  unblended_cost: money,
  amortized_cost: money,
  net_unblended_cost: money,
  net_amortized_cost: money
    .nullable()
    .describe(
      'net amortized cost (FOCUS EffectiveCost); null when some of it was loaded before CostWatch fetched it (re-fetch to fill)',
    ),
  estimated: z.boolean().describe('AWS still flags some of this cost as Estimated'),
};

/** A linked account as the API serves it wherever one appears. */
export const accountRef = z
  .object({
    id: z.string().describe('12-digit account id'),
    name: z.string().nullable().describe('its name in AWS Organizations (null until a fetch has seen it)'),
  })
  .describe('a linked account');

const groupColumns = {
  group: z
    .string()
    .nullable()
    .describe('the value of the group_by dimension (a tag value, (untagged), ...); null with group_by=none'),
  account: accountRef.optional().describe('with group_by=account: the account with its name'),
  usage: money.optional().describe('with group_by=usage_type: the usage quantity with its unit'),
};

/** What a daily or monthly answer echoes of its query. */
const answerHead = {
  organization_id: z.number().int(),
  from: z.string(),
  to: z.string(),
  group_by: z.string().describe('the dimension, or none'),
  filters: z.record(z.string(), z.string()).describe('the dimension filters applied'),
};

export const dailyResponse = z.object({
  ...answerHead,
  items: z.array(
    z.object({
      date: z.string().describe('YYYY-MM-DD'),
      ...groupColumns,
      ...costColumns,
    }),
  ),
  ...offsetPage,
});

export const monthlyQuery = costQuery(
  MAX_MONTHLY_RANGE_DAYS,
  'a day of the first month (YYYY-MM-DD)',
  'a day of the last month, inclusive (YYYY-MM-DD)',
);

export const monthlyResponse = z.object({
  ...answerHead,
  items: z.array(
    z.object({
      month: z.string().describe('first day of the month, YYYY-MM-DD'),
      group: z.string().nullable(),
      account: accountRef.optional().describe('with group_by=account: the account with its name'),
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
  metric: metricName,
  as_of: z.string().describe('today (UTC), the last day counted'),
  month_to_date: z.object({ from: z.string(), to: z.string(), total: metricTotal }),
  previous_period: z
    .object({ from: z.string(), to: z.string(), total: metricTotal })
    .describe('the same days of the previous month'),
  change_percent: z
    .string()
    .nullable()
    .describe('(month_to_date - previous_period) / previous_period x 100, 2 places; null if previous is 0'),
  forecast: forecastItem.nullable().describe("Cost Explorer's forecast of the current month"),
  top_services: z.array(z.object({ service: z.string(), total: metricTotal })),
  record_types: z
    .object({
      gross_usage: metricTotal.describe('record type Usage'),
      credits: metricTotal.describe('record type Credit (negative)'),
      refunds: metricTotal.describe('record type Refund (negative)'),
      other: metricTotal.describe(
        'every other record type: Tax, Support, Savings Plan fees and negations, ...',
      ),
      net: metricTotal.describe('the sum of them all: the month-to-date total'),
    })
    .nullable()
    .describe('month to date by record type; null when no record type rollup covers the month'),
  other_units: z
    .array(z.object({ unit: z.string(), month_to_date: metricTotal, previous_period: metricTotal }))
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
    dimension: dimensionName('dimension')
      .default('service')
      .describe(`what to rank: ${DIMENSION_NAMES_TEXT} (default service)`),
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
  dimension: z.string(),
  metric: metricName,
  items: z.array(
    z.object({
      rank: z.number().int(),
      key: z.string(),
      account: accountRef.optional().describe('with dimension=account: the account with its name'),
      total: metricTotal,
    }),
  ),
});
