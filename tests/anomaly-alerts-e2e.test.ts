/**
 * Anomaly alerts end to end: cost_data -> the real rollup routine -> a detect-anomalies job on the
 * real anomalies queue and worker -> anomaly_notifications + the notification outbox (same
 * transaction) -> dispatched after commit -> the real notifications worker -> a loopback webhook
 * receiver that verifies X-CostWatch-Signature. The subscribed channel gets one signed
 * `anomaly.opened` per anomaly with the SPEC envelope, nothing more on a repeated detection, and one
 * `anomaly.updated` per anomaly when AWS restates the day to more than twice the impact.
 * The workers' clock is pinned.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startTestPipeline, type TestPipeline } from './helpers/pipeline.js';
import { startWebhookReceiver, type ReceivedWebhook, type WebhookReceiver } from './helpers/notifications.js';
import { createChannel } from '../database/repositories/notification-channels.repository.js';
import { createAnomalySubscription } from '../database/repositories/anomalies.repository.js';
import { rebuildCostRollups } from '../database/repositories/rollups.repository.js';
import { enqueueAnomalyDetection } from '../producers/enqueue-anomalies.js';
import { addDays, eachDay } from '../lib/dates.js';
import { manualClock } from '../lib/clock.js';

const SECRET = `whsec-${randomBytes(12).toString('hex')}`;
const A = '135792468013';
const B = '135792468024';
const FROM = '2026-08-22';
const SPIKE = '2026-10-20';
const clock = manualClock('2026-10-21T06:00:00Z');

let p: TestPipeline;
let hook: WebhookReceiver;

/** EC2 $60 in A (us-east-1) and $40 + extra in B (eu-west-1); S3 $20 in A. */
async function writeDay(orgId: number, day: string, extraB: number, estimated: boolean): Promise<void> {
  await p.db.pool.query('DELETE FROM cost_data WHERE organization_id = $1 AND cost_date = $2', [orgId, day]);
  const rows: Array<[string, string, string | null, string | null, number]> = [
    ['account_service', 'Amazon EC2', A, null, 60],
    ['account_service', 'Amazon EC2', B, null, 40 + extraB],
    ['account_service', 'Amazon S3', A, null, 20],
    ['region_service', 'Amazon EC2', null, 'us-east-1', 60],
    ['region_service', 'Amazon EC2', null, 'eu-west-1', 40 + extraB],
    ['region_service', 'Amazon S3', null, 'us-east-1', 20],
  ];
  for (const [grouping, service, account, region, amount] of rows)
    await p.db.pool.query(
      `INSERT INTO cost_data (organization_id, cost_date, grouping, service, linked_account, region, unblended_cost,
                              amortized_cost, net_unblended_cost, usage_quantity, estimated)
       VALUES ($1, $2, $3, $4, coalesce($5, ''), coalesce($6, ''), $7, $7, $7, 0, $8)`,
      [orgId, day, grouping, service, account, region, amount.toFixed(2), estimated],
    );
}

async function detect(orgId: number, from: string, to: string): Promise<void> {
  await enqueueAnomalyDetection(p.queues, { orgId, from, to });
  await p.waitForIdle(60_000);
}

/** Distinct deliveries received (a redelivery repeats its id). */
function distinct(): ReceivedWebhook[] {
  const byId = new Map<string, ReceivedWebhook>();
  for (const r of hook.received) byId.set(r.id, r);
  return [...byId.values()];
}

interface AlertBody {
  id: string;
  type: string;
  created_at: string;
  organization: { id: number; name: string };
  data: {
    anomaly: {
      id: number;
      dimension: string;
      key: string;
      impact: { amount: string; unit: string };
      root_causes: Array<{ dimension: string }>;
    };
    subscription: { id: number; name: string };
    level: number;
  };
}

before(async () => {
  hook = await startWebhookReceiver(SECRET);
  p = await startTestPipeline({
    now: clock.now,
    env: { NOTIFY_RETRY_BASE_MS: '300', NOTIFY_RETRY_MAX_MS: '1000' },
  });
  await p.db.pool.query(`SELECT ensure_monthly_partitions('cost_data', '2026-08-01', '2026-11-30')`);
});
after(async () => {
  await p?.close();
  await hook?.close();
});

test('an opened anomaly reaches the subscribed webhook once per anomaly and level, signed, with the SPEC body', async () => {
  const org = await p.createOrg(A, { withoutRole: true });
  const channel = await createChannel(p.db.pool, org.id, {
    type: 'webhook',
    name: 'finops hook',
    url: hook.url,
    signingSecret: SECRET,
    format: 'json',
  });
  const sub = await createAnomalySubscription(p.db.pool, {
    orgId: org.id,
    name: 'finops',
    minImpact: '100',
    channelIds: [channel.id],
    now: clock.now(),
  });
  for (const day of eachDay(FROM, addDays(SPIKE, 1)))
    await writeDay(org.id, day, day === SPIKE ? 150 : 0, day >= addDays(SPIKE, -1));
  await rebuildCostRollups(p.db.pool, org.id, FROM, addDays(SPIKE, 1));

  await detect(org.id, FROM, addDays(SPIKE, 1));
  await hook.waitForDistinct(2, 60_000);
  const opened = distinct();
  assert.equal(opened.length, 2, 'the EC2 service anomaly and the account B anomaly');
  assert.equal(hook.rejected, 0);
  const { rows: anomalies } = await p.db.pool.query<{ id: number; dimension: string; key: string }>(
    'SELECT id::int, dimension, key FROM anomalies WHERE organization_id = $1 ORDER BY id',
    [org.id],
  );
  for (const r of opened) {
    assert.ok(r.signatureValid);
    assert.equal(r.headers['x-costwatch-delivery'], r.id);
    const body = r.body as unknown as AlertBody;
    assert.deepEqual(Object.keys(body).sort(), ['created_at', 'data', 'id', 'organization', 'type']);
    assert.equal(body.id, r.id);
    assert.equal(body.type, 'anomaly.opened');
    assert.equal(new Date(body.created_at).toISOString(), clock.now().toISOString());
    assert.deepEqual(body.organization, { id: org.id, name: org.name });
    assert.deepEqual(body.data.subscription, { id: sub.id, name: 'finops' });
    assert.equal(body.data.level, 0);
    assert.deepEqual(body.data.anomaly.impact, { amount: '150.00', unit: 'USD' });
    assert.ok(body.data.anomaly.root_causes.length > 0);
  }
  assert.deepEqual(
    opened.map((r) => (r.body as unknown as AlertBody).data.anomaly.id).sort((x, y) => x - y),
    anomalies.map((a) => a.id),
  );

  // The same detection again (a retry, a second rollup of the days): nothing new is sent.
  await detect(org.id, FROM, addDays(SPIKE, 1));
  await detect(org.id, SPIKE, addDays(SPIKE, 1));
  assert.equal(distinct().length, 2);

  // AWS restates the day final and higher: $350 of excess, more than twice $150.
  clock.set('2026-10-24T06:00:00Z');
  await writeDay(org.id, SPIKE, 350, false);
  for (const day of eachDay(addDays(SPIKE, 1), addDays(SPIKE, 4))) await writeDay(org.id, day, 0, false);
  await writeDay(org.id, addDays(SPIKE, -1), 0, false);
  await rebuildCostRollups(p.db.pool, org.id, addDays(SPIKE, -1), addDays(SPIKE, 4));
  await detect(org.id, addDays(SPIKE, -1), addDays(SPIKE, 4));
  await hook.waitForDistinct(4, 60_000);
  const updated = distinct().filter((r) => !opened.some((o) => o.id === r.id));
  assert.equal(updated.length, 2);
  for (const r of updated) {
    assert.ok(r.signatureValid);
    const body = r.body as unknown as AlertBody;
    assert.equal(body.type, 'anomaly.updated');
    assert.equal(body.data.level, 1);
    assert.deepEqual(body.data.anomaly.impact, { amount: '350.00', unit: 'USD' });
  }
  assert.deepEqual(
    updated.map((r) => (r.body as unknown as AlertBody).data.anomaly.id).sort((x, y) => x - y),
    anomalies.map((a) => a.id),
  );

  // Exactly once per anomaly and level, all delivered.
  await detect(org.id, addDays(SPIKE, -1), addDays(SPIKE, 4));
  const all = distinct().map((r) => {
    const b = r.body as unknown as AlertBody;
    return `${b.data.anomaly.id}/${b.data.level}/${b.type}`;
  });
  assert.equal(new Set(all).size, 4);
  assert.equal(all.length, 4);
  const { rows: outbox } = await p.db.pool.query<{ status: string; n: number }>(
    `SELECT status, count(*)::int AS n FROM notification_outbox WHERE organization_id = $1 GROUP BY status`,
    [org.id],
  );
  assert.deepEqual(outbox, [{ status: 'delivered', n: 4 }]);
});
