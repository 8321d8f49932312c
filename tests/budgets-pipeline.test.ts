/**
 * The whole chain through the real pipeline: simulator -> fetch-costs (with the month's forecast)
 * -> COPY -> rollup -> evaluate-budgets -> outbox -> notifications -> a loopback receiver. Proves the
 * rollup and forecast triggers: nobody enqueues an evaluation by hand here.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { todayUtc } from '../lib/dates.js';
import { enqueueOrgRefresh } from '../producers/enqueue.js';
import { createBudget } from '../database/repositories/budgets.repository.js';
import { createChannel } from '../database/repositories/notification-channels.repository.js';
import { startTestPipeline, type TestPipeline } from './helpers/pipeline.js';
import { startWebhookReceiver, type WebhookReceiver } from './helpers/notifications.js';

const SECRET = `whsec-${randomBytes(12).toString('hex')}`;
let p: TestPipeline;
let hook: WebhookReceiver;

before(async () => {
  hook = await startWebhookReceiver(SECRET);
  p = await startTestPipeline({ env: { NOTIFY_RETRY_BASE_MS: '300', NOTIFY_RETRY_MAX_MS: '1000' } });
});
after(async () => {
  await p.close();
  await hook.close();
});

test('a refresh loads costs and the forecast; the rollup triggers the evaluation; the receiver gets the alerts', async () => {
  const org = await p.createOrg('334455667788');
  const channel = await createChannel(p.db.pool, org.id, {
    type: 'webhook',
    name: 'hook',
    url: hook.url,
    signingSecret: SECRET,
    format: 'json',
  });
  await createBudget(p.db.pool, org.id, {
    name: 'tiny',
    period: 'monthly',
    amount: '0.01',
    currency: 'USD',
    metric: 'unblended',
    scope: {},
    thresholds: [
      { percent: 100, kind: 'actual' },
      { percent: 100, kind: 'forecasted' },
    ],
    channelIds: [channel.id],
  });
  // The workers and the simulator share the pipeline's pinned clock (TEST_NOW): the refresh reaches
  // their today, so it also stores the month's forecast.
  await enqueueOrgRefresh(p.queues, { id: org.id }, todayUtc(p.now()), p.config, 'manual');
  await hook.waitForDistinct(2, 90_000);
  const kinds = hook.received
    .map((r) => (r.body.data as { threshold: { kind: string } }).threshold.kind)
    .sort();
  assert.deepEqual([...new Set(kinds)], ['actual', 'forecasted']);
  assert.ok(hook.received.every((r) => r.signatureValid));
  const { rows } = await p.db.pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM cost_forecasts WHERE organization_id = $1`,
    [org.id],
  );
  assert.equal(rows[0]?.n, 1, 'the forecast was stored by the fetch');
  const alerts = await p.db.pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM budget_alerts WHERE organization_id = $1`,
    [org.id],
  );
  assert.equal(alerts.rows[0]?.n, 2);
});
