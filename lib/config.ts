/**
 * CostWatch configuration: the one place that reads `process.env`.
 *
 * Every variable of SPEC.md and every tunable is declared (and commented) in `envSchema`. A role
 * parses the environment once at start with `loadConfig(role)`; a missing or malformed variable
 * stops the process with one line per problem that names the variable.
 */
import { z } from 'zod';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const int = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^-?\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

const decimal = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+(\.\d+)?$/, 'must be a number')
    .transform(Number)
    .pipe(z.number().min(min).max(max));

const bool = z
  .string()
  .trim()
  .toLowerCase()
  .pipe(z.enum(['true', 'false', '1', '0', 'yes', 'no']))
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const url = (protocols: string[]) =>
  z
    .string()
    .trim()
    .refine(
      (v) => {
        try {
          return protocols.includes(new URL(v).protocol);
        } catch {
          return false;
        }
      },
      `must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`,
    );

// Five- or six-field cron expression; BullMQ's cron parser validates it fully at scheduling time.
const cron = z
  .string()
  .trim()
  .regex(/^(\S+\s+){4,5}\S+$/, 'must be a cron expression such as "0 */6 * * *"');

/** Every environment variable CostWatch reads. Values are strings in the environment. */
export const envSchema = z.object({
  /** Postgres connection string: postgresql://user:password@host:port/database */
  DATABASE_URL: url(['postgres:', 'postgresql:']).optional(),
  /** Redis connection string: redis://[:password@]host:port[/db] (rediss:// for TLS) */
  REDIS_URL: url(['redis:', 'rediss:']).optional(),
  /** HS256 secret for API tokens; at least 32 characters and the same on every api replica. */
  JWT_SECRET_KEY: z.string().min(32, 'must be at least 32 characters').optional(),
  /** pino level: fatal, error, warn, info, debug, trace or silent (case-insensitive). */
  LOG_LEVEL: z.string().trim().toLowerCase().pipe(z.enum(LOG_LEVELS)).default('info'),
  /** API listen port (api-gateway). */
  PORT: int(0, 65535).default(8002),
  /** Host the HTTP listeners bind to. */
  HOST: z.string().trim().min(1).default('0.0.0.0'),
  /** Metrics/health port of the scheduler and workers; 0 picks a free port. */
  METRICS_PORT: int(0, 65535).default(9464),
  /** Default AWS region for every client. */
  AWS_REGION: z
    .string()
    .trim()
    .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must be an AWS region such as us-east-1')
    .default('us-east-1'),
  /** Points every AWS client at an emulator such as `costwatch sim` (read natively by the AWS SDK too). */
  AWS_ENDPOINT_URL: url(['http:', 'https:']).optional(),

  /** Prefix of every BullMQ key in Redis; lets several deployments (or tests) share one Redis. */
  QUEUE_PREFIX: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and - only')
    .default('costwatch'),
  /** Postgres pool size per process. Keep replicas x pool below max_connections (see `costwatch doctor`). */
  DB_POOL_SIZE: int(1, 200).default(10),

  /** Cron pattern (UTC) of the scheduled refresh of every active organization (each refresh costs Cost Explorer requests: docs/AWS-COSTS.md). */
  REFRESH_CRON: cron.default('0 6 * * *'),
  /** Days before today that are always re-fetched (AWS restates recent days, flagged Estimated). */
  RESTATEMENT_DAYS: int(1, 60).default(3),
  /** Days before today a scheduled metrics refresh re-reads (CloudWatch data is final within hours; keep it above the tick interval). */
  METRICS_REFRESH_DAYS: int(1, 60).default(1),
  /** Re-fetch the whole current month on each refresh (credits and amortisation restate month to date). */
  REFETCH_CURRENT_MONTH: bool.default(true),
  /**
   * Refreshes probe first: one ungrouped GetCostAndUsage finds the days Cost Explorer changed, and
   * only those are fetched grouped (false: every refresh re-reads its whole window, both groupings).
   */
  RESTATEMENT_PROBE: bool.default(true),
  /** The previous month is re-fetched until this day of the current month, when its bill is final. */
  BILL_CLOSE_DAY: int(1, 28).default(5),
  /** Days per fetch window in a backfill. */
  BACKFILL_WINDOW_DAYS: int(1, 31).default(7),
  /** Oldest data Cost Explorer serves, in months (AWS: 13 without the 38-month opt-in). */
  COST_HISTORY_MONTHS: int(1, 38).default(13),

  /** Cost Explorer requests per second per organization, across every worker replica. */
  CE_RATE_PER_ORG: decimal(0.1, 1000).default(5),
  /**
   * Cost Explorer requests per organization per UTC day ($0.01 each), across every replica; an org
   * that reaches it is `capped` and its remaining work runs the next day. 0 turns the cap off.
   */
  CE_DAILY_REQUEST_CAP: int(0, 1_000_000).default(500),
  /** CloudWatch requests per second per organization, across every worker replica. */
  CW_RATE_PER_ORG: decimal(0.1, 1000).default(20),
  /** AWS requests per second across all organizations and replicas (global cap). */
  AWS_RATE_GLOBAL: decimal(1, 100000).default(200),
  /** Attempts of one AWS request on transient and server errors (backoff with full jitter) before the job reacts. */
  AWS_MAX_ATTEMPTS: int(1, 20).default(5),
  /** Attempts of one AWS request while AWS throttles it (no SDK retry quota; each attempt waits for the org's rate-limit slot). */
  AWS_THROTTLE_ATTEMPTS: int(1, 30).default(10),
  /** First delay of a throttled organization's job, doubled on each throttle (at most 32x, and 10 minutes). */
  THROTTLE_BACKOFF_MS: int(100, 600000).default(5000),
  /** Attempts of a fetch job before it fails for good (transient errors). */
  FETCH_ATTEMPTS: int(1, 50).default(6),
  /** Base delay of the exponential retry backoff of failed jobs, with jitter. */
  RETRY_BACKOFF_MS: int(10, 600000).default(2000),

  /** Concurrent jobs per worker process, per queue. */
  WORKER_CONCURRENCY: int(1, 256).default(8),
  /** Concurrent GetMetricData batches within one metrics job (p-limit). */
  METRICS_CONCURRENCY: int(1, 64).default(4),
  /** CloudWatch statistics period in seconds for utilisation metrics. */
  METRICS_PERIOD_SECONDS: int(60, 86400).default(3600),
  /** Job lock duration: a job whose worker died (kill -9, node lost) is handed to another after this. */
  JOB_LOCK_SECONDS: int(5, 600).default(30),
  /** Seconds a worker waits for its running jobs on SIGTERM before handing them back. */
  SHUTDOWN_GRACE_SECONDS: int(1, 3600).default(25),

  /** Lifetime of API access tokens, in seconds. */
  TOKEN_TTL_SECONDS: int(60, 86400).default(3600),
  /** Seconds an API response stays cached in Redis (also invalidated by every rollup). */
  API_CACHE_TTL_SECONDS: int(0, 86400).default(300),
  /** Login attempts per email and per IP address per 15 minutes. */
  LOGIN_ATTEMPTS_PER_15MIN: int(1, 10000).default(10),
});

export type Env = z.infer<typeof envSchema>;

/** Which process is starting; decides which variables are required. */
export type Role = 'api' | 'scheduler' | 'worker' | 'sim' | 'migrate' | 'cli' | 'cli-queue' | 'doctor';

const REQUIRED: Record<Role, ReadonlyArray<'DATABASE_URL' | 'REDIS_URL' | 'JWT_SECRET_KEY'>> = {
  api: ['DATABASE_URL', 'REDIS_URL', 'JWT_SECRET_KEY'],
  scheduler: ['DATABASE_URL', 'REDIS_URL', 'JWT_SECRET_KEY'],
  worker: ['DATABASE_URL', 'REDIS_URL', 'JWT_SECRET_KEY'],
  sim: [],
  migrate: ['DATABASE_URL'],
  cli: ['DATABASE_URL'],
  'cli-queue': ['DATABASE_URL', 'REDIS_URL'],
  doctor: [],
};

export type Config = Env & { role: Role };
/** A configuration for a role whose required variables are known to be present. */
export type ServiceConfig = Config & { DATABASE_URL: string; REDIS_URL: string; JWT_SECRET_KEY: string };

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
  }
}

/**
 * A bad value as a config error may show it: error lines end up in logs, so the JWT secret is
 * never shown (only its length) and a URL's password is masked.
 */
function shownValue(name: string, value: string): string {
  if (name === 'JWT_SECRET_KEY') return `a value of ${value.length} characters`;
  if (name.endsWith('_URL'))
    return JSON.stringify(value.replace(/^([^:/?#\s]+:\/\/[^:/@\s]*:)[^@\s]*@/, '$1***@'));
  return JSON.stringify(value);
}

/**
 * Parses an environment for a role. Empty strings count as unset. Throws ConfigError listing
 * every problem, one line each, each starting with the variable's name.
 */
export function parseConfig(role: Role, env: Record<string, string | undefined>): Config {
  const cleaned: Record<string, string> = {};
  for (const key of Object.keys(envSchema.shape)) {
    const value = env[key];
    if (value !== undefined && value.trim() !== '') cleaned[key] = value;
  }
  const problems: string[] = [];
  for (const key of REQUIRED[role]) {
    if (cleaned[key] === undefined) problems.push(`${key}: environment variable required`);
  }
  const parsed = envSchema.safeParse(cleaned);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const name = issue.path.join('.') || 'environment';
      problems.push(`${name}: ${issue.message} (got ${shownValue(name, cleaned[name] ?? '')})`);
    }
  }
  if (problems.length > 0 || !parsed.success) throw new ConfigError(problems);
  return { ...parsed.data, role };
}

/** Narrows a config to one whose database, Redis and JWT settings are present (api, scheduler, worker). */
export function asServiceConfig(config: Config): ServiceConfig {
  const { DATABASE_URL, REDIS_URL, JWT_SECRET_KEY } = config;
  if (DATABASE_URL === undefined || REDIS_URL === undefined || JWT_SECRET_KEY === undefined) {
    throw new ConfigError(
      (['DATABASE_URL', 'REDIS_URL', 'JWT_SECRET_KEY'] as const)
        .filter((k) => config[k] === undefined)
        .map((k) => `${k}: environment variable required`),
    );
  }
  return { ...config, DATABASE_URL, REDIS_URL, JWT_SECRET_KEY };
}

/** Returns a required string setting or throws the standard one-line problem for it. */
export function required<K extends 'DATABASE_URL' | 'REDIS_URL' | 'JWT_SECRET_KEY'>(
  config: Config,
  key: K,
): string {
  const value = config[key];
  if (value === undefined) throw new ConfigError([`${key}: environment variable required`]);
  return value;
}

/**
 * Parses `process.env` for a role; on failure prints one line per problem to stderr and exits 1.
 * Call once, at the start of a composition root.
 */
export function loadConfig(role: Role): Config {
  try {
    return parseConfig(role, process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      for (const line of error.problems) process.stderr.write(`config error: ${line}\n`);
      process.exit(1);
    }
    throw error;
  }
}
