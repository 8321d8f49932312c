/**
 * Cost Explorer operations: GetCostAndUsage, GetCostForecast, GetDimensionValues, GetTags,
 * GetCostCategories. Inputs are validated as AWS does; every amount is an exact BigInt sum of
 * generated bill lines. GroupBy takes dimensions, tag keys and cost categories (their group keys
 * come back as `key$value`, untagged spend as `key$`).
 */
import { formatDay, monthStart, parseDay } from './calendar.js';
import { compileFilter, isCostDimension, type LinePredicate } from './ce-filter.js';
import type { CallContext } from './context.js';
import {
  COST_METRICS,
  dimensionValue,
  expectedCostLines,
  expectedDayTotal,
  isCostMetric,
  isEstimatedDay,
  lineKeyLabel,
  lineKeyValue,
  linkedAccounts,
  reportedDay,
  reportedValue,
  type CostLine,
  type CostMetric,
  type LineKey,
} from './cost-data.js';
import { SimError } from './errors.js';
import { restatedDay } from './restatement.js';
import {
  optionalList,
  optionalNumber,
  optionalRecord,
  optionalString,
  isRecord,
  type Input,
} from './input.js';
import { formatFixed, scale } from './money.js';
import { decodePageToken, encodePageToken, requestFingerprint } from './page-token.js';

interface Period {
  readonly start: number;
  /** Exclusive. */
  readonly end: number;
}

/** Dimensions AWS accepts in GroupBy; the simulator models the subset in COST_DIMENSIONS. */
const AWS_GROUP_BY_KEYS = new Set([
  'AZ',
  'INSTANCE_TYPE',
  'LEGAL_ENTITY_NAME',
  'INVOICING_ENTITY',
  'LINKED_ACCOUNT',
  'OPERATION',
  'PLATFORM',
  'PURCHASE_TYPE',
  'SERVICE',
  'TENANCY',
  'RECORD_TYPE',
  'USAGE_TYPE',
  'REGION',
]);

function readTimePeriod(input: Input): Period {
  const tp = optionalRecord(input, 'TimePeriod');
  if (!tp)
    throw new SimError(
      'Validation',
      "1 validation error detected: Value null at 'timePeriod' failed to satisfy constraint: Member must not be null",
    );
  const startText = optionalString(tp, 'Start') ?? '';
  const endText = optionalString(tp, 'End') ?? '';
  const start = parseDay(startText);
  const end = parseDay(endText);
  if (start === undefined)
    throw new SimError('Validation', `Start date '${startText}' is not a valid date: expected YYYY-MM-DD`);
  if (end === undefined)
    throw new SimError('Validation', `End date '${endText}' is not a valid date: expected YYYY-MM-DD`);
  if (end <= start)
    throw new SimError('Validation', 'Start date (and hour) should be before end date (and hour)');
  return { start, end };
}

function checkHistoryWindow(period: Period, ctx: CallContext): void {
  const earliest = monthStart(ctx.todayIndex, -ctx.options.historyMonths);
  if (period.start < earliest) {
    throw new SimError(
      'Validation',
      `Start date ${formatDay(period.start)} is too old: Cost Explorer keeps ${ctx.options.historyMonths} months of history (earliest start ${formatDay(earliest)})`,
    );
  }
  const latest = monthStart(ctx.todayIndex, 1);
  if (period.end > latest) {
    throw new SimError(
      'Validation',
      `End date ${formatDay(period.end)} is after the end of the current month (latest end ${formatDay(latest)})`,
    );
  }
}

function readGranularity(input: Input, allowed: readonly string[]): 'DAILY' | 'MONTHLY' {
  const value = optionalString(input, 'Granularity');
  if (value === undefined)
    throw new SimError(
      'Validation',
      "1 validation error detected: Value null at 'granularity' failed to satisfy constraint: Member must not be null",
    );
  if (value === 'HOURLY' && allowed.includes('HOURLY')) {
    throw new SimError(
      'Validation',
      'Hourly granularity is not enabled for this account (the simulator serves DAILY and MONTHLY)',
    );
  }
  if (value !== 'DAILY' && value !== 'MONTHLY') {
    throw new SimError(
      'Validation',
      `1 validation error detected: Value '${value}' at 'granularity' failed to satisfy constraint: Member must satisfy enum value set: [${allowed.join(', ')}]`,
    );
  }
  return value;
}

function splitPeriods(period: Period, granularity: 'DAILY' | 'MONTHLY'): Period[] {
  const out: Period[] = [];
  for (let start = period.start; start < period.end;) {
    const next = granularity === 'DAILY' ? start + 1 : Math.min(monthStart(start, 1), period.end);
    out.push({ start, end: next });
    start = next;
  }
  return out;
}

function readMetrics(input: Input): string[] {
  const metrics = optionalList(input, 'Metrics') ?? [];
  if (metrics.length === 0)
    throw new SimError(
      'Validation',
      "1 validation error detected: Value null at 'metrics' failed to satisfy constraint: Member must not be null",
    );
  const names = metrics.map(String);
  const invalid = names.filter((m) => !isCostMetric(m));
  if (invalid.length > 0)
    throw new SimError(
      'Validation',
      `Metrics [${invalid.join(', ')}] are not valid. Valid metrics: ${COST_METRICS.join(', ')}`,
    );
  return [...new Set(names)];
}

function readGroupBy(input: Input): LineKey[] {
  const groupBy = optionalList(input, 'GroupBy') ?? [];
  if (groupBy.length > 2)
    throw new SimError('Validation', `GroupBy accepts at most 2 group definitions, got ${groupBy.length}`);
  const keys: LineKey[] = [];
  for (const item of groupBy) {
    if (!isRecord(item))
      throw new SimError('Validation', 'GroupBy entries must be structures with Type and Key');
    const type = item.Type;
    const key = typeof item.Key === 'string' ? item.Key : '';
    if (type === 'TAG' || type === 'COST_CATEGORY') {
      if (key === '' || key.length > 1024)
        throw new SimError('Validation', `Group Definition key of type ${type} must be 1..1024 characters`);
      if (keys.some((k) => k.type === type && k.key === key))
        throw new SimError('Validation', `Group Definition ${type} '${key}' is given twice`);
      keys.push({ type, key });
      continue;
    }
    if (type !== 'DIMENSION')
      throw new SimError(
        'Validation',
        `Group Definition type '${String(type)}' is invalid. Valid types: DIMENSION, TAG, COST_CATEGORY`,
      );
    if (!AWS_GROUP_BY_KEYS.has(key))
      throw new SimError(
        'Validation',
        `Group Definition dimension '${key}' is invalid. Valid values are ${[...AWS_GROUP_BY_KEYS].join(', ')}`,
      );
    if (!isCostDimension(key))
      throw new SimError(
        'Validation',
        `Group Definition dimension '${key}' is not modelled by the simulator`,
      );
    if (keys.some((k) => k.type === 'DIMENSION' && k.key === key))
      throw new SimError('Validation', `Group Definition dimension '${key}' is given twice`);
    keys.push({ type: 'DIMENSION', key });
  }
  return keys;
}

function readToken(
  input: Input,
  scope: string,
): { fingerprint: number; offset: number; pin: number | undefined } {
  const fingerprint = requestFingerprint(scope, input, 'NextPageToken');
  const token = optionalString(input, 'NextPageToken');
  if (token === undefined || token === '') return { fingerprint, offset: 0, pin: undefined };
  const state = decodePageToken(token, fingerprint);
  if (!state)
    throw new SimError(
      'InvalidNextToken',
      'Invalid NextPageToken: it is malformed or belongs to another request',
    );
  return { fingerprint, offset: state.offset, pin: state.pin };
}

/** Sum of requested metrics over lines, with the unit each metric reports. */
class MetricSums {
  readonly sums: bigint[];
  readonly units: Array<string | undefined | null>;
  constructor(readonly metrics: readonly CostMetric[]) {
    this.sums = metrics.map(() => 0n);
    this.units = metrics.map(() => undefined);
  }
  add(line: CostLine, estimate: bigint | undefined): void {
    let i = 0;
    for (const metric of this.metrics) {
      const value = reportedValue(line, estimate, metric);
      this.sums[i] = (this.sums[i] ?? 0n) + value;
      if (metric === 'UsageQuantity' && value !== 0n) {
        // A unit is reported only when every contributing line agrees on it.
        const seen = this.units[i];
        this.units[i] = seen === undefined ? line.unit : seen === line.unit ? seen : null;
      }
      i += 1;
    }
  }
  toWire(names: readonly string[]): Record<string, { Amount: string; Unit: string }> {
    const out: Record<string, { Amount: string; Unit: string }> = {};
    this.metrics.forEach((metric, i) => {
      const unit = metric.endsWith('Cost')
        ? 'USD'
        : metric === 'UsageQuantity'
          ? (this.units[i] ?? 'N/A')
          : 'N/A';
      out[names[i] ?? metric] = { Amount: formatFixed(this.sums[i] ?? 0n), Unit: unit };
    });
    return out;
  }
}

/**
 * Calls `visit` with every reported line of the period that matches, and its estimate factor
 * (undefined for final days), in day and line order.
 */
function forEachLine(
  ctx: CallContext,
  period: Period,
  revision: number,
  predicate: LinePredicate,
  visit: (line: CostLine, estimate: bigint | undefined) => void,
): void {
  for (let day = period.start; day < period.end; day++) {
    const { lines, estimates } = ctx.options.restatement.enabled
      ? restatedDay(ctx.accountId, day, { today: ctx.todayIndex, nowSeconds: ctx.nowSeconds }, ctx.options)
      : reportedDay(ctx.accountId, day, {
          today: ctx.todayIndex,
          revision,
          dataSeed: ctx.options.dataSeed,
          injections: ctx.options.costInjections,
        });
    lines.forEach((line, index) => {
      if (predicate(line)) visit(line, estimates?.[index]);
    });
  }
}

function periodWire(period: Period): { Start: string; End: string } {
  return { Start: formatDay(period.start), End: formatDay(period.end) };
}

function periodEstimated(period: Period, ctx: CallContext): boolean {
  return isEstimatedDay(period.end - 1, ctx.todayIndex);
}

/** GetCostAndUsage: totals or groups per period, groups paged by `pageSize`. */
export function getCostAndUsage(ctx: CallContext, input: Input): Record<string, unknown> {
  const period = readTimePeriod(input);
  const granularity = readGranularity(input, ['DAILY', 'MONTHLY', 'HOURLY']);
  const metricNames = readMetrics(input);
  const metrics = metricNames.filter(isCostMetric);
  const groupKeys = readGroupBy(input);
  const predicate = compileFilter(input.Filter);
  checkHistoryWindow(period, ctx);
  const token = readToken(input, 'ce:GetCostAndUsage');
  // A paged read keeps the estimate revision of its first page so its pages agree.
  const revision = token.pin ?? ctx.nextRevision();
  const periods = splitPeriods(period, granularity);
  const groupDefinitions = groupKeys.map((k) => ({ Type: k.type, Key: k.key }));

  if (groupKeys.length === 0) {
    const resultsByTime = periods.map((p) => {
      const sums = new MetricSums(metrics);
      forEachLine(ctx, p, revision, predicate, (line, estimate) => sums.add(line, estimate));
      return {
        TimePeriod: periodWire(p),
        Total: sums.toWire(metricNames),
        Groups: [],
        Estimated: periodEstimated(p, ctx),
      };
    });
    return { GroupDefinitions: groupDefinitions, ResultsByTime: resultsByTime, DimensionValueAttributes: [] };
  }

  // Every (period, group) is one pageable item; a period without groups still occupies one
  // slot so it appears (with no groups) exactly once across the pages.
  const items: Array<{ period: number; keys?: string[]; sums?: MetricSums }> = [];
  const [firstKey, secondKey] = groupKeys;
  periods.forEach((p, periodIndex) => {
    const groups: Array<{ id: string; keys: string[]; sums: MetricSums }> = [];
    // Looked up by the key values themselves (at most two GroupBy keys), so a line costs no
    // joined string; a group's id (its keys joined by NUL) orders the groups.
    const byFirst = new Map<string, Map<string, (typeof groups)[number]>>();
    forEachLine(ctx, p, revision, predicate, (line, estimate) => {
      const first = firstKey === undefined ? '' : lineKeyLabel(line, firstKey);
      const second = secondKey === undefined ? '' : lineKeyLabel(line, secondKey);
      let inner = byFirst.get(first);
      if (!inner) {
        inner = new Map();
        byFirst.set(first, inner);
      }
      let group = inner.get(second);
      if (!group) {
        const keys = secondKey === undefined ? [first] : [first, second];
        group = { id: keys.join('\u0000'), keys, sums: new MetricSums(metrics) };
        inner.set(second, group);
        groups.push(group);
      }
      group.sums.add(line, estimate);
    });
    groups.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    if (groups.length === 0) items.push({ period: periodIndex });
    for (const { keys, sums } of groups) items.push({ period: periodIndex, keys, sums });
  });

  const pageItems = items.slice(token.offset, token.offset + ctx.options.pageSize);
  const byPeriod = new Map<
    number,
    { TimePeriod: { Start: string; End: string }; Total: object; Groups: object[]; Estimated: boolean }
  >();
  const linkedSeen = new Set<string>();
  for (const item of pageItems) {
    const p = periods[item.period];
    if (!p) continue;
    let entry = byPeriod.get(item.period);
    if (!entry) {
      entry = { TimePeriod: periodWire(p), Total: {}, Groups: [], Estimated: periodEstimated(p, ctx) };
      byPeriod.set(item.period, entry);
    }
    if (item.keys && item.sums) {
      entry.Groups.push({ Keys: item.keys, Metrics: item.sums.toWire(metricNames) });
      groupKeys.forEach((k, i) => {
        const value = item.keys?.[i];
        if (k.type === 'DIMENSION' && k.key === 'LINKED_ACCOUNT' && value !== undefined)
          linkedSeen.add(value);
      });
    }
  }
  const names = accountNames(ctx);
  const nextOffset = token.offset + ctx.options.pageSize;
  return {
    GroupDefinitions: groupDefinitions,
    ResultsByTime: [...byPeriod.values()],
    DimensionValueAttributes: [...linkedSeen]
      .sort()
      .map((id) => ({ Value: id, Attributes: { description: names.get(id) ?? id } })),
    NextPageToken:
      nextOffset < items.length
        ? encodePageToken(token.fingerprint, { offset: nextOffset, pin: revision })
        : undefined,
  };
}

/** Names of the payer's linked accounts: the generated ones, renamed by the `accountNames` option. */
function accountNames(ctx: CallContext): Map<string, string> {
  const names = new Map(
    linkedAccounts(ctx.accountId, { dataSeed: ctx.options.dataSeed }).map((a) => [a.id, a.name]),
  );
  for (const [id, name] of Object.entries(ctx.options.accountNames)) if (names.has(id)) names.set(id, name);
  return names;
}

/**
 * The distinct keys (or values of one key) of tags or cost categories over a period, searched
 * and paged: what GetTags and GetCostCategories share.
 */
function listKeysOrValues(
  ctx: CallContext,
  input: Input,
  opts: { type: 'TAG' | 'COST_CATEGORY'; keyField: string; operation: string },
): { page: string[]; total: number; nextPageToken: string | undefined } {
  const period = readTimePeriod(input);
  checkHistoryWindow(period, ctx);
  const key = optionalString(input, opts.keyField);
  const search = optionalString(input, 'SearchString')?.toLowerCase();
  const maxResults = optionalNumber(input, 'MaxResults');
  if (maxResults !== undefined && (!Number.isInteger(maxResults) || maxResults < 1))
    throw new SimError('Validation', 'MaxResults must be a positive integer');
  const predicate = compileFilter(input.Filter);
  const token = readToken(input, opts.operation);
  const revision = token.pin ?? ctx.nextRevision();
  const found = new Set<string>();
  forEachLine(ctx, period, revision, predicate, (line) => {
    const map = opts.type === 'TAG' ? line.tags : line.costCategories;
    if (key === undefined) for (const k of Object.keys(map)) found.add(k);
    else {
      const value = lineKeyValue(line, { type: opts.type, key });
      if (value !== '') found.add(value);
    }
  });
  const matching = [...found].filter((v) => search === undefined || v.toLowerCase().includes(search)).sort();
  const pageSize = maxResults ?? ctx.options.dimensionPageSize;
  const nextOffset = token.offset + pageSize;
  return {
    page: matching.slice(token.offset, nextOffset),
    total: matching.length,
    nextPageToken:
      nextOffset < matching.length
        ? encodePageToken(token.fingerprint, { offset: nextOffset, pin: revision })
        : undefined,
  };
}

/** GetTags: the tag keys of a period (no TagKey), or the values of one key, paged. */
export function getTags(ctx: CallContext, input: Input): Record<string, unknown> {
  const { page, total, nextPageToken } = listKeysOrValues(ctx, input, {
    type: 'TAG',
    keyField: 'TagKey',
    operation: 'ce:GetTags',
  });
  return { Tags: page, ReturnSize: page.length, TotalSize: total, NextPageToken: nextPageToken };
}

/** GetCostCategories: the cost category names of a period, or the values of one, paged. */
export function getCostCategories(ctx: CallContext, input: Input): Record<string, unknown> {
  const byName = optionalString(input, 'CostCategoryName') !== undefined;
  const { page, total, nextPageToken } = listKeysOrValues(ctx, input, {
    type: 'COST_CATEGORY',
    keyField: 'CostCategoryName',
    operation: 'ce:GetCostCategories',
  });
  return {
    ...(byName ? { CostCategoryValues: page } : { CostCategoryNames: page }),
    ReturnSize: page.length,
    TotalSize: total,
    NextPageToken: nextPageToken,
  };
}

/** GetDimensionValues: distinct values of one dimension over a period, paged. */
export function getDimensionValues(ctx: CallContext, input: Input): Record<string, unknown> {
  const period = readTimePeriod(input);
  const dimension = optionalString(input, 'Dimension');
  if (dimension === undefined)
    throw new SimError(
      'Validation',
      "1 validation error detected: Value null at 'dimension' failed to satisfy constraint: Member must not be null",
    );
  if (!isCostDimension(dimension))
    throw new SimError(
      'Validation',
      `Dimension '${dimension}' is not supported by the simulator; supported: SERVICE, LINKED_ACCOUNT, REGION, USAGE_TYPE, RECORD_TYPE, OPERATION`,
    );
  const context = optionalString(input, 'Context') ?? 'COST_AND_USAGE';
  if (context !== 'COST_AND_USAGE')
    throw new SimError(
      'Validation',
      `Context '${context}' is not supported by the simulator; use COST_AND_USAGE`,
    );
  const search = optionalString(input, 'SearchString')?.toLowerCase();
  const maxResults = optionalNumber(input, 'MaxResults');
  if (maxResults !== undefined && (!Number.isInteger(maxResults) || maxResults < 1))
    throw new SimError('Validation', 'MaxResults must be a positive integer');
  const predicate = compileFilter(input.Filter);
  checkHistoryWindow(period, ctx);
  const token = readToken(input, 'ce:GetDimensionValues');
  const revision = token.pin ?? ctx.nextRevision();
  const values = new Set<string>();
  forEachLine(ctx, period, revision, predicate, (line) => values.add(dimensionValue(line, dimension)));
  const matching = [...values].filter((v) => search === undefined || v.toLowerCase().includes(search)).sort();
  const pageSize = maxResults ?? ctx.options.dimensionPageSize;
  const page = matching.slice(token.offset, token.offset + pageSize);
  const names = accountNames(ctx);
  const nextOffset = token.offset + pageSize;
  return {
    DimensionValues: page.map((Value) => ({
      Value,
      Attributes: dimension === 'LINKED_ACCOUNT' ? { description: names.get(Value) ?? Value } : {},
    })),
    ReturnSize: page.length,
    TotalSize: matching.length,
    NextPageToken:
      nextOffset < matching.length
        ? encodePageToken(token.fingerprint, { offset: nextOffset, pin: revision })
        : undefined,
  };
}

const FORECAST_METRICS: Record<string, CostMetric> = {
  AMORTIZED_COST: 'AmortizedCost',
  BLENDED_COST: 'BlendedCost',
  NET_AMORTIZED_COST: 'NetAmortizedCost',
  NET_UNBLENDED_COST: 'NetUnblendedCost',
  UNBLENDED_COST: 'UnblendedCost',
  USAGE_QUANTITY: 'UsageQuantity',
  NORMALIZED_USAGE_AMOUNT: 'NormalizedUsageAmount',
};

/**
 * GetCostForecast: the generator's smooth model (trend, growth, weekly shape, monthly fees)
 * for future days, with a prediction interval that widens with the horizon.
 */
export function getCostForecast(ctx: CallContext, input: Input): Record<string, unknown> {
  const period = readTimePeriod(input);
  const metricName = optionalString(input, 'Metric');
  const metric = metricName === undefined ? undefined : FORECAST_METRICS[metricName];
  if (metric === undefined) {
    throw new SimError(
      'Validation',
      `1 validation error detected: Value '${String(metricName)}' at 'metric' failed to satisfy constraint: Member must satisfy enum value set: [${Object.keys(FORECAST_METRICS).join(', ')}]`,
    );
  }
  const granularity = readGranularity(input, ['DAILY', 'MONTHLY']);
  const level = optionalNumber(input, 'PredictionIntervalLevel') ?? 80;
  if (!Number.isInteger(level) || level < 51 || level > 99)
    throw new SimError('Validation', 'PredictionIntervalLevel must be an integer between 51 and 99');
  if (period.start < ctx.todayIndex) {
    throw new SimError(
      'Validation',
      `Start date ${formatDay(period.start)} must be equal to or later than the current date ${formatDay(ctx.todayIndex)}`,
    );
  }
  const horizonLimit = granularity === 'DAILY' ? ctx.todayIndex + 93 : monthStart(ctx.todayIndex, 13);
  if (period.end > horizonLimit) {
    throw new SimError(
      'Validation',
      `End date ${formatDay(period.end)} is too far in the future for ${granularity} forecasts (latest end ${formatDay(horizonLimit)})`,
    );
  }
  const predicate = compileFilter(input.Filter);
  const unfiltered = input.Filter === undefined || input.Filter === null;
  const data = { dataSeed: ctx.options.dataSeed };
  let total = 0n;
  const results = splitPeriods(period, granularity).map((p) => {
    let mean = 0n;
    let lower = 0n;
    let upper = 0n;
    for (let day = p.start; day < p.end; day++) {
      let dayMean = 0n;
      if (unfiltered) dayMean = expectedDayTotal(ctx.accountId, day, metric, data);
      else
        for (const line of expectedCostLines(ctx.accountId, day, data))
          if (predicate(line)) dayMean += line.values[metric];
      // Interval half-width in per-mille: wider for higher confidence and further horizons.
      const width = BigInt(
        Math.min(900, Math.trunc(((level - 50) * (60 + 2 * (day - ctx.todayIndex))) / 30)),
      );
      const magnitude = dayMean < 0n ? -dayMean : dayMean;
      mean += dayMean;
      lower += dayMean - scale(magnitude, width, 1000n);
      upper += dayMean + scale(magnitude, width, 1000n);
    }
    total += mean;
    return {
      TimePeriod: periodWire(p),
      MeanValue: formatFixed(mean),
      PredictionIntervalLowerBound: formatFixed(lower),
      PredictionIntervalUpperBound: formatFixed(upper),
    };
  });
  const unit = metric.endsWith('Cost') ? 'USD' : 'N/A';
  return { Total: { Amount: formatFixed(total), Unit: unit }, ForecastResultsByTime: results };
}
