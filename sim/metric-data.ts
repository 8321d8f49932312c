/**
 * Deterministic CloudWatch data: per account a fleet of EC2 and RDS instances, each with a
 * lifetime (some launched days ago, some stopped) and raw samples at AWS's native resolution
 * (EC2 basic monitoring every 5 minutes, RDS every minute). Values are pure functions of
 * (data seed, instance, metric, timestamp); statistics are computed from the raw samples.
 */
import { DEFAULT_DATA_SEED, type DataOptions } from './cost-data.js';
import { hashInt, hashPrefix, hashPrefixedInt, hashUnit } from './prng.js';

export interface MetricSpec {
  readonly name: string;
  readonly unit: string;
  /** Typical value and how far it swings (same unit). */
  readonly base: number;
  readonly swing: number;
}

/** An EC2 or RDS instance of the simulated fleet. */
export interface InstanceInfo {
  readonly namespace: 'AWS/EC2' | 'AWS/RDS';
  readonly dimensionName: 'InstanceId' | 'DBInstanceIdentifier';
  readonly id: string;
  readonly instanceType: string;
  readonly region: string;
  /** Epoch seconds; no datapoints before. */
  readonly launchedAt: number;
  /** Epoch seconds of the stop, or null while running; no datapoints from then on. */
  readonly stoppedAt: number | null;
  /** Seconds between raw samples. */
  readonly resolution: number;
  readonly metrics: readonly MetricSpec[];
}

const EC2_METRICS: readonly MetricSpec[] = [
  { name: 'CPUUtilization', unit: 'Percent', base: 35, swing: 30 },
  { name: 'NetworkIn', unit: 'Bytes', base: 4.0e7, swing: 3.0e7 },
  { name: 'NetworkOut', unit: 'Bytes', base: 2.5e7, swing: 2.0e7 },
  { name: 'DiskReadOps', unit: 'Count', base: 1200, swing: 900 },
  { name: 'DiskWriteOps', unit: 'Count', base: 2400, swing: 1500 },
  { name: 'StatusCheckFailed', unit: 'Count', base: 0, swing: 0 },
];

const RDS_METRICS: readonly MetricSpec[] = [
  { name: 'CPUUtilization', unit: 'Percent', base: 25, swing: 20 },
  { name: 'FreeableMemory', unit: 'Bytes', base: 6.0e9, swing: 1.5e9 },
  { name: 'DatabaseConnections', unit: 'Count', base: 60, swing: 45 },
  { name: 'ReadIOPS', unit: 'Count/Second', base: 300, swing: 250 },
  { name: 'FreeStorageSpace', unit: 'Bytes', base: 8.0e10, swing: 1.0e9 },
];

const EC2_TYPES = ['t3.medium', 'm5.large', 'm5.xlarge', 'c5.xlarge', 'r5.large'];
const RDS_TYPES = ['db.t3.medium', 'db.r5.large', 'db.m5.large'];
const DB_NAMES = ['orders', 'billing', 'users', 'analytics', 'inventory', 'audit'];

/** Hour-of-day load shape in per-mille, so utilisation follows a working day (UTC). */
const DIURNAL_PM = [
  620, 580, 560, 550, 560, 600, 680, 780, 900, 1000, 1080, 1120, 1140, 1150, 1140, 1120, 1090, 1040, 980, 900,
  820, 760, 700, 660,
];

/** Options for instance lists: the sim's "today" anchors launch and stop times. */
export interface FleetOptions extends DataOptions {
  /** Day index of the simulator's today (SimulatorState.todayIndex()). */
  todayIndex: number;
}

const fleets = new Map<string, readonly InstanceInfo[]>();

/**
 * The EC2 and RDS instances of an account. Lifetimes are relative to the simulator's today,
 * so a fleet always has instances launched in the last few days and some stopped ones.
 */
export function listInstances(accountId: string, opts: FleetOptions): InstanceInfo[] {
  const seed = opts.dataSeed ?? DEFAULT_DATA_SEED;
  const today = opts.todayIndex;
  const key = `${seed}|${accountId}|${today}`;
  const cached = fleets.get(key);
  if (cached) return [...cached];
  const todayStart = today * 86_400;
  const fleet: InstanceInfo[] = [];
  const ec2Count = hashInt(4, 12, seed, accountId, 'ec2-count');
  for (let i = 0; i < ec2Count; i++) {
    const hex = [0, 1, 2, 3]
      .map((n) => hashInt(0, 0xfffff, seed, accountId, 'ec2', i, n).toString(16).padStart(5, '0'))
      .join('');
    fleet.push({
      namespace: 'AWS/EC2',
      dimensionName: 'InstanceId',
      id: `i-0${hex.slice(0, 16)}`,
      instanceType: EC2_TYPES[hashInt(0, EC2_TYPES.length - 1, seed, accountId, 'ec2-type', i)] ?? 'm5.large',
      region: 'us-east-1',
      ...lifetime(seed, accountId, 'ec2', i, todayStart),
      resolution: 300,
      metrics: EC2_METRICS,
    });
  }
  const rdsCount = hashInt(1, 4, seed, accountId, 'rds-count');
  for (let i = 0; i < rdsCount; i++) {
    fleet.push({
      namespace: 'AWS/RDS',
      dimensionName: 'DBInstanceIdentifier',
      id: `${DB_NAMES[i % DB_NAMES.length] ?? 'db'}-${i < DB_NAMES.length ? 'prod' : `prod-${i}`}`,
      instanceType:
        RDS_TYPES[hashInt(0, RDS_TYPES.length - 1, seed, accountId, 'rds-type', i)] ?? 'db.r5.large',
      region: 'us-east-1',
      ...lifetime(seed, accountId, 'rds', i, todayStart),
      resolution: 60,
      metrics: RDS_METRICS,
    });
  }
  fleets.set(key, fleet);
  return [...fleet];
}

function lifetime(
  seed: string,
  accountId: string,
  kind: string,
  i: number,
  todayStart: number,
): { launchedAt: number; stoppedAt: number | null } {
  // Instance 1 is always recent and instance 2 always stopped so every fleet shows both cases.
  const recent = i === 1 || hashInt(0, 99, seed, accountId, kind, i, 'recent') < 15;
  const launchDaysAgo = recent
    ? hashInt(1, 5, seed, accountId, kind, i, 'age')
    : hashInt(30, 500, seed, accountId, kind, i, 'age');
  const launchedAt =
    todayStart - launchDaysAgo * 86_400 + hashInt(0, 23, seed, accountId, kind, i, 'hour') * 3600;
  const stopped = !recent && (i === 2 || hashInt(0, 99, seed, accountId, kind, i, 'stopped') < 12);
  const stoppedAt = stopped
    ? todayStart - hashInt(1, 25, seed, accountId, kind, i, 'stop-days') * 86_400 + 7200
    : null;
  return { launchedAt, stoppedAt };
}

/**
 * The constants of one (seed, instance, metric) series, hashed once: the series' level and
 * the FNV state of the noise hash's fixed prefix, so a sample costs one short hash.
 */
export interface MetricSeries {
  readonly metric: MetricSpec;
  /** `metric.base * personality`. */
  readonly level: number;
  /** Whether the daily load curve applies (not to free-space gauges). */
  readonly diurnal: boolean;
  /** `hashPrefix(seed, instance.id, metric.name)`: the noise hash before the timestamp. */
  readonly noisePrefix: number;
}

const MAX_CACHED_SERIES = 50_000;
const seriesCache = new Map<string, MetricSeries>();

/** The series of a metric of an instance (cached: it depends only on seed, instance id and metric). */
export function metricSeries(
  instance: InstanceInfo,
  metric: MetricSpec,
  seed = DEFAULT_DATA_SEED,
): MetricSeries {
  const key = `${seed}|${instance.namespace}|${instance.id}|${metric.name}`;
  const cached = seriesCache.get(key);
  if (cached?.metric === metric) return cached;
  const personality = 0.6 + hashUnit(seed, instance.id, metric.name, 'level') * 0.8;
  const series: MetricSeries = {
    metric,
    level: metric.base * personality,
    diurnal: !(metric.unit === 'Bytes' && metric.name.startsWith('Free')),
    noisePrefix: hashPrefix(seed, instance.id, metric.name),
  };
  if (seriesCache.size >= MAX_CACHED_SERIES) seriesCache.clear();
  seriesCache.set(key, series);
  return series;
}

/** Raw sample of a metric at an aligned timestamp, or undefined when the instance was not running. */
export function rawSample(
  instance: InstanceInfo,
  metric: MetricSpec,
  t: number,
  nowSeconds: number,
  seed = DEFAULT_DATA_SEED,
): number | undefined {
  return seriesSample(instance, metricSeries(instance, metric, seed), t, nowSeconds);
}

/** `rawSample` of a series of the instance. */
export function seriesSample(
  instance: InstanceInfo,
  series: MetricSeries,
  t: number,
  nowSeconds: number,
): number | undefined {
  if (t < instance.launchedAt || t >= nowSeconds) return undefined;
  if (instance.stoppedAt !== null && t >= instance.stoppedAt) return undefined;
  const metric = series.metric;
  if (metric.swing === 0) return metric.base;
  const hour = Math.floor((t % 86_400) / 3600);
  const shape = (DIURNAL_PM[hour] ?? 1000) / 1000;
  const noise = (hashPrefixedInt(series.noisePrefix, t) / 0x100000000) * 2 - 1;
  // Same operations in the same order as `base * personality * shape + swing * 0.3 * noise`.
  const value = series.level * (series.diurnal ? shape : 1) + metric.swing * 0.3 * noise;
  const bounded = Math.max(0, metric.unit === 'Percent' ? Math.min(100, value) : value);
  // Counts are whole numbers and percentages carry AWS-like precision.
  return metric.unit === 'Count' ? Math.round(bounded) : Math.round(bounded * 1e6) / 1e6;
}
