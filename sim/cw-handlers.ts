/**
 * CloudWatch operations: ListMetrics, GetMetricData, GetMetricStatistics over the simulated
 * EC2/RDS fleet. Statistics are computed from raw samples at the instance's resolution.
 */
import type { CallContext } from './context.js';
import { SimError } from './errors.js';
import {
  isRecord,
  optionalList,
  optionalNumber,
  optionalRecord,
  optionalString,
  optionalTimestamp,
  requiredString,
  type Input,
} from './input.js';
import {
  listInstances,
  metricSeries,
  seriesSample,
  type InstanceInfo,
  type MetricSpec,
} from './metric-data.js';
import { decodePageToken, encodePageToken, requestFingerprint } from './page-token.js';
import { WireTimestamp, WireTimestamps } from './wire.js';

const BASIC_STATS = ['Average', 'Maximum', 'Minimum', 'Sum', 'SampleCount'];
const MAX_QUERIES = 500;
const MAX_STATISTICS_DATAPOINTS = 1440;
/** ListMetrics shows metrics with data in the last two weeks, as AWS does. */
const LIST_WINDOW_SECONDS = 14 * 86_400;

interface MetricRef {
  readonly instance: InstanceInfo;
  readonly metric: MetricSpec;
}

function fleet(ctx: CallContext): InstanceInfo[] {
  return listInstances(ctx.accountId, { dataSeed: ctx.options.dataSeed, todayIndex: ctx.todayIndex });
}

function readDimensions(value: unknown, where: string): Array<{ Name: string; Value?: string }> {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new SimError('InvalidParameterValue', `${where} must be a list`);
  return value.map((d) => {
    if (!isRecord(d) || typeof d.Name !== 'string')
      throw new SimError('InvalidParameterValue', `${where} entries need a Name`);
    return typeof d.Value === 'string' ? { Name: d.Name, Value: d.Value } : { Name: d.Name };
  });
}

/** Finds the metric a (namespace, name, dimensions) triple names; dimensions must match exactly. */
function resolveMetric(
  ctx: CallContext,
  namespace: string,
  name: string,
  dimensions: Array<{ Name: string; Value?: string }>,
): MetricRef | undefined {
  if (dimensions.length !== 1) return undefined;
  const [dimension] = dimensions;
  for (const instance of fleet(ctx)) {
    if (
      instance.namespace !== namespace ||
      instance.dimensionName !== dimension?.Name ||
      instance.id !== dimension.Value
    )
      continue;
    const metric = instance.metrics.find((m) => m.name === name);
    return metric ? { instance, metric } : undefined;
  }
  return undefined;
}

/** Statistic names: the five basic ones plus percentiles `p0`..`p100`. */
function checkStat(stat: string, where: string): void {
  if (BASIC_STATS.includes(stat) || /^p(\d{1,2}(\.\d{1,2})?|100)$/.test(stat)) return;
  throw new SimError('InvalidParameterValue', `The value ${stat} for parameter ${where} is not supported.`);
}

function checkPeriod(period: number | undefined, where: string): number {
  if (period === undefined) throw new SimError('MissingParameter', `The parameter ${where} is required.`);
  if (!Number.isInteger(period) || period < 1 || !([1, 5, 10, 30].includes(period) || period % 60 === 0)) {
    throw new SimError(
      'InvalidParameterValue',
      `The parameter ${where} must be 1, 5, 10, 30 or a multiple of 60.`,
    );
  }
  return period;
}

function checkRange(start: number | undefined, end: number | undefined): { start: number; end: number } {
  if (start === undefined) throw new SimError('MissingParameter', 'The parameter StartTime is required.');
  if (end === undefined) throw new SimError('MissingParameter', 'The parameter EndTime is required.');
  if (end <= start)
    throw new SimError(
      'InvalidParameterValue',
      'The parameter StartTime must be less than the parameter EndTime.',
    );
  return { start, end };
}

function statistic(values: readonly number[], stat: string): number {
  switch (stat) {
    case 'Average':
      return sum(values) / values.length;
    case 'Sum':
      return sum(values);
    case 'Minimum': {
      let min = Number.POSITIVE_INFINITY;
      for (const v of values) if (v < min) min = v;
      return min;
    }
    case 'Maximum': {
      let max = Number.NEGATIVE_INFINITY;
      for (const v of values) if (v > max) max = v;
      return max;
    }
    case 'SampleCount':
      return values.length;
    default: {
      const p = Number(stat.slice(1)) / 100;
      const sorted = [...values].sort((a, b) => a - b);
      return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] ?? 0;
    }
  }
}

/** Left-to-right sum from 0, as `reduce((a, b) => a + b, 0)` adds. */
function sum(values: readonly number[]): number {
  let total = 0;
  for (const v of values) total += v;
  return total;
}

interface Bucket {
  readonly t: number;
  readonly samples: number[];
}

/** Raw samples of each period-aligned bucket in [start, end), ascending; empty buckets omitted. */
function buckets(ref: MetricRef, start: number, end: number, period: number, ctx: CallContext): Bucket[] {
  const out: Bucket[] = [];
  const { instance } = ref;
  const res = instance.resolution;
  const alive = Math.max(start, instance.launchedAt);
  const dead = Math.min(end, instance.stoppedAt ?? Number.POSITIVE_INFINITY, ctx.nowSeconds);
  if (alive >= dead) return out;
  const series = metricSeries(instance, ref.metric, ctx.options.dataSeed);
  const now = ctx.nowSeconds;
  for (let t = Math.floor(start / period) * period; t < end; t += period) {
    if (t + period <= alive) continue;
    if (t >= dead) break;
    const samples: number[] = [];
    const stop = Math.min(t + period, end);
    for (let s = Math.ceil(Math.max(t, start) / res) * res; s < stop; s += res) {
      const value = seriesSample(instance, series, s, now);
      if (value !== undefined) samples.push(value);
    }
    if (samples.length > 0) out.push({ t, samples });
  }
  return out;
}

/** ListMetrics: metrics of instances active in the last two weeks, NextToken paged. */
export function listMetrics(ctx: CallContext, input: Input): Record<string, unknown> {
  const namespace = optionalString(input, 'Namespace', 'InvalidParameterValue');
  const metricName = optionalString(input, 'MetricName', 'InvalidParameterValue');
  const filters = readDimensions(input.Dimensions, 'Dimensions');
  const recentlyActive = optionalString(input, 'RecentlyActive', 'InvalidParameterValue');
  if (recentlyActive !== undefined && recentlyActive !== 'PT3H')
    throw new SimError('InvalidParameterValue', 'The parameter RecentlyActive must be PT3H.');
  const windowStart = ctx.nowSeconds - (recentlyActive ? 3 * 3600 : LIST_WINDOW_SECONDS);
  const all: Array<{
    Namespace: string;
    MetricName: string;
    Dimensions: Array<{ Name: string; Value: string }>;
  }> = [];
  for (const instance of fleet(ctx)) {
    if (instance.launchedAt >= ctx.nowSeconds) continue;
    if (instance.stoppedAt !== null && instance.stoppedAt < windowStart) continue;
    if (namespace !== undefined && instance.namespace !== namespace) continue;
    const matchesDims = filters.every(
      (f) => f.Name === instance.dimensionName && (f.Value === undefined || f.Value === instance.id),
    );
    if (!matchesDims) continue;
    for (const metric of instance.metrics) {
      if (metricName !== undefined && metric.name !== metricName) continue;
      all.push({
        Namespace: instance.namespace,
        MetricName: metric.name,
        Dimensions: [{ Name: instance.dimensionName, Value: instance.id }],
      });
    }
  }
  all.sort((a, b) =>
    `${a.Namespace}|${a.MetricName}|${a.Dimensions[0]?.Value}`.localeCompare(
      `${b.Namespace}|${b.MetricName}|${b.Dimensions[0]?.Value}`,
    ),
  );
  const fingerprint = requestFingerprint('cloudwatch:ListMetrics', input, 'NextToken');
  const token = optionalString(input, 'NextToken', 'InvalidParameterValue');
  const state = token ? decodePageToken(token, fingerprint) : { offset: 0, pin: 0 };
  if (!state) throw new SimError('InvalidNextToken', 'The service returned an invalid NextToken.');
  const pageSize = ctx.options.listMetricsPageSize;
  const next = state.offset + pageSize;
  return {
    Metrics: all.slice(state.offset, next),
    NextToken: next < all.length ? encodePageToken(fingerprint, { offset: next, pin: 0 }) : undefined,
  };
}

interface ParsedQuery {
  readonly id: string;
  readonly label: string;
  readonly returnData: boolean;
  readonly ref: MetricRef | undefined;
  readonly period: number;
  readonly stat: string;
  readonly unit: string | undefined;
}

function parseQuery(ctx: CallContext, raw: unknown, index: number): ParsedQuery {
  const where = `MetricDataQueries.member.${index + 1}`;
  if (!isRecord(raw)) throw new SimError('InvalidParameterValue', `${where} must be a structure`);
  const id = requiredString(raw, 'Id', 'MissingParameter');
  if (!/^[a-z][a-zA-Z0-9_]*$/.test(id) || id.length > 255) {
    throw new SimError(
      'InvalidParameterValue',
      `The value ${id} for parameter ${where}.Id is not valid: it must start with a lowercase letter and contain only letters, numbers and underscores.`,
    );
  }
  if (raw.Expression !== undefined)
    throw new SimError(
      'InvalidParameterValue',
      `${where}.Expression: metric math expressions are not supported by the simulator.`,
    );
  const stat = optionalRecord(raw, 'MetricStat', 'InvalidParameterValue');
  if (!stat)
    throw new SimError(
      'InvalidParameterCombination',
      `${where} must specify either MetricStat or Expression.`,
    );
  const metric = optionalRecord(stat, 'Metric', 'InvalidParameterValue');
  if (!metric)
    throw new SimError('MissingParameter', `The parameter ${where}.MetricStat.Metric is required.`);
  const namespace = requiredString(metric, 'Namespace', 'MissingParameter');
  const metricName = requiredString(metric, 'MetricName', 'MissingParameter');
  const period = checkPeriod(
    optionalNumber(stat, 'Period', 'InvalidParameterValue'),
    `${where}.MetricStat.Period`,
  );
  const statName = requiredString(stat, 'Stat', 'MissingParameter');
  checkStat(statName, `${where}.MetricStat.Stat`);
  const returnData = raw.ReturnData === undefined || raw.ReturnData === true || raw.ReturnData === 'true';
  return {
    id,
    label: optionalString(raw, 'Label') ?? metricName,
    returnData,
    ref: resolveMetric(
      ctx,
      namespace,
      metricName,
      readDimensions(metric.Dimensions, `${where}.MetricStat.Metric.Dimensions`),
    ),
    period,
    stat: statName,
    unit: optionalString(stat, 'Unit'),
  };
}

/**
 * GetMetricData: up to 500 queries; at most MaxDatapoints datapoints per call, the rest
 * behind NextToken (queries cut short say PartialData).
 */
export function getMetricData(ctx: CallContext, input: Input): Record<string, unknown> {
  const rawQueries = optionalList(input, 'MetricDataQueries', 'InvalidParameterValue') ?? [];
  if (rawQueries.length === 0)
    throw new SimError('MissingParameter', 'The parameter MetricDataQueries is required.');
  if (rawQueries.length > MAX_QUERIES) {
    throw new SimError(
      'InvalidParameterValue',
      `The collection MetricDataQueries must not contain more than ${MAX_QUERIES} items (got ${rawQueries.length}).`,
    );
  }
  const queries = rawQueries.map((q, i) => parseQuery(ctx, q, i));
  const ids = new Set<string>();
  for (const q of queries) {
    if (ids.has(q.id))
      throw new SimError(
        'InvalidParameterValue',
        `The value ${q.id} for parameter MetricDataQueries.Id is duplicated.`,
      );
    ids.add(q.id);
  }
  const { start, end } = checkRange(
    optionalTimestamp(input, 'StartTime'),
    optionalTimestamp(input, 'EndTime'),
  );
  const scanBy = optionalString(input, 'ScanBy', 'InvalidParameterValue') ?? 'TimestampDescending';
  if (scanBy !== 'TimestampDescending' && scanBy !== 'TimestampAscending')
    throw new SimError('InvalidParameterValue', `The value ${scanBy} for parameter ScanBy is not valid.`);
  const maxDatapoints =
    optionalNumber(input, 'MaxDatapoints', 'InvalidParameterValue') ?? ctx.options.maxDatapoints;
  if (!Number.isInteger(maxDatapoints) || maxDatapoints < 1)
    throw new SimError('InvalidParameterValue', 'The parameter MaxDatapoints must be a positive integer.');

  const fingerprint = requestFingerprint('cloudwatch:GetMetricData', input, 'NextToken');
  const token = optionalString(input, 'NextToken', 'InvalidParameterValue');
  // Position is (query index, datapoint index within it), packed as offset / pin.
  const state = token ? decodePageToken(token, fingerprint) : { offset: 0, pin: 0 };
  if (!state) throw new SimError('InvalidNextToken', 'The service returned an invalid NextToken.');

  // Several statistics of one metric (CostWatch asks for Average and Maximum) read the same
  // samples: each (metric, period) is sampled once per call and dropped after its last query.
  const sampled = new Map<string, { buckets: Bucket[] | undefined; uses: number }>();
  const sampleKey = (q: ParsedQuery, ref: MetricRef): string =>
    `${ref.instance.namespace}|${ref.instance.id}|${ref.metric.name}|${q.period}`;
  for (let qi = state.offset; qi < queries.length; qi++) {
    const q = queries[qi];
    if (!q?.returnData || !q.ref || (q.unit !== undefined && q.unit !== q.ref.metric.unit)) continue;
    const key = sampleKey(q, q.ref);
    const entry = sampled.get(key);
    if (entry) entry.uses += 1;
    else sampled.set(key, { buckets: undefined, uses: 1 });
  }
  const bucketsOf = (q: ParsedQuery, ref: MetricRef): Bucket[] => {
    const key = sampleKey(q, ref);
    const entry = sampled.get(key);
    if (!entry) return buckets(ref, start, end, q.period, ctx);
    entry.buckets ??= buckets(ref, start, end, q.period, ctx);
    const result = entry.buckets;
    entry.uses -= 1;
    if (entry.uses <= 0) sampled.delete(key);
    return result;
  };

  let budget = maxDatapoints;
  let nextToken: string | undefined;
  const results: Array<Record<string, unknown>> = [];
  for (let qi = state.offset; qi < queries.length; qi++) {
    const q = queries[qi];
    if (!q || !q.returnData) continue;
    const from = qi === state.offset ? state.pin : 0;
    const points =
      q.ref && (q.unit === undefined || q.unit === q.ref.metric.unit)
        ? bucketsOf(q, q.ref).map((b) => ({ t: b.t, v: statistic(b.samples, q.stat) }))
        : [];
    if (scanBy === 'TimestampDescending') points.reverse();
    if (budget === 0 && from < points.length) {
      nextToken = encodePageToken(fingerprint, { offset: qi, pin: from });
      break;
    }
    const slice = points.slice(from, from + budget);
    budget -= slice.length;
    const done = from + slice.length >= points.length;
    results.push({
      Id: q.id,
      Label: q.label,
      Timestamps: new WireTimestamps(slice.map((p) => p.t)),
      Values: slice.map((p) => p.v),
      StatusCode: done ? 'Complete' : 'PartialData',
      Messages: [],
    });
    if (!done) {
      nextToken = encodePageToken(fingerprint, { offset: qi, pin: from + slice.length });
      break;
    }
  }
  return { MetricDataResults: results, NextToken: nextToken, Messages: [] };
}

/** GetMetricStatistics: one metric, several statistics, at most 1,440 datapoints. */
export function getMetricStatistics(ctx: CallContext, input: Input): Record<string, unknown> {
  const namespace = requiredString(input, 'Namespace', 'MissingParameter');
  const metricName = requiredString(input, 'MetricName', 'MissingParameter');
  const period = checkPeriod(optionalNumber(input, 'Period', 'InvalidParameterValue'), 'Period');
  const { start, end } = checkRange(
    optionalTimestamp(input, 'StartTime'),
    optionalTimestamp(input, 'EndTime'),
  );
  const statistics = (optionalList(input, 'Statistics', 'InvalidParameterValue') ?? []).map(String);
  const extended = (optionalList(input, 'ExtendedStatistics', 'InvalidParameterValue') ?? []).map(String);
  if (statistics.length === 0 && extended.length === 0)
    throw new SimError('MissingParameter', 'Must specify either Statistics or ExtendedStatistics.');
  for (const s of statistics)
    if (!BASIC_STATS.includes(s))
      throw new SimError(
        'InvalidParameterValue',
        `The value ${s} for parameter Statistics is not supported.`,
      );
  for (const s of extended) checkStat(s, 'ExtendedStatistics');
  const requested = Math.ceil((end - start) / period);
  if (requested > MAX_STATISTICS_DATAPOINTS) {
    throw new SimError(
      'InvalidParameterCombination',
      `You have requested up to ${requested.toLocaleString('en-US')} datapoints, which exceeds the limit of 1,440. You may reduce the datapoints requested by increasing Period, or decreasing the time range.`,
    );
  }
  const unit = optionalString(input, 'Unit', 'InvalidParameterValue');
  const ref = resolveMetric(ctx, namespace, metricName, readDimensions(input.Dimensions, 'Dimensions'));
  const datapoints =
    ref && (unit === undefined || unit === ref.metric.unit)
      ? buckets(ref, start, end, period, ctx).map((b) => {
          const point: Record<string, unknown> = { Timestamp: new WireTimestamp(b.t), Unit: ref.metric.unit };
          for (const s of statistics) point[s] = statistic(b.samples, s);
          if (extended.length > 0)
            point.ExtendedStatistics = Object.fromEntries(extended.map((s) => [s, statistic(b.samples, s)]));
          return point;
        })
      : [];
  return { Label: metricName, Datapoints: datapoints };
}
