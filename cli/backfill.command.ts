/**
 * `costwatch backfill --org ID|--all --from --to [--wait]`: enqueue the windows of a date range
 * (both sources) and, with --wait, follow them with a progress bar (cli-progress) until each is
 * loaded and rolled up. The exit code is 0 only if every window succeeded; otherwise it prints the
 * first error and its remedy. It gives up within seconds when no worker consumes its queues.
 */
import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { loadConfig, required } from '../lib/config.js';
import { clockFromConfig } from '../lib/clock.js';
import { createPool, type Pool } from '../lib/db.js';
import { createRedis } from '../lib/redis.js';
import { addDays, addMonths, isIsoDate, todayUtc } from '../lib/dates.js';
import { ALL_QUEUES, QUEUES, type QueueName } from '../lib/jobs.js';
import { createQueues, queueWork, type Queues } from '../producers/queues.js';
import { enqueueBackfill } from '../producers/enqueue.js';
import { listOrganizations } from '../database/repositories/organizations.repository.js';
import { backfillProgress, firstBackfillFailure } from '../database/repositories/fetch-runs.repository.js';
import { noConsumer, workerConnections } from './doctor/queues.check.js';

export interface BackfillRange {
  from: string;
  /** Exclusive. */
  to: string;
}

/** Validates --from/--to (inclusive) against what Cost Explorer serves; returns [from, to+1). */
export function backfillRange(from: string, to: string, today: string, historyMonths: number): BackfillRange {
  if (!isIsoDate(from)) throw new Error(`--from: must be a date YYYY-MM-DD, got ${JSON.stringify(from)}`);
  if (!isIsoDate(to)) throw new Error(`--to: must be a date YYYY-MM-DD, got ${JSON.stringify(to)}`);
  if (from > to) throw new Error(`--from ${from} is after --to ${to}`);
  if (to > today) throw new Error(`--to: ${to} is in the future (today is ${today} UTC)`);
  const earliest = addMonths(today, -historyMonths);
  if (from < earliest) {
    throw new Error(
      `--from: Cost Explorer serves ${historyMonths} months of history; the earliest date is ${earliest} (got ${from})`,
    );
  }
  return { from, to: addDays(to, 1) };
}

/** The queues a backfill's windows go through (fetches, then rollups). */
const PIPELINE_QUEUES = ALL_QUEUES.filter((q) => q !== QUEUES.scheduler);

/** How long a queue may hold work with no worker connected before `--wait` gives up. */
const UNSERVED_GRACE_MS = 5_000;

interface QueueState {
  name: QueueName;
  pending: number;
  active: number;
  workers: number | null;
}

async function pipelineQueues(queues: Queues): Promise<QueueState[]> {
  return Promise.all(
    PIPELINE_QUEUES.map(async (name) => {
      const queue = queues.byName(name);
      const { pending, active } = await queueWork(queue);
      // Connections are only asked for when there is work to serve (CLIENT LIST is not free).
      return {
        name,
        pending,
        active,
        workers: pending > 0 ? await workerConnections(queue) : null,
      };
    }),
  );
}

export interface FollowOptions {
  backfillId: string;
  total: number;
  timeoutMs: number;
  prefix: string;
  orgIds: number[];
  /** The command that runs this backfill again, for the remedy. */
  rerun: string;
}

/** Why a backfill did not complete, for the operator: the first error and what to do. */
async function explainFailure(pool: Pool, options: FollowOptions): Promise<string> {
  const failure = await firstBackfillFailure(pool, options.backfillId);
  const again = `then run the backfill again: ${options.rerun}`;
  if (failure) {
    const error = failure.error ?? 'no error recorded';
    const remedy =
      failure.remedy ?? 'fix the cause above (`costwatch doctor` checks AWS access per organization)';
    // A permission error's text already ends with the remedy; print it once.
    const shown =
      failure.remedy && error.endsWith(`. ${failure.remedy}`)
        ? error.slice(0, -failure.remedy.length - 2)
        : error;
    return (
      `first error: organization ${failure.orgId} (${failure.orgName}), ${failure.source} ${failure.windowStart}..${addDays(failure.windowEnd, -1)}: ${shown}\n` +
      `remedy: ${remedy}\n${again}\n`
    );
  }
  // No window failed, but some were skipped: their organization stopped being active.
  const stopped = (await listOrganizations(pool)).filter(
    (o) => options.orgIds.includes(o.id) && o.status !== 'active',
  );
  if (stopped.length === 0) return '';
  return stopped
    .map(
      (o) =>
        `organization ${o.id} (${o.name}) is ${o.status}; its windows were skipped${o.lastError ? `: ${o.lastError}` : ''}\n` +
        `remedy: ${o.lastErrorRemedy ?? `costwatch org enable --id ${o.id}`}\n${again}\n`,
    )
    .join('');
}

/**
 * Follows a backfill until every window is loaded and rolled up or failed. The bar counts the
 * windows that succeeded; failures are counted beside it and explained at the end. Gives up
 * within seconds when a queue holds work that no worker consumes under this QUEUE_PREFIX.
 */
export async function followBackfill(pool: Pool, queues: Queues, options: FollowOptions): Promise<boolean> {
  const { backfillId, total } = options;
  const tty = process.stderr.isTTY;
  const bar = new cliProgress.SingleBar(
    {
      format:
        'backfill [{bar}] {value}/{total} windows | {rows} rows | {failed} failed | {duration_formatted}',
      stream: process.stderr,
      noTTYOutput: !tty,
      notTTYSchedule: 5000,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { rows: 0, failed: 0 });
  const deadline = Date.now() + options.timeoutMs;
  let idleTicks = 0;
  let unservedSince: number | null = null;
  let unserved: string | null = null;
  let last: Awaited<ReturnType<typeof backfillProgress>>;
  try {
    for (;;) {
      last = await backfillProgress(pool, backfillId);
      bar.update(last.rolledUp, { rows: last.rows, failed: last.failed });
      if (last.rolledUp + last.failed >= total) break;
      const states = await pipelineQueues(queues);
      const starving = states
        .map((q) => ({ q, problem: noConsumer(q.name, options.prefix, q.pending, q.workers) }))
        .find((x) => x.problem !== null);
      if (starving?.problem) {
        unservedSince ??= Date.now();
        if (Date.now() - unservedSince >= UNSERVED_GRACE_MS) {
          unserved = `queue ${starving.q.name}: ${starving.q.pending} job(s) waiting and ${starving.problem.detail}\n${starving.problem.fix}\n`;
          break;
        }
      } else {
        unservedSince = null;
      }
      // Windows can be skipped (organization disabled) or merged into an identical queued fetch:
      // once the queues stay empty, nothing more will arrive.
      idleTicks = states.every((q) => q.pending === 0 && q.active === 0) ? idleTicks + 1 : 0;
      if (idleTicks >= 5 || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
  } finally {
    bar.stop();
  }
  const missing = total - last.rolledUp - last.failed;
  process.stderr.write(
    `backfill ${backfillId}: ${last.rolledUp}/${total} windows loaded and rolled up, ${last.rows} rows, ${last.failed} failed` +
      (missing > 0
        ? `, ${missing} not completed (see \`costwatch org list\` and /api/v1/ingestion/runs)`
        : '') +
      '\n',
  );
  if (unserved) {
    process.stderr.write(`backfill: gave up waiting: ${unserved}`);
    return false;
  }
  if (last.failed > 0 || missing > 0) process.stderr.write(await explainFailure(pool, options));
  return last.failed === 0 && missing === 0;
}

export function registerBackfillCommand(program: Command): void {
  program
    .command('backfill')
    .description('fetch a date range for one or every active organization')
    .option('--org <id>', 'organization id')
    .option('--all', 'every active customer organization (the platform organization has no AWS account)')
    .requiredOption('--from <date>', 'first day, YYYY-MM-DD')
    .requiredOption('--to <date>', 'last day, YYYY-MM-DD (inclusive)')
    .option('--wait', 'show progress until every window is loaded and rolled up; exit 1 if any failed')
    .option('--timeout <minutes>', 'with --wait, give up after this many minutes', '60')
    .action(
      async (options: {
        org?: string;
        all?: boolean;
        from: string;
        to: string;
        wait?: boolean;
        timeout: string;
      }) => {
        if (Boolean(options.org) === Boolean(options.all))
          throw new Error('give exactly one of --org ID or --all');
        if (options.org !== undefined && !/^\d+$/.test(options.org))
          throw new Error(`--org: must be an organization id, got ${JSON.stringify(options.org)}`);
        const timeout = Number(options.timeout);
        if (!Number.isFinite(timeout) || timeout <= 0)
          throw new Error(`--timeout: must be a positive number of minutes`);
        const config = loadConfig('cli-queue');
        const range = backfillRange(
          options.from,
          options.to,
          todayUtc(clockFromConfig(config)()),
          config.COST_HISTORY_MONTHS,
        );
        const pool = createPool({
          connectionString: required(config, 'DATABASE_URL'),
          max: 2,
          applicationName: 'costwatch-backfill',
        });
        const redis = createRedis(required(config, 'REDIS_URL'), 'producer');
        const queues = createQueues(redis, {
          prefix: config.QUEUE_PREFIX,
          attempts: config.FETCH_ATTEMPTS,
          backoffMs: config.RETRY_BACKOFF_MS,
        });
        try {
          // The platform organization (operators) has no AWS account: there is nothing to fetch.
          const orgs = (await listOrganizations(pool)).filter((o) =>
            options.all ? o.status === 'active' && o.kind === 'customer' : o.id === Number(options.org),
          );
          if (orgs.length === 0)
            throw new Error(
              options.all ? 'no active customer organizations' : `--org: no organization ${options.org}`,
            );
          const platform = orgs.find((o) => o.kind === 'platform');
          if (platform)
            throw new Error(
              `--org: organization ${platform.id} is the platform organization (operators only): it has no AWS account, so there is nothing to backfill; give a customer organization (costwatch org list)`,
            );
          const inactive = orgs.find((o) => o.status !== 'active');
          if (inactive)
            throw new Error(
              `--org: organization ${inactive.id} is ${inactive.status}; run \`costwatch org enable --id ${inactive.id}\` first`,
            );
          const backfillId = `bf-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
          const { windows: perSource } = await enqueueBackfill(
            queues,
            orgs.map((o) => o.id),
            range,
            config.BACKFILL_WINDOW_DAYS,
            backfillId,
          );
          process.stdout.write(`${backfillId}\n`);
          process.stderr.write(
            `enqueued ${perSource} cost and ${perSource} metrics windows for ${orgs.length} organization(s), ${range.from}..${addDays(range.to, -1)}\n`,
          );
          if (options.wait) {
            const ok = await followBackfill(pool, queues, {
              backfillId,
              total: perSource * 2,
              timeoutMs: timeout * 60_000,
              prefix: config.QUEUE_PREFIX,
              orgIds: orgs.map((o) => o.id),
              rerun: `costwatch backfill ${options.all ? '--all' : `--org ${options.org}`} --from ${options.from} --to ${options.to} --wait`,
            });
            process.exitCode = ok ? 0 : 1;
          }
        } finally {
          await queues.close();
          redis.disconnect();
          await pool.end();
        }
      },
    );
}
