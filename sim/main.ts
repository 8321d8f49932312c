/**
 * `costwatch sim`: the simulator's composition root. Parses flags, starts the server, logs
 * one line with its URL and closes cleanly on SIGTERM/SIGINT.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { DEFAULT_OPTIONS, type SimOptions } from './options.js';
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
  today?: string;
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
    .option('--today <YYYY-MM-DD>', "the simulator's today (default: real UTC date)")
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
