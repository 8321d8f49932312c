/**
 * `costwatch sim`: the simulator's composition root. Parses flags, starts the server, logs
 * one line with its URL and closes cleanly on SIGTERM/SIGINT. Its clock defaults to the
 * CLOCK_START / CLOCK_FROZEN of the environment, like every other role's.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { parseInstant } from '../lib/clock.js';
import { loadConfig } from '../lib/config.js';
import { DEFAULT_OPTIONS, OPERATION_FAULTS, type OperationFault, type SimOptions } from './options.js';
import { startSimulator } from './server.js';

function integer(name: string, min: number): (value: string) => number {
  return (value) => {
    const parsed = Number(value);
    if (!Number.isInteger(parsed) || parsed < min)
      throw new InvalidArgumentError(`${name} must be an integer >= ${min}`);
    return parsed;
  };
}

function nonNegative(value: string): number {
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed < 0) throw new InvalidArgumentError('must be a number >= 0');
  return parsed;
}

function instant(value: string): string {
  if (parseInstant(value) === undefined)
    throw new InvalidArgumentError(
      'must be an ISO-8601 instant such as 2026-11-15T06:00:00Z (or a date YYYY-MM-DD)',
    );
  return value;
}

function fraction(value: string): number {
  const parsed = Number(value);
  if (!(parsed >= 0 && parsed <= 1)) throw new InvalidArgumentError('must be a number between 0 and 1');
  return parsed;
}

function accountList(value: string): string[] {
  const ids = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (!ids.every((id) => /^\d{12}$/.test(id)))
    throw new InvalidArgumentError('must be comma-separated 12-digit account ids');
  return ids;
}

function externalIdPairs(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const match = /^(\d{12}|arn:aws[a-z-]*:iam::\d{12}:role\/[^=\s]+)=(.+)$/.exec(value);
  if (!match?.[1] || !match[2])
    throw new InvalidArgumentError('must be ACCOUNT_ID=EXTERNAL_ID or ROLE_ARN=EXTERNAL_ID');
  return { ...previous, [match[1]]: match[2] };
}

function operationFaultPairs(
  value: string,
  previous: Record<string, OperationFault> = {},
): Record<string, OperationFault> {
  const match = /^([a-z]+:[A-Za-z]+)=(\w+)$/.exec(value);
  const fault = OPERATION_FAULTS.find((f) => f === match?.[2]);
  if (!match?.[1] || !fault)
    throw new InvalidArgumentError(`must be service:Operation=${OPERATION_FAULTS.join('|')}`);
  return { ...previous, [match[1]]: fault };
}

interface SimFlags {
  port: number;
  host: string;
  latencyMs: number;
  latencyJitterMs: number;
  pageSize: number;
  dimensionPageSize: number;
  listMetricsPageSize: number;
  maxDatapoints: number;
  rateLimit: number;
  throttleRate: number;
  errorRate: number;
  malformedRate: number;
  accessDenied?: string[];
  dataUnavailable?: string[];
  endlessPaging?: string[];
  externalId?: Record<string, string>;
  operationFault?: Record<string, OperationFault>;
  today?: string;
  clockStart?: string;
  clockFrozen?: boolean;
  seed: string;
  dataSeed: string;
  defaultAccount: string;
  historyMonths: number;
  sessionDuration: number;
  maxSessionDuration: number;
}

/** Adds `costwatch sim` to the CLI. */
export function registerSimCommand(program: Command): void {
  const d = DEFAULT_OPTIONS;
  program
    .command('sim')
    .description('run the local AWS endpoint (Cost Explorer, CloudWatch, STS); point AWS_ENDPOINT_URL at it')
    .option('--port <port>', 'TCP port (0 picks a free one)', integer('port', 0), d.port)
    .option('--host <host>', 'interface to bind', d.host)
    .option('--latency-ms <ms>', 'latency added to every AWS response', nonNegative, d.latencyMs)
    .option(
      '--latency-jitter-ms <ms>',
      'extra uniform latency 0..ms (seeded)',
      nonNegative,
      d.latencyJitterMs,
    )
    .option('--page-size <n>', 'GetCostAndUsage groups per page', integer('page size', 1), d.pageSize)
    .option(
      '--dimension-page-size <n>',
      'GetDimensionValues values per page',
      integer('dimension page size', 1),
      d.dimensionPageSize,
    )
    .option(
      '--list-metrics-page-size <n>',
      'ListMetrics metrics per page',
      integer('list metrics page size', 1),
      d.listMetricsPageSize,
    )
    .option(
      '--max-datapoints <n>',
      'GetMetricData datapoints per call when the request sets none',
      integer('max datapoints', 1),
      d.maxDatapoints,
    )
    .option(
      '--rate-limit <rps>',
      'requests per second per account per service (0 = unlimited)',
      nonNegative,
      d.rateLimit,
    )
    .option(
      '--throttle-rate <0..1>',
      'fraction of requests answered with throttling errors',
      fraction,
      d.throttleRate,
    )
    .option('--error-rate <0..1>', 'fraction of requests answered with 500/503', fraction, d.errorRate)
    .option(
      '--malformed-rate <0..1>',
      'fraction of responses cut short (invalid JSON/XML)',
      fraction,
      d.malformedRate,
    )
    .option(
      '--access-denied <ids>',
      'comma-separated accounts denied on AssumeRole, Cost Explorer and CloudWatch',
      accountList,
    )
    .option(
      '--data-unavailable <ids>',
      'comma-separated accounts answered with DataUnavailableException',
      accountList,
    )
    .option(
      '--endless-paging <ids>',
      'comma-separated accounts whose paged reads never end (a fresh page token on every page)',
      accountList,
    )
    .option(
      '--external-id <account=id>',
      'external id AssumeRole requires for an account or a role ARN (repeatable)',
      externalIdPairs,
    )
    .option(
      '--operation-fault <op=fault>',
      'answer every call of one operation with a fault, e.g. ce:GetCostForecast=error|throttle|malformed|unavailable (repeatable)',
      operationFaultPairs,
    )
    .option(
      '--clock-start <instant>',
      "the simulator's clock starts at this ISO-8601 instant and runs at real speed (default: CLOCK_START, else the wall clock)",
      instant,
    )
    .option('--clock-frozen', 'with --clock-start: the clock stands still (default: CLOCK_FROZEN)')
    .option(
      '--today <YYYY-MM-DD>',
      "overrides the date of the simulator's clock (the time of day still runs)",
    )
    .option('--seed <seed>', 'seed of injected faults and jitter', d.seed)
    .option('--data-seed <seed>', 'seed of the generated bill and fleet', d.dataSeed)
    .option(
      '--default-account <id>',
      'account for access keys without a 12-digit account id',
      d.defaultAccountId,
    )
    .option(
      '--history-months <n>',
      'months of Cost Explorer history before the current month',
      integer('history months', 1),
      d.historyMonths,
    )
    .option(
      '--session-duration <s>',
      'AssumeRole session length without DurationSeconds',
      integer('session duration', 900),
      d.sessionDurationSeconds,
    )
    .option(
      '--max-session-duration <s>',
      "the role's MaxSessionDuration",
      integer('max session duration', 900),
      d.maxSessionDurationSeconds,
    )
    .action(async (flags: SimFlags) => {
      const config = loadConfig('sim');
      const clockStart = flags.clockStart ?? config.CLOCK_START?.toISOString() ?? null;
      const options: Partial<SimOptions> = {
        port: flags.port,
        host: flags.host,
        latencyMs: flags.latencyMs,
        latencyJitterMs: flags.latencyJitterMs,
        pageSize: flags.pageSize,
        dimensionPageSize: flags.dimensionPageSize,
        listMetricsPageSize: flags.listMetricsPageSize,
        maxDatapoints: flags.maxDatapoints,
        rateLimit: flags.rateLimit,
        throttleRate: flags.throttleRate,
        errorRate: flags.errorRate,
        malformedRate: flags.malformedRate,
        accessDeniedAccounts: flags.accessDenied ?? [],
        dataUnavailableAccounts: flags.dataUnavailable ?? [],
        endlessPagingAccounts: flags.endlessPaging ?? [],
        externalIds: flags.externalId ?? {},
        operationFaults: flags.operationFault ?? {},
        clockStart,
        clockFrozen: clockStart !== null && (flags.clockFrozen === true || config.CLOCK_FROZEN),
        today: flags.today ?? null,
        seed: flags.seed,
        dataSeed: flags.dataSeed,
        defaultAccountId: flags.defaultAccount,
        historyMonths: flags.historyMonths,
        sessionDurationSeconds: flags.sessionDuration,
        maxSessionDurationSeconds: flags.maxSessionDuration,
      };
      const sim = await startSimulator(options);
      process.stdout.write(
        `costwatch sim: AWS endpoint listening on ${sim.url} (control API ${sim.url}/_sim/options)\n`,
      );
      const stop = (): void => {
        sim.close().then(
          () => process.exit(0),
          () => process.exit(1),
        );
      };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
}
