/**
 * Delivery through the real parts: in-process workers (budgets + notifications queues on the test
 * Redis) send to a loopback webhook receiver that verifies every signature, and to a loopback SMTP
 * server (smtp-server) that parses what nodemailer sends. Proves the webhook contract (body,
 * X-CostWatch-Delivery, X-CostWatch-Signature), the Slack body, email with SMTP auth and an API
 * link, a 30 s receiver outage followed by complete delivery, the deadline ending in `failed`,
 * the channel test endpoint, and that no secret reaches the logs.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { asServiceConfig, parseConfig } from '../lib/config.js';
import { createRedis, type Redis } from '../lib/redis.js';
import { REDACT_PATHS } from '../lib/logger.js';
import { registry } from '../lib/metrics.js';
import { eachDay } from '../lib/dates.js';
import { createQueues, type Queues } from '../producers/queues.js';
import { dispatchDeliveries, enqueueBudgetEvaluation } from '../producers/notifications.js';
import { startWorkers, type RunningWorkers } from '../workers/main.js';
import { createBudget } from '../database/repositories/budgets.repository.js';
import { createChannel } from '../database/repositories/notification-channels.repository.js';
import { enqueueNotifications } from '../database/repositories/notifications.repository.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { discardQueues } from './helpers/queues.js';
import {
  seedDailyCost,
  seedForecast,
  startSmtpReceiver,
  startWebhookReceiver,
  type SmtpReceiver,
  type WebhookReceiver,
} from './helpers/notifications.js';
import { testEnv } from './helpers/pipeline.js';
import { login, seedUser, startTestApi, type TestApi } from './helpers/api.js';

const SECRET = `whsec-${randomBytes(12).toString('hex')}`;
const SMTP_PASSWORD = `smtp-pw-${randomBytes(8).toString('hex')}`;
const TODAY = '2026-04-15';
const NOW = new Date(`${TODAY}T09:30:00Z`);

let db: TestDatabase;
let redis: Redis;
let queues: Queues;
let workers: RunningWorkers;
let hook: WebhookReceiver;
let smtp: SmtpReceiver;
let api: TestApi;
let env: Record<string, string>;
const logLines: string[] = [];
let orgSeq = 0;

before(async () => {
  db = await createTestDatabase({ poolSize: 10 });
  hook = await startWebhookReceiver(SECRET);
  smtp = await startSmtpReceiver({ user: 'costwatch', password: SMTP_PASSWORD });
  const prefix = `cwnotify${randomBytes(4).toString('hex')}`;
  env = testEnv({
    DATABASE_URL: db.url,
    QUEUE_PREFIX: prefix,
    JOB_LOCK_SECONDS: '5',
    SHUTDOWN_GRACE_SECONDS: '5',
    NOTIFY_RETRY_BASE_MS: '500',
    NOTIFY_RETRY_MAX_MS: '3000',
    NOTIFY_TIMEOUT_MS: '3000',
    NOTIFY_SWEEP_SECONDS: '2',
    SMTP_HOST: '127.0.0.1',
    SMTP_PORT: String(smtp.port),
    SMTP_USER: 'costwatch',
    SMTP_PASSWORD,
    SMTP_FROM: 'CostWatch <alerts@costwatch.test>',
    PUBLIC_API_URL: 'https://costwatch.example.com',
  });
  const config = asServiceConfig(parseConfig('worker', env));
  redis = createRedis(config.REDIS_URL, 'producer');
  queues = createQueues(redis, { prefix, attempts: 3, backoffMs: 100 });
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logLines.push(chunk.toString());
      done();
    },
  });
  const log = pino({ level: 'debug', redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, sink);
  workers = await startWorkers(config, { queues: ['budgets', 'notifications'], log, now: () => NOW });
  api = await startTestApi({
    db,
    env: { QUEUE_PREFIX: prefix, NOTIFY_TIMEOUT_MS: '3000' },
    options: { now: () => NOW },
  });
});

after(async () => {
  await workers.stop();
  await api.close();
  await discardQueues(queues);
  redis.disconnect();
  await hook.close();
  await smtp.close();
  await db.drop();
});

async function newOrg(): Promise<{ id: number; name: string }> {
  orgSeq += 1;
  const name = `notify-org-${orgSeq}`;
  const { rows } = await db.pool.query<{ id: number }>(
    `INSERT INTO organizations (name, aws_account_id) VALUES ($1, '123456789012') RETURNING id::int AS id`,
    [name],
  );
  const id = rows[0]?.id;
  assert.ok(id);
  return { id, name };
}

async function outbox(orgId: number) {
  const { rows } = await db.pool.query<{
    id: string;
    status: string;
    attempts: number;
    last_error: string | null;
    last_response_code: number | null;
    alert_id: number | null;
  }>(
    `SELECT id::text, status, attempts, last_error, last_response_code, alert_id::int AS alert_id FROM notification_outbox WHERE organization_id = $1 ORDER BY id`,
    [orgId],
  );
  return rows;
}

async function waitForOutbox(
  orgId: number,
  done: (rows: Awaited<ReturnType<typeof outbox>>) => boolean,
  timeoutMs: number,
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows = await outbox(orgId);
    if (done(rows)) return rows;
    if (Date.now() > deadline) throw new Error(`outbox not settled: ${JSON.stringify(rows)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function crossedBudget(orgId: number, channelIds: number[], name = 'b'): Promise<void> {
  await seedDailyCost(db.pool, orgId, eachDay('2026-04-01', TODAY), '10'); // 140
  await seedForecast(db.pool, orgId, '2026-04-01', '300');
  await createBudget(db.pool, orgId, {
    name,
    period: 'monthly',
    amount: '200',
    currency: 'USD',
    metric: 'unblended',
    scope: { service: ['Amazon Elastic Compute Cloud - Compute'] },
    thresholds: [
      { percent: 50, kind: 'actual' },
      { percent: 80, kind: 'forecasted' },
    ],
    channelIds,
  });
}

test('webhook (json and slack) and email deliveries: signed, one id per delivery, SPEC body, parsed email', async () => {
  const org = await newOrg();
  const json = await createChannel(db.pool, org.id, {
    type: 'webhook',
    name: 'json',
    url: hook.url,
    signingSecret: SECRET,
    format: 'json',
  });
  const slack = await createChannel(db.pool, org.id, {
    type: 'webhook',
    name: 'slack',
    url: hook.url,
    signingSecret: SECRET,
    format: 'slack',
  });
  const mail = await createChannel(db.pool, org.id, {
    type: 'email',
    name: 'mail',
    recipients: ['finops@example.com', 'cto@example.com'],
  });
  const before = hook.received.length;
  const mailsBefore = smtp.messages.length;
  await crossedBudget(org.id, [json.id, slack.id, mail.id]);
  await enqueueBudgetEvaluation(queues, org.id);
  const rows = await waitForOutbox(
    org.id,
    (r) => r.length === 6 && r.every((x) => x.status === 'delivered'),
    30_000,
  );
  await hook.waitForDistinct(before + 4, 10_000);
  await smtp.waitFor(mailsBefore + 2, 10_000);
  const mine = hook.received.slice(before);
  assert.equal(hook.rejected, 0, 'every signature verified');
  const ids = new Set(rows.map((r) => r.id));
  for (const r of mine) assert.ok(ids.has(r.id), 'X-CostWatch-Delivery is an outbox id');
  const jsonBodies = mine.filter((r) => 'type' in r.body);
  assert.equal(jsonBodies.length, 2);
  for (const r of jsonBodies) {
    assert.equal(r.body.id, r.id, 'body id = delivery header');
    assert.equal(r.body.type, 'budget.threshold_crossed');
    assert.equal(r.body.created_at, NOW.toISOString());
    assert.deepEqual(r.body.organization, { id: org.id, name: org.name });
    const data = r.body.data as { budget: { name: string; scope: unknown }; threshold: { kind: string } };
    assert.equal(data.budget.name, 'b');
    assert.deepEqual(data.budget.scope, { service: ['Amazon Elastic Compute Cloud - Compute'] });
    assert.equal(r.headers['content-type'], 'application/json');
  }
  assert.deepEqual(
    jsonBodies.map((r) => (r.body.data as { threshold: { kind: string } }).threshold.kind).sort(),
    ['actual', 'forecasted'],
  );
  const slackBodies = mine.filter((r) => 'blocks' in r.body);
  assert.equal(slackBodies.length, 2);
  for (const r of slackBodies) {
    assert.match(String(r.body.text), /budget "b" crossed (50|80)%/);
    assert.ok(Array.isArray(r.body.blocks) && r.body.blocks.length > 0);
    assert.match(r.raw, /https:\/\/costwatch\.example\.com\/api\/v1\/alerts/);
  }
  const mails = smtp.messages.slice(mailsBefore);
  assert.deepEqual(smtp.logins.slice(-1), ['costwatch'], 'SMTP AUTH with SMTP_USER / SMTP_PASSWORD');
  for (const m of mails) {
    assert.deepEqual(
      m.from?.value.map((v) => [v.name, v.address]),
      [['CostWatch', 'alerts@costwatch.test']],
    );
    assert.match(String(m.subject), /\[CostWatch\] (Actual|Forecasted) spend of budget "b" crossed/);
    assert.match(
      m.text ?? '',
      /Details: https:\/\/costwatch\.example\.com\/api\/v1\/alerts\?budget_id=\d+&org_id=\d+/,
    );
    assert.equal(m.html, false, 'plain text only');
    const delivery = m.headers.get('x-costwatch-delivery');
    assert.ok(typeof delivery === 'string' && ids.has(delivery));
    assert.equal(m.messageId, `<${String(delivery)}@costwatch>`);
    assert.deepEqual(
      (Array.isArray(m.to) ? m.to : [m.to]).flatMap((t) => t?.value.map((v) => v.address)),
      ['finops@example.com', 'cto@example.com'],
    );
  }
  const metrics = await registry.getSingleMetricAsString('costwatch_notifications_total');
  assert.match(metrics, /costwatch_notifications_total\{channel="webhook",outcome="delivered"\} [1-9]/);
  assert.match(metrics, /costwatch_notifications_total\{channel="email",outcome="delivered"\} [1-9]/);
  assert.match(
    await registry.getSingleMetricAsString('costwatch_alerts_fired_total'),
    /kind="forecasted"\} [1-9]/,
  );
});

test('the receiver is down for 30 s: deliveries are retried with backoff, then every one arrives once delivered', async () => {
  const org = await newOrg();
  const channel = await createChannel(db.pool, org.id, {
    type: 'webhook',
    name: 'down',
    url: hook.url,
    signingSecret: SECRET,
    format: 'json',
  });
  await hook.down();
  const startedDown = Date.now();
  try {
    for (let i = 0; i < 3; i++) await crossedBudget(org.id, [channel.id], `down-${i}`);
    await enqueueBudgetEvaluation(queues, org.id);
    await waitForOutbox(org.id, (r) => r.length === 6 && r.every((x) => x.attempts >= 2), 20_000);
    await new Promise((r) => setTimeout(r, Math.max(0, 30_000 - (Date.now() - startedDown))));
    const during = await outbox(org.id);
    assert.ok(
      during.every((r) => r.status === 'pending' || r.status === 'sending'),
      'still undelivered, not failed',
    );
    assert.ok(
      during.every((r) => r.last_error !== null && r.last_response_code === null),
      'connection errors recorded',
    );
    const gauge = await registry.getSingleMetricAsString('costwatch_notifications_undelivered');
    assert.match(gauge, /costwatch_notifications_undelivered [1-9]/);
  } finally {
    await hook.up();
  }
  const ids = new Set((await outbox(org.id)).map((r) => r.id));
  const settled = await waitForOutbox(org.id, (r) => r.every((x) => x.status === 'delivered'), 20_000);
  assert.equal(settled.length, 6);
  const arrived = hook.received.filter((r) => ids.has(r.id));
  assert.equal(new Set(arrived.map((r) => r.id)).size, 6, 'every delivery arrived');
  assert.equal(arrived.length, 6, 'each once (no crash between send and record here)');
  const { rows } = await db.pool.query<{ outcome: string; n: number }>(
    `SELECT outcome, count(*)::int AS n FROM notification_attempts a JOIN notification_outbox o ON o.id = a.delivery_id
      WHERE o.organization_id = $1 GROUP BY outcome ORDER BY outcome`,
    [org.id],
  );
  const byOutcome = Object.fromEntries(rows.map((r) => [r.outcome, r.n]));
  assert.equal(byOutcome.delivered, 6);
  assert.ok((byOutcome.retry ?? 0) >= 12, `retries logged during the outage: ${JSON.stringify(byOutcome)}`);
});

test('past its deadline a delivery is failed, with attempts, the last error and the log', async () => {
  const org = await newOrg();
  const refused = await createChannel(db.pool, org.id, {
    type: 'webhook',
    name: 'gone',
    url: 'http://127.0.0.1:9/none',
    signingSecret: SECRET,
    format: 'json',
  });
  const ids = await enqueueNotifications(db.pool, {
    organizationId: org.id,
    channelIds: [refused.id],
    type: 'anomaly.opened',
    idempotencyKey: 'anomaly_1_opened',
    data: { anomaly_id: 1 },
    deadlineSeconds: 3,
  });
  assert.equal(ids.length, 1);
  assert.deepEqual(
    await enqueueNotifications(db.pool, {
      organizationId: org.id,
      channelIds: [refused.id],
      type: 'anomaly.opened',
      idempotencyKey: 'anomaly_1_opened',
      data: {},
    }),
    [],
    'the same key again adds nothing',
  );
  await dispatchDeliveries(queues, ids);
  const [row] = await waitForOutbox(org.id, (r) => r[0]?.status === 'failed', 20_000);
  assert.ok((row?.attempts ?? 0) >= 2, 'retried before the deadline');
  assert.match(row?.last_error ?? '', /fetch failed|ECONNREFUSED/);
  const log = await db.pool.query<{ outcome: string }>(
    `SELECT outcome FROM notification_attempts WHERE delivery_id = $1 ORDER BY attempt`,
    [row?.id],
  );
  assert.equal(log.rows.at(-1)?.outcome, 'failed');
  assert.match(
    await registry.getSingleMetricAsString('costwatch_notifications_total'),
    /channel="webhook",outcome="failed"\} [1-9]/,
  );
});

test('POST /notification-channels/{id}/test sends one signed test message through a worker; secrets never returned', async () => {
  const org = await newOrg();
  await seedUser(db, org.id, `admin${org.id}@notify.test`, 'admin');
  const token = await login(api, `admin${org.id}@notify.test`);
  const post = (path: string, body?: unknown) =>
    fetch(`${api.baseUrl}/api/v1${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const created = await post('/notification-channels', {
    type: 'webhook',
    name: 'test-hook',
    url: hook.url,
    signing_secret: SECRET,
    format: 'json',
  });
  assert.equal(created.status, 201);
  const createdText = await created.text();
  assert.ok(!createdText.includes(SECRET), 'the secret is not echoed');
  const channel = JSON.parse(createdText) as { id: number; signing_secret_set: boolean };
  assert.equal(channel.signing_secret_set, true);
  const before = hook.received.length;
  const res = await post(`/notification-channels/${channel.id}/test`);
  assert.equal(res.status, 200);
  const body = (await res.json()) as {
    delivery: { id: string; status: string; attempts: number; last_response_code: number };
  };
  assert.equal(body.delivery.status, 'delivered');
  assert.equal(body.delivery.last_response_code, 204);
  const got = hook.received.slice(before).find((r) => r.id === body.delivery.id);
  assert.ok(got, 'the receiver got the test message');
  assert.equal(got.body.type, 'test');
  const bad = await post('/notification-channels', {
    type: 'webhook',
    name: 'refused',
    url: 'http://127.0.0.1:9/x',
    signing_secret: SECRET,
  });
  const badId = ((await bad.json()) as { id: number }).id;
  const failed = await post(`/notification-channels/${badId}/test`);
  const failedBody = (await failed.json()) as {
    delivery: { status: string; attempts: number; last_error: string };
  };
  assert.equal(failedBody.delivery.status, 'failed', 'a test is tried once');
  assert.equal(failedBody.delivery.attempts, 1);
  assert.ok(failedBody.delivery.last_error.length > 0);
  const list = await fetch(`${api.baseUrl}/api/v1/notification-channels`, {
    headers: { authorization: `Bearer ${token}` },
  });
  assert.ok(!(await list.text()).includes(SECRET));
});

test('no channel secret nor SMTP password in any log line (debug level)', () => {
  const all = logLines.join('');
  assert.ok(all.length > 0, 'the workers logged');
  assert.ok(!all.includes(SECRET), 'signing secret never logged');
  assert.ok(!all.includes(SMTP_PASSWORD), 'SMTP password never logged');
});
