/**
 * CloudWatch reads of a metrics fetch: ListMetrics discovers the resources, GetMetricData reads
 * Average and Maximum of each in batches of up to 500 queries, several batches at once (p-limit),
 * every NextToken page, yielding MetricRow batches as they arrive.
 */
import {
  GetMetricDataCommand,
  ListMetricsCommand,
  type CloudWatchClient,
  type MetricDataQuery,
} from '@aws-sdk/client-cloudwatch';
import pLimit from 'p-limit';
import type { MetricRow } from '../database/repositories/metrics-data.repository.js';
import { MalformedDataError } from '../lib/aws-errors.js';

/** What CostWatch stores: per namespace, the resource dimension and the metrics with their unit. */
export const METRIC_CATALOG = [
  {
    namespace: 'AWS/EC2',
    dimension: 'InstanceId',
    metrics: { CPUUtilization: 'Percent', NetworkIn: 'Bytes', NetworkOut: 'Bytes' },
  },
  {
    namespace: 'AWS/RDS',
    dimension: 'DBInstanceIdentifier',
    metrics: { CPUUtilization: 'Percent', DatabaseConnections: 'Count', FreeableMemory: 'Bytes' },
  },
] as const;

export const METRIC_STATS = ['Average', 'Maximum'] as const;
export const MAX_QUERIES_PER_CALL = 500;

interface Target {
  namespace: string;
  metricName: string;
  dimension: string;
  resourceId: string;
  stat: string;
  unit: string;
}

/**
 * Every (resource, metric) of the catalog that CloudWatch lists, as stat queries: one ListMetrics
 * per namespace (filtered to the resource dimension), the metric names filtered here.
 */
export async function discoverTargets(cw: CloudWatchClient): Promise<Target[]> {
  const targets: Target[] = [];
  for (const entry of METRIC_CATALOG) {
    const units: Record<string, string> = entry.metrics;
    let token: string | undefined;
    const seen = new Set<string>();
    do {
      const page = await cw.send(new ListMetricsCommand({ Namespace: entry.namespace, Dimensions: [{ Name: entry.dimension }], NextToken: token }));
      for (const metric of page.Metrics ?? []) {
        const unit = metric.MetricName ? units[metric.MetricName] : undefined;
        const dims = metric.Dimensions ?? [];
        const only = dims[0];
        if (!unit || !metric.MetricName || dims.length !== 1 || only?.Name !== entry.dimension || !only.Value) continue;
        for (const stat of METRIC_STATS) {
          targets.push({ namespace: entry.namespace, metricName: metric.MetricName, dimension: entry.dimension, resourceId: only.Value, stat, unit });
        }
      }
      token = page.NextToken;
      if (token && seen.has(token)) throw new MalformedDataError('ListMetrics returned the same NextToken twice');
      if (token) seen.add(token);
    } while (token);
  }
  return targets;
}

async function readBatch(
  cw: CloudWatchClient,
  batch: Target[],
  window: { from: string; to: string },
  periodSeconds: number,
): Promise<MetricRow[]> {
  const queries: MetricDataQuery[] = batch.map((t, i) => ({
    Id: `q${i}`,
    MetricStat: {
      Metric: { Namespace: t.namespace, MetricName: t.metricName, Dimensions: [{ Name: t.dimension, Value: t.resourceId }] },
      Period: periodSeconds,
      Stat: t.stat,
    },
    ReturnData: true,
  }));
  const rows: MetricRow[] = [];
  let token: string | undefined;
  const seen = new Set<string>();
  do {
    const page = await cw.send(
      new GetMetricDataCommand({
        MetricDataQueries: queries,
        StartTime: new Date(`${window.from}T00:00:00Z`),
        EndTime: new Date(`${window.to}T00:00:00Z`),
        ScanBy: 'TimestampAscending',
        NextToken: token,
      }),
    );
    for (const result of page.MetricDataResults ?? []) {
      const index = Number(result.Id?.slice(1));
      const target = batch[index];
      if (!target || !result.Id?.startsWith('q')) throw new MalformedDataError(`GetMetricData returned an unknown query id ${JSON.stringify(result.Id)}`);
      const timestamps = result.Timestamps ?? [];
      const values = result.Values ?? [];
      if (timestamps.length !== values.length) throw new MalformedDataError(`GetMetricData result ${result.Id} has ${timestamps.length} timestamps but ${values.length} values`);
      timestamps.forEach((ts, i) => {
        const value = values[i];
        if (value === undefined) return;
        rows.push({ ts, namespace: target.namespace, metricName: target.metricName, resourceId: target.resourceId, stat: target.stat, value, unit: target.unit });
      });
    }
    token = page.NextToken;
    if (token && seen.has(token)) throw new MalformedDataError('GetMetricData returned the same NextToken twice');
    if (token) seen.add(token);
  } while (token);
  return rows;
}

/** MetricRow batches of the window; `concurrency` GetMetricData batches run at once. */
export async function* metricRowBatches(
  cw: CloudWatchClient,
  window: { from: string; to: string },
  options: { periodSeconds: number; concurrency: number },
): AsyncGenerator<MetricRow[]> {
  const targets = await discoverTargets(cw);
  const batches: Target[][] = [];
  for (let i = 0; i < targets.length; i += MAX_QUERIES_PER_CALL) batches.push(targets.slice(i, i + MAX_QUERIES_PER_CALL));
  const limit = pLimit(options.concurrency);
  // Hold at most `concurrency` batches in memory: start a group, yield it, start the next.
  for (let i = 0; i < batches.length; i += options.concurrency) {
    const group = batches.slice(i, i + options.concurrency).map((batch) => limit(() => readBatch(cw, batch, window, options.periodSeconds)));
    group.forEach((p) => p.catch(() => undefined));
    for (const pending of group) yield await pending;
  }
}
