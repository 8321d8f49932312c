/**
 * Simulator settings. Every knob can be given at start (`startSimulator`, `costwatch sim`
 * flags) and changed while running (control API), so tests and benchmarks can shape the
 * behaviour of "AWS" without restarting it.
 */
import { parseInstant } from '../lib/clock.js';
import { parseDay } from './calendar.js';
import { costInjectionProblems, type CostInjection } from './cost-injections.js';
import { DEFAULT_RESTATEMENT, mergeRestatement, type RestatementOptions } from './restatement.js';

export interface SimOptions {
  /** TCP port; 0 picks a free one. */
  port: number;
  host: string;
  /** Seed of the generated bill and fleet. Same seed, account and day give the same data. */
  dataSeed: string;
  /** Seed of injected faults and latency jitter. */
  seed: string;
  /**
   * The simulator's clock: an ISO-8601 instant it starts at (when started, or when this option
   * is set) and runs from at real speed, like CLOCK_START of the other roles; null follows the
   * clock `startSimulator` was given (default the wall clock).
   */
  clockStart: string | null;
  /** With clockStart: the clock stands still at that instant. */
  clockFrozen: boolean;
  /** Overrides the clock's date only (`YYYY-MM-DD`; the time of day still runs); null: the clock's date. */
  today: string | null;
  /** Account for access keys that carry no 12-digit account id. */
  defaultAccountId: string;
  /** Added to every AWS response, in ms. */
  latencyMs: number;
  /** Uniform extra latency 0..jitter ms, drawn from the seeded PRNG. */
  latencyJitterMs: number;
  /** Requests per second allowed per account per service; 0 means unlimited. */
  rateLimit: number;
  /** Fraction 0..1 of AWS requests answered with the service's throttling error. */
  throttleRate: number;
  /** Fraction 0..1 of AWS requests answered with 500 or 503. */
  errorRate: number;
  /** Fraction 0..1 of successful responses cut short (invalid JSON/XML). */
  malformedRate: number;
  /** Fraction 0..1 of successful responses whose every `Amount` is not a decimal (and which carry an unexpected key). */
  corruptAmountRate: number;
  /** Per-account throttle fraction 0..1, overriding throttleRate for those accounts. */
  accountThrottleRates: Record<string, number>;
  /** Accounts whose AssumeRole, Cost Explorer and CloudWatch calls are denied. */
  accessDeniedAccounts: string[];
  /**
   * Faults of one operation, whatever the account: `{"ce:GetCostForecast": "error"}` answers every
   * call of it with 500 InternalFailure, `throttle` with the throttling error, `malformed` with a body
   * cut in half, `unavailable` with DataUnavailableException. Other operations are unaffected.
   */
  operationFaults: Record<string, OperationFault>;
  /** Accounts whose Cost Explorer calls fail with DataUnavailableException. */
  dataUnavailableAccounts: string[];
  /** External id AssumeRole requires, per role ARN or per role account (a role ARN key wins). */
  externalIds: Record<string, string>;
  /** Accounts whose paged reads (GetCostAndUsage, GetDimensionValues, ListMetrics, GetMetricData) never end: every page carries a fresh token. */
  endlessPagingAccounts: string[];
  /** Linked account names overriding the generated ones (an account renamed in AWS Organizations). */
  accountNames: Record<string, string>;
  /** Cost Explorer GetCostAndUsage groups per page. */
  pageSize: number;
  /** Cost Explorer GetDimensionValues values per page. */
  dimensionPageSize: number;
  /** CloudWatch ListMetrics metrics per page (AWS: 500). */
  listMetricsPageSize: number;
  /** GetMetricData datapoints per call when the request gives no MaxDatapoints (AWS: 100,800). */
  maxDatapoints: number;
  /** Months of Cost Explorer history before the current month (AWS: 13). */
  historyMonths: number;
  /** AssumeRole session length when DurationSeconds is absent. */
  sessionDurationSeconds: number;
  /** The role's MaxSessionDuration; longer DurationSeconds is rejected. */
  maxSessionDurationSeconds: number;
  /** Injected spikes, sustained increases and new services (docs/SIMULATOR.md). */
  costInjections: CostInjection[];
  /** How Cost Explorer restates (sim/restatement.ts); off by default: estimates move on every call. */
  restatement: RestatementOptions;
}

export const OPERATION_FAULTS = ['error', 'throttle', 'malformed', 'unavailable'] as const;
export type OperationFault = (typeof OPERATION_FAULTS)[number];

export const DEFAULT_OPTIONS: Readonly<SimOptions> = {
  port: 4566,
  host: '127.0.0.1',
  dataSeed: 'costwatch',
  seed: 'costwatch',
  clockStart: null,
  clockFrozen: false,
  today: null,
  defaultAccountId: '123456789012',
  latencyMs: 0,
  latencyJitterMs: 0,
  rateLimit: 0,
  throttleRate: 0,
  errorRate: 0,
  malformedRate: 0,
  corruptAmountRate: 0,
  accountThrottleRates: {},
  accessDeniedAccounts: [],
  operationFaults: {},
  dataUnavailableAccounts: [],
  externalIds: {},
  endlessPagingAccounts: [],
  accountNames: {},
  pageSize: 500,
  dimensionPageSize: 1000,
  listMetricsPageSize: 500,
  maxDatapoints: 100_800,
  historyMonths: 13,
  sessionDurationSeconds: 3600,
  maxSessionDurationSeconds: 43_200,
  costInjections: [],
  restatement: DEFAULT_RESTATEMENT,
};

const RATE_KEYS = ['throttleRate', 'errorRate', 'malformedRate', 'corruptAmountRate'] as const;
const COUNT_KEYS = ['latencyMs', 'latencyJitterMs', 'rateLimit'] as const;
const PAGE_KEYS = [
  'pageSize',
  'dimensionPageSize',
  'listMetricsPageSize',
  'maxDatapoints',
  'historyMonths',
  'sessionDurationSeconds',
  'maxSessionDurationSeconds',
] as const;

/**
 * Merges a partial update into options, validating it. Returns the list of problems instead
 * of throwing so the control API can answer 400 with all of them.
 */
export function mergeOptions(
  base: Readonly<SimOptions>,
  update: Record<string, unknown>,
): { options: SimOptions; problems: string[] } {
  const options: SimOptions = {
    ...base,
    externalIds: { ...base.externalIds },
    accountNames: { ...base.accountNames },
    accountThrottleRates: { ...base.accountThrottleRates },
    operationFaults: { ...base.operationFaults },
    restatement: { ...base.restatement },
  };
  const problems: string[] = [];
  for (const [key, value] of Object.entries(update)) {
    if (value === undefined) continue;
    if ((RATE_KEYS as readonly string[]).includes(key)) {
      if (typeof value !== 'number' || !(value >= 0 && value <= 1))
        problems.push(`${key}: must be a number between 0 and 1`);
      else options[key as (typeof RATE_KEYS)[number]] = value;
    } else if ((COUNT_KEYS as readonly string[]).includes(key)) {
      if (typeof value !== 'number' || !(value >= 0)) problems.push(`${key}: must be a number >= 0`);
      else options[key as (typeof COUNT_KEYS)[number]] = value;
    } else if ((PAGE_KEYS as readonly string[]).includes(key)) {
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 1)
        problems.push(`${key}: must be an integer >= 1`);
      else options[key as (typeof PAGE_KEYS)[number]] = value;
    } else if (key === 'port') {
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 65535)
        problems.push('port: must be 0..65535');
      else options.port = value;
    } else if (key === 'host' || key === 'seed' || key === 'dataSeed') {
      if (typeof value !== 'string' || value === '') problems.push(`${key}: must be a non-empty string`);
      else options[key] = value;
    } else if (key === 'clockStart') {
      if (value !== null && (typeof value !== 'string' || parseInstant(value) === undefined))
        problems.push('clockStart: must be an ISO-8601 instant such as 2026-11-15T06:00:00Z, or null');
      else options.clockStart = value;
    } else if (key === 'clockFrozen') {
      if (typeof value !== 'boolean') problems.push('clockFrozen: must be true or false');
      else options.clockFrozen = value;
    } else if (key === 'restatement') {
      const merged = mergeRestatement(options.restatement, value);
      if (typeof merged === 'string') problems.push(merged);
      else options.restatement = merged;
    } else if (key === 'today') {
      if (value !== null && (typeof value !== 'string' || parseDay(value) === undefined))
        problems.push('today: must be YYYY-MM-DD or null');
      else options.today = value;
    } else if (key === 'defaultAccountId') {
      if (typeof value !== 'string' || !/^\d{12}$/.test(value))
        problems.push('defaultAccountId: must be a 12-digit account id');
      else options.defaultAccountId = value;
    } else if (
      key === 'accessDeniedAccounts' ||
      key === 'dataUnavailableAccounts' ||
      key === 'endlessPagingAccounts'
    ) {
      if (!Array.isArray(value) || !value.every((v) => typeof v === 'string' && /^\d{12}$/.test(v)))
        problems.push(`${key}: must be a list of 12-digit account ids`);
      else options[key] = [...(value as string[])];
    } else if (key === 'accountThrottleRates') {
      if (
        typeof value !== 'object' ||
        value === null ||
        Array.isArray(value) ||
        !Object.entries(value).every(
          ([k, v]) => /^\d{12}$/.test(k) && typeof v === 'number' && v >= 0 && v <= 1,
        )
      ) {
        problems.push('accountThrottleRates: must map 12-digit account ids to numbers between 0 and 1');
      } else options.accountThrottleRates = { ...(value as Record<string, number>) };
    } else if (key === 'operationFaults') {
      if (
        typeof value !== 'object' ||
        value === null ||
        Array.isArray(value) ||
        !Object.entries(value).every(
          ([k, v]) => /^[a-z]+:[A-Za-z]+$/.test(k) && (OPERATION_FAULTS as readonly unknown[]).includes(v),
        )
      ) {
        problems.push(`operationFaults: must map service:Operation to one of ${OPERATION_FAULTS.join(', ')}`);
      } else options.operationFaults = { ...(value as Record<string, OperationFault>) };
    } else if (key === 'accountNames') {
      if (
        typeof value !== 'object' ||
        value === null ||
        Array.isArray(value) ||
        !Object.entries(value).every(([k, v]) => /^\d{12}$/.test(k) && typeof v === 'string' && v !== '')
      ) {
        problems.push('accountNames: must map 12-digit account ids to non-empty names');
      } else options.accountNames = { ...(value as Record<string, string>) };
    } else if (key === 'externalIds') {
      if (
        typeof value !== 'object' ||
        value === null ||
        Array.isArray(value) ||
        !Object.entries(value).every(
          ([k, v]) =>
            (/^\d{12}$/.test(k) || /^arn:aws[a-z-]*:iam::\d{12}:role\/\S+$/.test(k)) && typeof v === 'string',
        )
      ) {
        problems.push('externalIds: must map account ids or role ARNs to external ids');
      } else options.externalIds = { ...(value as Record<string, string>) };
    } else if (key === 'costInjections') {
      const found = costInjectionProblems(value);
      if (found.length > 0) problems.push(...found);
      else options.costInjections = (value as CostInjection[]).map((i) => ({ ...i }));
    } else {
      problems.push(`${key}: unknown option`);
    }
  }
  if (options.clockFrozen && options.clockStart === null)
    problems.push('clockFrozen: needs clockStart, the instant the clock stands still at');
  return { options, problems };
}
