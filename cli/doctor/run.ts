/**
 * `costwatch doctor`: the troubleshooting guide, executable. Runs the checks in order (variables,
 * Postgres, migrations, connection headroom, Redis, queues, AWS per organization, metrics
 * endpoint), each bounded by a timeout, and returns a report; a check that cannot run because an
 * earlier one failed is skipped with the reason.
 */
import type pg from 'pg';
import type { Redis } from 'ioredis';
import { CHECKPOINT_POOL_SIZE } from '../../workers/page-checkpoints.js';
import { getOrganization, listOrganizations } from '../../database/repositories/organizations.repository.js';
import { todayUtc } from '../../lib/dates.js';
import { clockFromConfig, type Now } from '../../lib/clock.js';
import { describeError, fail, skip, withTimeout, type CheckResult } from './check.js';
import { checkVariables, usableConfig } from './config.check.js';
import {
  checkConnectionHeadroom,
  checkMigrations,
  checkPostgres,
  type ReplicaCounts,
} from './postgres.check.js';
import { checkRedis } from './redis.check.js';
import { checkCeCap } from './spend.check.js';
import { checkQueues } from './queues.check.js';
import { checkAwsAccess, type AwsUsage, type DoctorOrg } from './aws.check.js';
import { checkMetricsEndpoint } from './metrics.check.js';
import { checkSecurity } from './security.check.js';
import { checkTrust } from './trust.check.js';
import { checkNotificationChannels } from './channels.check.js';

export type { CheckResult, CheckStatus } from './check.js';

export interface DoctorOptions {
  /** The environment to diagnose (normally process.env). */
  env: Record<string, string | undefined>;
  /** Replicas of each role that hold a Postgres pool, for the headroom arithmetic. */
  replicas: ReplicaCounts;
  /** Skip the AWS checks (they cost $0.01 per Cost Explorer request on real AWS). */
  skipAws: boolean;
  /** Check this organization only (any status). */
  orgId?: number | undefined;
  /** Metrics endpoints to scrape; default http://127.0.0.1:METRICS_PORT/metrics. */
  metricsUrls?: string[] | undefined;
  /** Per network operation. */
  timeoutMs: number;
  maxFailedJobs: number;
  maxWaitingJobs: number;
  /** Called with each result as soon as it is known (streaming output). */
  onResult?: (result: CheckResult) => void;
  /** The clock of the AWS probes' dates; default the one CLOCK_START / CLOCK_FROZEN of `env` give. */
  now?: Now | undefined;
}

export interface DoctorReport {
  ok: boolean;
  counts: { pass: number; warn: number; fail: number; skip: number };
  checks: CheckResult[];
  /** AWS requests the doctor itself made; null when the AWS checks did not run. */
  aws: AwsUsage | null;
  durationMs: number;
}

/** Runs every check; never throws and never waits longer than the timeouts allow. */
export async function runDoctor(options: DoctorOptions): Promise<DoctorReport> {
  const started = Date.now();
  const checks: CheckResult[] = [];
  const emit = (...results: CheckResult[]) => {
    for (const r of results) {
      checks.push(r);
      options.onResult?.(r);
    }
  };
  // Budget of a whole step: several round trips of options.timeoutMs each.
  const stepBudget = options.timeoutMs * 4;
  const guarded = async <T>(
    name: string,
    budgetMs: number,
    work: () => Promise<T>,
  ): Promise<T | CheckResult> => {
    try {
      return await withTimeout(work(), budgetMs, name);
    } catch (error) {
      return fail(
        name,
        `check failed: ${describeError(error)}`,
        'rerun with LOG_LEVEL=debug; if it persists, report it with this output',
      );
    }
  };
  const isResult = (v: unknown): v is CheckResult =>
    typeof v === 'object' && v !== null && 'status' in v && 'detail' in v;

  emit(...checkVariables(options.env, 'worker'));
  const config = usableConfig(options.env);
  const now = options.now ?? clockFromConfig(config);

  let client: pg.Client | null = null;
  let redis: Redis | null = null;
  let aws: AwsUsage | null = null;
  try {
    const pgStep = await guarded('postgres', stepBudget, () =>
      checkPostgres(config.DATABASE_URL, options.timeoutMs, options.env.DATABASE_URL),
    );
    let orgsTable = false;
    if (isResult(pgStep)) emit(pgStep);
    else {
      emit(pgStep.result);
      client = pgStep.client;
    }
    if (client && checks[checks.length - 1]?.ok) {
      const db = client;
      const migrations = await guarded('migrations', stepBudget, () => checkMigrations(db));
      emit(migrations);
      const headroom = await guarded('connection headroom', stepBudget, () =>
        checkConnectionHeadroom(
          db,
          config.DB_POOL_SIZE,
          options.replicas,
          config.CE_PAGE_CHECKPOINT_SECONDS > 0 ? CHECKPOINT_POOL_SIZE : 0,
        ),
      );
      emit(headroom);
      if (migrations.ok)
        emit(
          await guarded('ce daily cap', stepBudget, () => checkCeCap(db, config.CE_DAILY_REQUEST_CAP, now())),
        );
      orgsTable = await db
        .query<{ t: string | null }>(`SELECT to_regclass('organizations')::text AS t`)
        .then((r) => r.rows[0]?.t != null)
        .catch(() => false);
      if (orgsTable) {
        const trust = await guarded('trust chain', stepBudget, () => checkTrust(db));
        emit(...(isResult(trust) ? [trust] : trust));
      }
    } else {
      emit(
        skip('migrations', 'Postgres is not reachable'),
        skip('connection headroom', 'Postgres is not reachable'),
      );
    }

    const redisStep = await guarded('redis', stepBudget, () =>
      checkRedis(config.REDIS_URL, options.timeoutMs, options.env.REDIS_URL),
    );
    if (isResult(redisStep)) emit(redisStep);
    else {
      emit(...redisStep.results);
      redis = redisStep.redis;
    }
    if (redis) {
      const connection = redis;
      const queueResults = await guarded('queues', stepBudget * 2, () =>
        checkQueues(connection, config.QUEUE_PREFIX, {
          lockMs: config.JOB_LOCK_SECONDS * 1000,
          maxFailed: options.maxFailedJobs,
          maxWaiting: options.maxWaitingJobs,
        }),
      );
      emit(...(isResult(queueResults) ? [queueResults] : queueResults));
    } else emit(skip('queues', 'Redis is not reachable'));
    const security = await guarded('security', stepBudget, () => checkSecurity(options.env, config, redis));
    emit(...(isResult(security) ? [security] : security));

    if (options.skipAws) emit(skip('aws', '--skip-aws: AWS access not checked'));
    else if (!client) emit(skip('aws', 'Postgres is not reachable: organizations unknown'));
    else if (!orgsTable) emit(skip('aws', 'the organizations table is missing (apply the migrations first)'));
    else {
      const db = client;
      const orgs = await guarded('aws', stepBudget, async () => {
        const rows =
          options.orgId !== undefined
            ? [await getOrganization(db, options.orgId)].filter((o) => o !== null)
            : (await listOrganizations(db)).filter((o) => o.status !== 'disabled');
        // The platform organization has no AWS account to check.
        return rows.flatMap((o): DoctorOrg[] =>
          o.awsAccountId === null
            ? []
            : [
                {
                  id: o.id,
                  name: o.name,
                  awsAccountId: o.awsAccountId,
                  roleArn: o.roleArn,
                  externalId: o.externalId,
                  selfIdentity: o.selfIdentity,
                  status: o.status,
                },
              ],
        );
      });
      if (isResult(orgs)) emit(orgs);
      else if (options.orgId !== undefined && orgs.length === 0)
        emit(fail('aws', `no organization ${options.orgId}`, 'costwatch org list'));
      else {
        const awsStep = await guarded(
          'aws',
          (options.timeoutMs + 1000) * 5 * Math.max(1, orgs.length) + 1000,
          () =>
            checkAwsAccess(orgs, {
              region: config.AWS_REGION,
              endpoint: config.AWS_ENDPOINT_URL,
              redis,
              prefix: config.QUEUE_PREFIX,
              rates: {
                ce: config.CE_RATE_PER_ORG,
                cloudwatch: config.CW_RATE_PER_ORG,
                global: config.AWS_RATE_GLOBAL,
              },
              timeoutMs: options.timeoutMs,
              today: todayUtc(now()),
              now: now(),
            }),
        );
        if (isResult(awsStep)) emit(awsStep);
        else {
          emit(...awsStep.results);
          aws = awsStep.usage;
        }
      }
    }

    if (client && orgsTable) {
      const db = client;
      const channels = await guarded('notification channels', stepBudget * 4, () =>
        checkNotificationChannels(
          db,
          {
            host: config.SMTP_HOST,
            port: config.SMTP_PORT,
            secure: config.SMTP_SECURE,
            user: config.SMTP_USER,
            password: config.SMTP_PASSWORD,
            from: config.SMTP_FROM,
          },
          options.timeoutMs,
        ),
      );
      emit(...(isResult(channels) ? [channels] : channels));
    } else emit(skip('notification channels', 'Postgres is not reachable or not migrated'));

    const urls =
      options.metricsUrls && options.metricsUrls.length > 0
        ? options.metricsUrls
        : [`http://127.0.0.1:${config.METRICS_PORT}/metrics`];
    for (const url of urls) {
      const result = await guarded(`metrics ${url}`, options.timeoutMs + 1000, () =>
        checkMetricsEndpoint(url, options.timeoutMs),
      );
      emit(result);
    }
  } finally {
    await client?.end().catch(() => undefined);
    redis?.disconnect();
  }

  const counts = { pass: 0, warn: 0, fail: 0, skip: 0 };
  for (const c of checks) counts[c.status] += 1;
  return { ok: counts.fail === 0, counts, checks, aws, durationMs: Date.now() - started };
}

const SYMBOLS = {
  tty: { pass: '✔', warn: '!', fail: '✖', skip: '-' },
  plain: { pass: '[ok]', warn: '[warn]', fail: '[FAIL]', skip: '[skip]' },
} as const;

/** One result as text: `✔ name: detail`, then indented `fix:` lines for failures and warnings. */
export function formatResult(result: CheckResult, tty: boolean): string {
  const symbol = (tty ? SYMBOLS.tty : SYMBOLS.plain)[result.status];
  const lines = [`${symbol} ${result.name}: ${result.detail}`];
  if (result.fix && (result.status === 'fail' || result.status === 'warn')) {
    const [first, ...rest] = result.fix.split('\n');
    lines.push(`    fix: ${first ?? ''}`, ...rest.map((l) => `         ${l}`));
  }
  return lines.join('\n');
}

/** The closing lines: counts, AWS requests made and their estimated cost. */
export function formatSummary(report: DoctorReport): string {
  const { pass, warn, fail, skip } = report.counts;
  const lines = [
    `${report.ok ? 'ok' : 'FAILED'}: ${pass} passed, ${warn} warnings, ${fail} failed, ${skip} skipped (${(report.durationMs / 1000).toFixed(1)} s)`,
  ];
  if (report.aws) {
    const ops = Object.entries(report.aws.byOperation)
      .map(([op, n]) => `${op} ${n}`)
      .join(', ');
    lines.push(
      `AWS requests made by the doctor: ${report.aws.requests}${ops ? ` (${ops})` : ''}, estimated cost $${report.aws.estimatedDollars.toFixed(2)} (Cost Explorer bills $0.01 per request; --skip-aws or --org ID to limit)`,
    );
  }
  return lines.join('\n');
}
