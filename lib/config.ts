/**
 * CostWatch configuration: the one place that reads `process.env`.
 *
 * Every variable of SPEC.md and every tunable is declared (and commented) in `envSchema`. A role
 * parses the environment once at start with `loadConfig(role)`; a missing or malformed variable
 * stops the process with one line per problem that names the variable.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { KEY_FIX, weakKeyReason } from './secrets.js';
import { parseInstant } from './clock.js';

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

/**
 * TRUST_PROXY: a hop count ("1": the nearest proxy, e.g. the ingress controller) or a comma list of
 * addresses / CIDRs of the proxies (plus express's names loopback, linklocal, uniquelocal). Never a
 * blanket "true": with it any client could set its own address with X-Forwarded-For.
 */
const PROXY_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);
function validProxyEntry(entry: string): boolean {
  if (PROXY_NAMES.has(entry)) return true;
  const [address = '', bits, ...rest] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (bits === undefined) return true;
  if (!/^\d{1,3}$/.test(bits)) return false;
  return Number(bits) <= (family === 4 ? 32 : 128);
}
const trustProxy = z
  .string()
  .trim()
  .refine((v) => !/^(true|yes|on|\*)$/i.test(v), {
    message:
      'must be a hop count or a list of proxy addresses/CIDRs, never "true" (any client could then forge X-Forwarded-For)',
  })
  .transform((v, ctx): number | string[] => {
    if (/^\d+$/.test(v)) {
      const hops = Number(v);
      if (hops > 10) ctx.addIssue({ code: 'custom', message: 'a hop count must be 0 to 10' });
      return hops;
    }
    const entries = v
      .split(',')
      .map((e) => e.trim().toLowerCase())
      .filter((e) => e !== '');
    const bad = entries.find((e) => !validProxyEntry(e));
    if (entries.length === 0 || bad !== undefined)
      ctx.addIssue({
        code: 'custom',
        message: `must be a hop count (e.g. 1) or a comma list of IP addresses or CIDRs such as 10.0.0.0/8${bad !== undefined ? ` ("${bad}" is neither)` : ''}`,
      });
    return entries;
  });

/** JWT_SECRET_KEYS: comma-separated signing keys, each at least 32 characters; the first signs. */
const keyList = z
  .string()
  .transform((v) =>
    v
      .split(',')
      .map((k) => k.trim())
      .filter((k) => k !== ''),
  )
  .pipe(
    z
      .array(z.string().min(32, 'every key must be at least 32 characters'))
      .min(1, 'must list at least one key'),
  );

const instant = z
  .string()
  .trim()
  .transform((v, ctx) => {
    const parsed = parseInstant(v);
    if (parsed) return parsed;
    ctx.addIssue({
      code: 'custom',
      message: 'must be an ISO-8601 instant such as 2026-11-15T06:00:00Z (or a date YYYY-MM-DD)',
    });
    return z.NEVER;
  });

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
  /** Key rotation (api): comma-separated HS256 keys, each 32+ characters. Tokens are signed with the first and verified with any (`kid` header); replaces JWT_SECRET_KEY. */
  JWT_SECRET_KEYS: keyList.optional(),
  /** Accept JWT keys that ship in the repository or look typed (low entropy). Throw-away local setups only. */
  ALLOW_INSECURE_DEV_SECRETS: bool.default(false),
  /** Proxies the api trusts for X-Forwarded-For/-Proto: a hop count or comma list of addresses/CIDRs (never "true"). Unset: none. */
  TRUST_PROXY: trustProxy.optional(),
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
  /** Points every AWS client at an emulator such as `costwatch sim` (read natively by the AWS SDK too). http:// needs ALLOW_INSECURE_AWS_ENDPOINT. */
  AWS_ENDPOINT_URL: url(['http:', 'https:']).optional(),
  /** Dev only: allow an http:// AWS_ENDPOINT_URL (the local simulator); AWS credentials and cost data then travel in clear text. */
  ALLOW_INSECURE_AWS_ENDPOINT: bool.default(false),
  /** ARN of CostWatch's own IAM role (IRSA), named as the Principal of the trust policy `costwatch org create` prints. */
  AWS_PRINCIPAL_ARN: z
    .string()
    .trim()
    .regex(
      /^arn:aws[a-z-]*:iam::\d{12}:(role|user)\/[A-Za-z0-9+=,.@_/-]{1,512}$/,
      'must be an IAM role ARN such as arn:aws:iam::123456789012:role/costwatch-role',
    )
    .optional(),
  /** Pages of one paged AWS query (NextPageToken / NextToken loop) before the job fails for good. */
  AWS_MAX_PAGES: int(1, 1_000_000).default(2000),
  /** Seconds a fetch job may spend on AWS; no request starts after it and the job fails for good. */
  AWS_JOB_DEADLINE_SECONDS: int(10, 86400).default(1800),

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
  /**
   * Seconds a GetCostAndUsage page a cost job got stays reusable by a retry of the same job (a
   * window that failed part-way re-sends only the pages it lacks); older pages are read again, so
   * no restatement hides behind a checkpoint for longer. 0 turns checkpoints off.
   */
  CE_PAGE_CHECKPOINT_SECONDS: int(0, 86_400).default(3600),
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
  /** Login attempts per email and per client address (IPv6: per /64) per 15 minutes. */
  LOGIN_ATTEMPTS_PER_15MIN: int(1, 10000).default(10),
  /** Authenticated API requests per user per minute (all replicas); over it: 429 with Retry-After. */
  API_RATE_PER_MINUTE: int(1, 1000000).default(600),
  /** Redis of the API response cache (allkeys-lru recommended); unset: the queue Redis (REDIS_URL), bounded below. */
  CACHE_REDIS_URL: url(['redis:', 'rediss:']).optional(),
  /** Largest API response the cache stores, in bytes (bigger answers are served uncached). */
  CACHE_MAX_ENTRY_BYTES: int(1024, 16777216).default(262144),
  /** Cached responses stored per organization per API_CACHE_TTL_SECONDS window (at most twice this many live at once). */
  CACHE_MAX_ENTRIES_PER_ORG: int(1, 1000000).default(1000),
  /** Pages with an `offset` above this are never cached (deep pages are rare and vary without bound). */
  CACHE_MAX_OFFSET: int(0, 1000000).default(200),
  /** Seconds after a POST /ingestion/refresh before the same organization may refresh again (429 with Retry-After); 0: no cooldown. */
  REFRESH_COOLDOWN_SECONDS: int(0, 86400).default(300),
  /** Share of AWS_RATE_GLOBAL one organization may use (0-1], so one busy tenant cannot starve the others. */
  AWS_RATE_ORG_SHARE: decimal(0.01, 1).default(0.25),
  /** Port of the api's /metrics (scraped in-cluster); set, /metrics is not served on PORT. Unset: /metrics on PORT. */
  API_METRICS_PORT: int(0, 65535).optional(),
  /** Bull Board read-only: queues can be inspected, no job retried, removed, promoted or paused. */
  BULL_BOARD_READ_ONLY: bool.default(false),

  /**
   * Pins the process clock (tests, benchmarks, the demo): an ISO-8601 instant such as
   * 2026-11-15T06:00:00Z, or a date (its midnight UTC). Every date decision (refresh windows, the
   * scheduler tick, backfill limits, summary periods, forecasts, doctor) then reads a clock that
   * starts there when the process starts and runs at real speed. Unset: the wall clock.
   */
  CLOCK_START: instant.optional(),
  /** With CLOCK_START: the clock stands still at that instant instead of running. */
  CLOCK_FROZEN: bool.default(false),

  /** Seconds a notification is retried for (exponential backoff) before it is marked failed. */
  NOTIFY_DEADLINE_SECONDS: int(1, 30 * 86400).default(86400),
  /** First retry delay of a failed notification, doubled per attempt up to NOTIFY_RETRY_MAX_MS. */
  NOTIFY_RETRY_BASE_MS: int(100, 3_600_000).default(5000),
  /** Longest delay between two attempts of one notification. */
  NOTIFY_RETRY_MAX_MS: int(100, 86_400_000).default(300_000),
  /** Timeout of one webhook request or SMTP exchange, in milliseconds. */
  NOTIFY_TIMEOUT_MS: int(100, 120_000).default(10_000),
  /** Interval of the outbox sweep that re-dispatches deliveries left without a job (a crash between commit and enqueue). */
  NOTIFY_SWEEP_SECONDS: int(1, 3600).default(30),
  /** SMTP server of email channels (a channel may name its own); unset: email channels fail with a clear error. */
  SMTP_HOST: z.string().trim().min(1).optional(),
  /** SMTP port (587 submission with STARTTLS, 465 implicit TLS, 25 relay). */
  SMTP_PORT: int(1, 65535).default(587),
  /** true: TLS from the first byte (port 465); false: STARTTLS when the server offers it. */
  SMTP_SECURE: bool.default(false),
  /** SMTP user name (optional). */
  SMTP_USER: z.string().trim().min(1).optional(),
  /** SMTP password (optional; never logged). */
  SMTP_PASSWORD: z.string().min(1).optional(),
  /** Sender address of notification emails. */
  SMTP_FROM: z.string().trim().min(3).default('CostWatch <costwatch@localhost>'),
  /** Public URL of the API, for the links in notifications (emails, Slack messages). */
  PUBLIC_API_URL: url(['http:', 'https:']).default('http://localhost:8002'),
});

export type Env = z.infer<typeof envSchema>;

/** Which process is starting; decides which variables are required. */
export type Role = 'api' | 'scheduler' | 'worker' | 'sim' | 'migrate' | 'cli' | 'cli-queue' | 'doctor';

// JWT_SECRET_KEY (or JWT_SECRET_KEYS) is the api's alone: the scheduler and workers never sign or
// verify a token, so they do not receive the key (k8s/, docker-compose.yml) and do not ask for it.
const REQUIRED: Record<Role, ReadonlyArray<'DATABASE_URL' | 'REDIS_URL' | 'JWT_SECRET_KEY'>> = {
  api: ['DATABASE_URL', 'REDIS_URL'],
  scheduler: ['DATABASE_URL', 'REDIS_URL'],
  worker: ['DATABASE_URL', 'REDIS_URL'],
  sim: [],
  migrate: ['DATABASE_URL'],
  cli: ['DATABASE_URL'],
  'cli-queue': ['DATABASE_URL', 'REDIS_URL'],
  doctor: [],
};

export type Config = Env & { role: Role };
/** A configuration for a role whose required variables are known to be present (scheduler, worker). */
export type ServiceConfig = Config & { DATABASE_URL: string; REDIS_URL: string };
/** The api's configuration: JWT_SECRET_KEY is the signing key (the first of JWT_SECRET_KEYS when that is set). */
export type ApiConfig = ServiceConfig & { JWT_SECRET_KEY: string; JWT_SECRET_KEYS: string[] };

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
  if (name === 'JWT_SECRET_KEY' || name === 'SMTP_PASSWORD') return `a value of ${value.length} characters`;
  if (name.startsWith('JWT_SECRET_KEYS')) return `a value of ${value.length} characters`;
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
  if (parsed.success && role === 'api') problems.push(...apiKeyProblems(parsed.data));
  if (parsed.success && parsed.data.CLOCK_FROZEN && parsed.data.CLOCK_START === undefined)
    problems.push('CLOCK_FROZEN: needs CLOCK_START, the instant the clock stands still at');
  if (
    parsed.success &&
    parsed.data.AWS_ENDPOINT_URL?.startsWith('http:') &&
    !parsed.data.ALLOW_INSECURE_AWS_ENDPOINT
  ) {
    problems.push(
      `AWS_ENDPOINT_URL: http:// would send AWS credentials and cost data in clear text (got ${shownValue('AWS_ENDPOINT_URL', parsed.data.AWS_ENDPOINT_URL)}); ` +
        'use https://, or set ALLOW_INSECURE_AWS_ENDPOINT=true for the local simulator only',
    );
  }
  if (problems.length > 0 || !parsed.success) throw new ConfigError(problems);
  return { ...parsed.data, role };
}

/** The api's signing keys: JWT_SECRET_KEYS, else JWT_SECRET_KEY (empty when neither is set). */
export function signingKeys(env: Pick<Env, 'JWT_SECRET_KEY' | 'JWT_SECRET_KEYS'>): string[] {
  return env.JWT_SECRET_KEYS ?? (env.JWT_SECRET_KEY === undefined ? [] : [env.JWT_SECRET_KEY]);
}

/** The api needs a key, one way of setting it, and (unless ALLOW_INSECURE_DEV_SECRETS) no public or typed key. */
function apiKeyProblems(env: Env): string[] {
  if (env.JWT_SECRET_KEY !== undefined && env.JWT_SECRET_KEYS !== undefined)
    return ['JWT_SECRET_KEYS: set either JWT_SECRET_KEY or JWT_SECRET_KEYS (which replaces it), not both'];
  const keys = signingKeys(env);
  if (keys.length === 0) return ['JWT_SECRET_KEY: environment variable required'];
  if (env.ALLOW_INSECURE_DEV_SECRETS) return [];
  const name = env.JWT_SECRET_KEYS !== undefined ? 'JWT_SECRET_KEYS' : 'JWT_SECRET_KEY';
  return keys.flatMap((key, i) => {
    const reason = weakKeyReason(key);
    const which = name === 'JWT_SECRET_KEYS' ? `key ${i + 1} ` : '';
    return reason ? [`${name}: ${which}refused: ${reason}; ${KEY_FIX}`] : [];
  });
}

/** Narrows a config to one whose database and Redis settings are present (api, scheduler, worker). */
export function asServiceConfig(config: Config): ServiceConfig {
  const { DATABASE_URL, REDIS_URL } = config;
  if (DATABASE_URL === undefined || REDIS_URL === undefined) {
    throw new ConfigError(
      (['DATABASE_URL', 'REDIS_URL'] as const)
        .filter((k) => config[k] === undefined)
        .map((k) => `${k}: environment variable required`),
    );
  }
  return { ...config, DATABASE_URL, REDIS_URL };
}

/** Narrows an api config: database, Redis and at least one signing key. */
export function asApiConfig(config: Config): ApiConfig {
  const service = asServiceConfig(config);
  const keys = signingKeys(config);
  const [first] = keys;
  if (first === undefined) throw new ConfigError(['JWT_SECRET_KEY: environment variable required']);
  return { ...service, JWT_SECRET_KEY: first, JWT_SECRET_KEYS: keys };
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
