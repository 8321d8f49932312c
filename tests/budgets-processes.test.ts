/**
 * Budgets and notifications through real worker processes (`costwatch worker --queues
 * budgets,notifications`, spawned like production): a kill -9 in the middle of evaluations and
 * deliveries still leaves exactly one alert per threshold and every delivery arrives, with one
 * idempotency key per alert (a resend after the crash carries the same key); and two worker
 * processes evaluating the same organization at once still make one alert per threshold.
 * The workers' clock is pinned at TEST_NOW (CLOCK_START / CLOCK_FROZEN), the day the seeded rollups
 * are around.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { asServiceConfig, parseConfig } from '../lib/config.js';
import { createRedis, type Redis } from '../lib/redis.js';
import { addDays, eachDay, todayUtc } from '../lib/dates.js';
import { JOB_NAMES } from '../lib/jobs.js';
import { createQueues, type Queues } from '../producers/queues.js';
import { enqueueBudgetEvaluation } from '../producers/notifications.js';
import { createBudget } from '../database/repositories/budgets.repository.js';
import { createOrganization } from '../database/repositories/organizations.repository.js';
import { createChannel } from '../database/repositories/notification-channels.repository.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { discardQueues } from './helpers/queues.js';
import { seedDailyCost, verifySignature } from './helpers/notifications.js';
import { testEnv } from './helpers/pipeline.js';
import { pinnedClockEnv, TEST_NOW } from './helpers/clock.js';
import { spawnRole, type RoleProcess } from './helpers/processes.js';

const SECRET = `whsec-${randomBytes(12).toString('hex')}`;
let db: TestDatabase;
let redis: Redis;
let queues: Queues;
let env: Record<string, string>;
let receiver: Server;
let hookUrl: string;
const arrivals: Array<{ id: string; valid: boolean; alertId: number }> = [];
const running: RoleProcess[] = [];

before(async () => {
  db = await createTestDatabase({ poolSize: 10 });
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const valid = verifySignature(SECRET, String(req.headers['x-costwatch-signature']), raw);
      const body = JSON.parse(raw) as { data: { alert_id: number } };
      // A slow receiver keeps deliveries in flight when the worker is killed.
      setTimeout(() => {
        arrivals.push({
          id: String(req.headers['x-costwatch-delivery']),
          valid,
          alertId: body.data.alert_id,
        });
        res.writeHead(valid ? 200 : 401).end();
      }, 40);
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', () => resolve()));
  hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  const prefix = `cwbudproc${randomBytes(4).toString('hex')}`;
  env = testEnv({
    DATABASE_URL: db.url,
    QUEUE_PREFIX: prefix,
    LOG_LEVEL: 'info',
    JOB_LOCK_SECONDS: '5',
    SHUTDOWN_GRACE_SECONDS: '3',
    WORKER_CONCURRENCY: '4',
    NOTIFY_TIMEOUT_MS: '2000',
    NOTIFY_RETRY_BASE_MS: '300',
    NOTIFY_RETRY_MAX_MS: '2000',
    NOTIFY_SWEEP_SECONDS: '2',
    ...pinnedClockEnv(TEST_NOW),
  });
  redis = createRedis(asServiceConfig(parseConfig('worker', env)).REDIS_URL, 'producer');
  queues = createQueues(redis, { prefix, attempts: 3, backoffMs: 100 });
});

after(async () => {
  for (const p of running)
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  await discardQueues(queues);
  redis.disconnect();
  receiver.closeAllConnections();
  await new Promise<void>((resolve) => receiver.close(() => resolve()));
  await db.drop();
});

const startWorker = async () => {
  const p = await spawnRole(['worker', '--queues', 'budgets,notifications'], env, 'worker started', 60_000);
  running.push(p);
  return p;
};

/** Orgs whose budgets are over every threshold wherever today falls in the period. */
async function seedOrgs(
  count: number,
  budgetsPerOrg: number,
  label: string,
): Promise<{ orgIds: number[]; thresholds: number }> {
  const today = todayUtc(new Date(TEST_NOW));
  const days = eachDay(addDays(today, -400), addDays(today, 400));
  const orgIds: number[] = [];
  for (let i = 0; i < count; i++) {
    const { id: orgId } = await createOrganization(db.pool, {
      name: `${label}-${i}`,
      awsAccountId: '123456789012',
      selfIdentity: true,
    });
    orgIds.push(orgId);
    await seedDailyCost(db.pool, orgId, days, '5');
    const channel = await createChannel(db.pool, orgId, {
      type: 'webhook',
      name: 'hook',
      url: hookUrl,
      signingSecret: SECRET,
      format: 'json',
    });
    for (let b = 0; b < budgetsPerOrg; b++) {
      await createBudget(db.pool, orgId, {
        name: `b${b}`,
        period: (['monthly', 'quarterly', 'annual'] as const)[b % 3] ?? 'monthly',
        amount: '100',
        currency: 'USD',
        metric: 'unblended',
        scope: {},
        thresholds: [
          { percent: 50, kind: 'actual' },
          { percent: 100, kind: 'actual' },
        ],
        channelIds: [channel.id],
      });
    }
  }
  return { orgIds, thresholds: count * budgetsPerOrg * 2 };
}

async function counts(orgIds: number[]) {
  const { rows } = await db.pool.query<{
    alerts: number;
    keys: number;
    deliveries: number;
    delivered: number;
    perAlert: number;
  }>(
    `SELECT (SELECT count(*)::int FROM budget_alerts WHERE organization_id = ANY($1)) AS alerts,
            (SELECT count(DISTINCT (budget_id, period_start, threshold_percent, kind))::int FROM budget_alerts WHERE organization_id = ANY($1)) AS keys,
            (SELECT count(*)::int FROM notification_outbox WHERE organization_id = ANY($1)) AS deliveries,
            (SELECT count(*)::int FROM notification_outbox WHERE organization_id = ANY($1) AND status = 'delivered') AS delivered,
            (SELECT coalesce(max(n), 0)::int FROM (SELECT count(*) AS n FROM notification_outbox WHERE organization_id = ANY($1) GROUP BY alert_id) x) AS "perAlert"`,
    [orgIds],
  );
  const row = rows[0];
  assert.ok(row);
  return row;
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('kill -9 of the worker mid-evaluations and mid-deliveries: one alert per threshold, every delivery arrives under one key per alert', async () => {
  const { orgIds, thresholds } = await seedOrgs(30, 3, 'kill');
  const first = await startWorker();
  for (const orgId of orgIds) await enqueueBudgetEvaluation(queues, orgId);
  await waitFor('the first deliveries', async () => arrivals.length >= 5, 60_000);
  first.child.kill('SIGKILL');
  await first.exited;
  const mid = await counts(orgIds);
  assert.ok(mid.delivered < thresholds, `killed in the middle (${mid.delivered} of ${thresholds} delivered)`);
  // More rollups land while the worker is down: more evaluations of every org.
  for (const orgId of orgIds) await enqueueBudgetEvaluation(queues, orgId);
  const second = await startWorker();
  await waitFor('every delivery', async () => (await counts(orgIds)).delivered === thresholds, 90_000);
  for (const orgId of orgIds) await enqueueBudgetEvaluation(queues, orgId);
  await new Promise((r) => setTimeout(r, 1500));
  const final = await counts(orgIds);
  assert.equal(final.alerts, thresholds, 'exactly one alert per threshold');
  assert.equal(final.keys, thresholds);
  assert.equal(final.deliveries, thresholds, 'one delivery per alert (one channel)');
  assert.equal(final.perAlert, 1);
  const { rows } = await db.pool.query<{ id: string; alert_id: number }>(
    `SELECT id::text, alert_id::int AS alert_id FROM notification_outbox WHERE organization_id = ANY($1)`,
    [orgIds],
  );
  const keyOfAlert = new Map(rows.map((r) => [r.alert_id, r.id]));
  const mine = arrivals.filter((a) => keyOfAlert.has(a.alertId));
  assert.ok(
    mine.every((a) => a.valid),
    'every signature verified',
  );
  assert.equal(new Set(mine.map((a) => a.id)).size, thresholds, 'every delivery arrived');
  for (const a of mine)
    assert.equal(a.id, keyOfAlert.get(a.alertId), 'a resend carries the same idempotency key');
  const resent = mine.length - thresholds;
  assert.ok(resent <= 4 * 2, `duplicates only from sends in flight at the kill (${resent})`);
  second.child.kill('SIGTERM');
  await second.exited;
});

test('two worker processes evaluating the same organization at once make one alert per threshold', async () => {
  const { orgIds, thresholds } = await seedOrgs(1, 10, 'race');
  const orgId = orgIds[0] ?? 0;
  const workers = await Promise.all([startWorker(), startWorker()]);
  // Without the per-org dedupe id, so evaluations really run side by side in both processes.
  await queues.budgets.addBulk(
    Array.from({ length: 40 }, () => ({ name: JOB_NAMES.evaluateBudgets, data: { orgId } })),
  );
  await waitFor('every delivery', async () => (await counts(orgIds)).delivered === thresholds, 60_000);
  await waitFor(
    'the evaluations',
    async () => (await queues.budgets.getJobCounts('waiting', 'active')).active === 0,
    30_000,
  );
  const final = await counts(orgIds);
  assert.equal(final.alerts, thresholds);
  assert.equal(final.deliveries, thresholds);
  const { rows } = await db.pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM budget_alerts WHERE organization_id = $1`,
    [orgId],
  );
  assert.equal(rows[0]?.n, 20);
  const out = workers.map((w) => w.output()).join('');
  assert.ok(out.includes('budget thresholds crossed'), 'the evaluations ran in the worker processes');
  for (const w of workers) w.child.kill('SIGTERM');
  await Promise.all(workers.map((w) => w.exited));
});
