/**
 * `costwatch budget create | list | delete` and `costwatch channel create | list | test | delete`:
 * the operator's side of /api/v1/budgets and /api/v1/notification-channels, validated by the same
 * zod schemas (errors name the flag). Secrets are read from stdin (or generated and printed once),
 * never taken as arguments (they would show in `ps` and shell history).
 */
import { withPool, wholeNumber } from './support.js';
import { randomBytes, randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import type { z } from 'zod';
import { loadConfig, required } from '../lib/config.js';
import { createRedis } from '../lib/redis.js';
import { createLogger } from '../lib/logger.js';
import { systemNow } from '../lib/clock.js';
import { todayUtc } from '../lib/dates.js';
import { validateBudgetScope } from '../lib/budget-scope.js';
import { createQueues } from '../producers/queues.js';
import { enqueueBudgetEvaluation } from '../producers/notifications.js';
import {
  budgetStates,
  createBudget,
  deleteBudget,
  foreignChannels,
  listBudgets,
} from '../database/repositories/budgets.repository.js';
import {
  createChannel,
  deleteChannel,
  listChannels,
} from '../database/repositories/notification-channels.repository.js';
import { enqueueNotifications, getDelivery } from '../database/repositories/notifications.repository.js';
import { createBudgetBody, createChannelBody } from '../api/routes/budgets.schema.js';
import { attemptDelivery, notifySettings } from '../workers/notify.worker.js';

const collect = (value: string, previous: string[]): string[] => [...previous, value];

function issues(error: z.ZodError, flags: Record<string, string>): Error {
  return new Error(
    error.issues
      .map((i) => {
        const path = i.path.map(String);
        const flag = flags[path[0] ?? ''] ?? `--${path[0] ?? 'input'}`;
        return `${flag}${path.length > 1 ? ` (${path.slice(1).join('.')})` : ''}: ${i.message}`;
      })
      .join('\n'),
  );
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').trim();
}

function isUniqueViolation(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === '23505';
}

interface BudgetCreateOptions {
  org: string;
  name: string;
  period: string;
  amount: string;
  currency: string;
  metric: string;
  scope: string[];
  threshold: string[];
  channel: string[];
}

export function registerBudgetCommands(program: Command): void {
  const budget = program
    .command('budget')
    .description('manage budgets (alerts on actual and forecasted spend)');
  budget
    .command('create')
    .description('add a budget and evaluate it at once; prints its id')
    .requiredOption('--org <id>', 'organization id')
    .requiredOption('--name <name>', 'budget name (unique in the organization)')
    .requiredOption('--amount <usd>', 'amount in USD, e.g. 1000.00')
    .option('--period <period>', 'monthly, quarterly or annual (calendar, UTC)', 'monthly')
    .option('--currency <unit>', 'currency of the amount (USD only, the unit Cost Explorer returns)', 'USD')
    .option('--metric <metric>', 'unblended, amortized or net_unblended', 'unblended')
    .option(
      '--scope <dimension=value>',
      'filter, repeatable for several values: service=..., account=..., region=..., tag:<key>=..., cost_category:<name>=...',
      collect,
      [],
    )
    .option('--threshold <percent:kind>', 'e.g. 80:forecasted or 100:actual (repeatable)', collect, [])
    .option('--channel <id>', 'notification channel id (repeatable)', collect, [])
    .action(async (o: BudgetCreateOptions) => {
      const orgId = wholeNumber('--org', o.org);
      const scope: Record<string, string[]> = {};
      for (const s of o.scope) {
        const at = s.indexOf('=');
        if (at < 1) throw new Error(`--scope: write dimension=value, got ${JSON.stringify(s)}`);
        const key = s.slice(0, at);
        scope[key] = [...(scope[key] ?? []), s.slice(at + 1)];
      }
      const thresholds = o.threshold.map((t) => {
        const [percent, kind] = t.split(':');
        return { percent: Number(percent), kind };
      });
      const parsed = createBudgetBody.safeParse({
        name: o.name,
        period: o.period,
        amount: { amount: o.amount, unit: o.currency },
        metric: o.metric,
        ...(o.scope.length > 0 ? { scope } : {}),
        thresholds,
        channel_ids: o.channel.map((c) => wholeNumber('--channel', c)),
      });
      if (!parsed.success)
        throw issues(parsed.error, {
          name: '--name',
          period: '--period',
          amount: '--amount/--currency',
          metric: '--metric',
          scope: '--scope',
          thresholds: '--threshold',
          channel_ids: '--channel',
        });
      const body = parsed.data;
      const check = validateBudgetScope(body.scope);
      if (!check.ok) throw new Error(`--scope (${check.field}): ${check.message}`);
      const config = loadConfig('cli-queue');
      const id = await withPool(async (pool) => {
        const foreign = await foreignChannels(pool, orgId, body.channel_ids);
        if (foreign.length > 0)
          throw new Error(`--channel: no channel ${foreign.join(', ')} in organization ${orgId}`);
        try {
          return await createBudget(pool, orgId, {
            name: body.name,
            period: body.period,
            amount: body.amount.amount,
            currency: body.amount.unit,
            metric: body.metric,
            scope: check.scope,
            thresholds: body.thresholds,
            channelIds: body.channel_ids,
          });
        } catch (error) {
          if (isUniqueViolation(error))
            throw new Error(`--name: a budget named ${JSON.stringify(body.name)} exists`, { cause: error });
          if (typeof error === 'object' && error !== null && (error as { code?: unknown }).code === '23503')
            throw new Error(`--org: no organization ${orgId}`, { cause: error });
          throw error;
        }
      }, config);
      const redis = createRedis(required(config, 'REDIS_URL'), 'producer');
      const queues = createQueues(redis, {
        prefix: config.QUEUE_PREFIX,
        attempts: config.FETCH_ATTEMPTS,
        backoffMs: config.RETRY_BACKOFF_MS,
      });
      try {
        await enqueueBudgetEvaluation(queues, orgId);
      } finally {
        await queues.close();
        redis.disconnect();
      }
      process.stdout.write(`${id}\n`);
    });
  budget
    .command('list')
    .description("list an organization's budgets with the current actual, forecast and threshold states")
    .requiredOption('--org <id>', 'organization id')
    .option('--json', 'print JSON')
    .action(async (o: { org: string; json?: boolean }) => {
      const orgId = wholeNumber('--org', o.org);
      const config = loadConfig('cli');
      const today = todayUtc(systemNow());
      const [budgets, states] = await withPool(
        (pool) => Promise.all([listBudgets(pool, orgId), budgetStates(pool, orgId, today)]),
        config,
      );
      if (o.json) {
        process.stdout.write(
          `${JSON.stringify(
            budgets.map((b) => ({ ...b, thresholds: states.filter((s) => s.budgetId === b.id) })),
            null,
            2,
          )}\n`,
        );
        return;
      }
      process.stdout.write(
        `${'ID'.padEnd(6)} ${'NAME'.padEnd(24)} ${'PERIOD'.padEnd(10)} ${'AMOUNT'.padStart(12)} ${'ACTUAL'.padStart(12)} ${'FORECAST'.padStart(12)} THRESHOLDS\n`,
      );
      for (const b of budgets) {
        const mine = states.filter((s) => s.budgetId === b.id);
        const money = (v: string | null | undefined) =>
          v === null || v === undefined ? '-' : Number(v).toFixed(2);
        const marks = mine
          .map(
            (s) =>
              `${s.percent}%${s.kind === 'actual' ? 'A' : 'F'}:${s.alertId ? (s.belowSince ? 'restated' : 'fired') : s.crossed ? 'crossed' : 'ok'}`,
          )
          .join(' ');
        process.stdout.write(
          `${String(b.id).padEnd(6)} ${b.name.slice(0, 24).padEnd(24)} ${b.period.padEnd(10)} ${money(b.amount).padStart(12)} ${money(mine[0]?.actual).padStart(12)} ${money(mine[0]?.forecast).padStart(12)} ${marks}\n`,
        );
      }
    });
  budget
    .command('delete')
    .description('delete a budget and its alerts')
    .requiredOption('--org <id>', 'organization id')
    .requiredOption('--id <id>', 'budget id')
    .action(async (o: { org: string; id: string }) => {
      const orgId = wholeNumber('--org', o.org);
      const id = wholeNumber('--id', o.id);
      const deleted = await withPool((pool) => deleteBudget(pool, orgId, id));
      if (!deleted) throw new Error(`--id: no budget ${id} in organization ${orgId}`);
      process.stdout.write(`deleted budget ${id}\n`);
    });

  const channel = program.command('channel').description('manage notification channels (webhook, email)');
  channel
    .command('create')
    .description(
      'add a webhook (signing secret from stdin, or generated and printed once) or email channel; prints its id',
    )
    .requiredOption('--org <id>', 'organization id')
    .requiredOption('--name <name>', 'channel name (unique in the organization)')
    .option('--url <url>', 'webhook URL (http:// or https://)')
    .option('--format <format>', 'webhook body: json (CostWatch envelope) or slack (text + blocks)', 'json')
    .option(
      '--secret-stdin',
      'read the webhook signing secret from stdin (else one is generated and printed)',
    )
    .option('--to <email>', 'email recipient (repeatable)', collect, [])
    .action(
      async (o: {
        org: string;
        name: string;
        url?: string;
        format: string;
        secretStdin?: boolean;
        to: string[];
      }) => {
        const orgId = wholeNumber('--org', o.org);
        if ((o.url === undefined) === (o.to.length === 0))
          throw new Error('--url or --to: give a webhook URL or email recipients (not both)');
        let generated: string | null = null;
        let secret = '';
        if (o.url !== undefined) {
          if (o.secretStdin) secret = await readStdin();
          else secret = generated = `whsec_${randomBytes(24).toString('base64url')}`;
        }
        const parsed = createChannelBody.safeParse(
          o.url !== undefined
            ? { type: 'webhook', name: o.name, url: o.url, signing_secret: secret, format: o.format }
            : { type: 'email', name: o.name, to: o.to },
        );
        if (!parsed.success)
          throw issues(parsed.error, {
            name: '--name',
            url: '--url',
            signing_secret: 'signing secret (stdin)',
            format: '--format',
            to: '--to',
          });
        const body = parsed.data;
        const created = await withPool(async (pool) => {
          try {
            return await createChannel(
              pool,
              orgId,
              body.type === 'webhook'
                ? {
                    type: 'webhook',
                    name: body.name,
                    url: body.url,
                    signingSecret: body.signing_secret,
                    format: body.format,
                  }
                : { type: 'email', name: body.name, recipients: body.to },
            );
          } catch (error) {
            if (isUniqueViolation(error))
              throw new Error(`--name: a channel named ${JSON.stringify(body.name)} exists`, {
                cause: error,
              });
            if (typeof error === 'object' && error !== null && (error as { code?: unknown }).code === '23503')
              throw new Error(`--org: no organization ${orgId}`, { cause: error });
            throw error;
          }
        });
        process.stdout.write(`${created.id}\n`);
        if (generated)
          process.stderr.write(
            `signing secret (shown once; verify X-CostWatch-Signature with it): ${generated}\n`,
          );
      },
    );
  channel
    .command('list')
    .description("list an organization's channels (secrets are never shown)")
    .requiredOption('--org <id>', 'organization id')
    .option('--json', 'print JSON')
    .action(async (o: { org: string; json?: boolean }) => {
      const orgId = wholeNumber('--org', o.org);
      const channels = await withPool((pool) => listChannels(pool, orgId));
      if (o.json) {
        process.stdout.write(`${JSON.stringify(channels, null, 2)}\n`);
        return;
      }
      process.stdout.write(`${'ID'.padEnd(6)} ${'NAME'.padEnd(24)} ${'TYPE'.padEnd(8)} TARGET\n`);
      for (const c of channels) {
        const target =
          c.type === 'webhook' ? `${c.url ?? ''} (${c.format ?? 'json'})` : (c.recipients ?? []).join(', ');
        process.stdout.write(
          `${String(c.id).padEnd(6)} ${c.name.slice(0, 24).padEnd(24)} ${c.type.padEnd(8)} ${target}\n`,
        );
      }
    });
  channel
    .command('test')
    .description(
      'send one test notification now (from this process) and print the outcome; exit 1 unless delivered',
    )
    .requiredOption('--org <id>', 'organization id')
    .requiredOption('--id <id>', 'channel id')
    .action(async (o: { org: string; id: string }) => {
      const orgId = wholeNumber('--org', o.org);
      const id = wholeNumber('--id', o.id);
      const config = loadConfig('cli');
      const outcome = await withPool(async (pool) => {
        const [found] = await listChannels(pool, orgId, id);
        if (!found) throw new Error(`--id: no channel ${id} in organization ${orgId}`);
        const [deliveryId] = await enqueueNotifications(pool, {
          organizationId: orgId,
          channelIds: [id],
          type: 'test',
          idempotencyKey: `test_${randomUUID()}`,
          data: {
            message: 'CostWatch test notification',
            channel: { id: found.id, name: found.name, type: found.type },
          },
          createdAt: systemNow(),
          deadlineSeconds: 0,
        });
        if (!deliveryId) throw new Error('the test notification was not created');
        await attemptDelivery(
          {
            db: pool,
            log: createLogger({ level: 'warn', name: 'cli' }),
            settings: notifySettings(config),
          },
          deliveryId,
        );
        return getDelivery(pool, orgId, deliveryId);
      }, config);
      if (!outcome) throw new Error('the test delivery disappeared');
      process.stdout.write(
        `delivery ${outcome.id}: ${outcome.status}${outcome.last_response_code !== null ? ` (${outcome.last_response_code})` : ''}${outcome.last_error ? `: ${outcome.last_error}` : ''}\n`,
      );
      if (outcome.status !== 'delivered') process.exitCode = 1;
    });
  channel
    .command('delete')
    .description('delete a channel (its undelivered notifications are dropped)')
    .requiredOption('--org <id>', 'organization id')
    .requiredOption('--id <id>', 'channel id')
    .action(async (o: { org: string; id: string }) => {
      const orgId = wholeNumber('--org', o.org);
      const id = wholeNumber('--id', o.id);
      const deleted = await withPool((pool) => deleteChannel(pool, orgId, id));
      if (!deleted) throw new Error(`--id: no channel ${id} in organization ${orgId}`);
      process.stdout.write(`deleted channel ${id}\n`);
    });
}
