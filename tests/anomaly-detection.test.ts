/**
 * Anomaly detection on a real Postgres: cost_data rows -> the real rollup routine -> the detector's
 * transaction. A spike of one account's EC2 in one region is found on the service and on the
 * account, with its root causes; detection is idempotent and safe concurrently; alerts are decided
 * once when the anomaly opens and again when its impact doubles; a restatement withdraws it (the
 * row stays). The clock is pinned.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { createOrganization } from '../database/repositories/organizations.repository.js';
import { rebuildCostRollups } from '../database/repositories/rollups.repository.js';
import {
  createAnomalySubscription,
  upsertAnomalySettings,
} from '../database/repositories/anomalies.repository.js';
import { createChannel } from '../database/repositories/notification-channels.repository.js';
import { replaceTrackedDimensions } from '../database/repositories/dimensions.repository.js';
import { detectOrgAnomalies } from '../workers/anomaly-detection.js';
import { addDays, eachDay } from '../lib/dates.js';
import { manualClock } from '../lib/clock.js';

const A = '111111111111';
const B = '222222222222';
const FROM = '2026-08-22';
const SPIKE = '2026-10-20';
const clock = manualClock('2026-10-21T06:00:00Z');

interface Line {
  service: string;
  account: string;
  region: string;
  amount: number;
}

/** A normal day: EC2 $60 in A (us-east-1) and $40 in B (30 eu-west-1, 10 us-east-1); S3 $20 in A. */
function normalDay(extraB = 0): Line[] {
  return [
    { service: 'Amazon EC2', account: A, region: 'us-east-1', amount: 60 },
    { service: 'Amazon EC2', account: B, region: 'eu-west-1', amount: 30 + extraB },
    { service: 'Amazon EC2', account: B, region: 'us-east-1', amount: 10 },
    { service: 'Amazon S3', account: A, region: 'us-east-1', amount: 20 },
  ];
}

let db: TestDatabase;

/** A real webhook channel of the organization (subscriptions must name channels of their org). */
async function channelOf(orgId: number, name: string): Promise<number> {
  const c = await createChannel(db.pool, orgId, {
    type: 'webhook',
    name,
    url: 'http://127.0.0.1:9/hook',
    signingSecret: 'anomaly-detection-test-secret',
    format: 'json',
  });
  return c.id;
}

async function outboxOf(
  orgId: number,
): Promise<Array<{ channel_id: number; type: string; source_key: string }>> {
  const { rows } = await db.pool.query<{ channel_id: number; type: string; source_key: string }>(
    `SELECT channel_id::int, type, source_key FROM notification_outbox WHERE organization_id = $1 ORDER BY source_key`,
    [orgId],
  );
  return rows;
}

async function writeDay(orgId: number, day: string, lines: Line[], estimated: boolean): Promise<void> {
  await db.pool.query('DELETE FROM cost_data WHERE organization_id = $1 AND cost_date = $2', [orgId, day]);
  const sums = (key: (l: Line) => string) => {
    const m = new Map<string, number>();
    for (const l of lines) m.set(key(l), (m.get(key(l)) ?? 0) + l.amount);
    return m;
  };
  for (const [k, amount] of sums((l) => `${l.service}|${l.account}`)) {
    const [service, account] = k.split('|');
    await db.pool.query(
      `INSERT INTO cost_data (organization_id, cost_date, grouping, service, linked_account, unblended_cost, amortized_cost,
                              net_unblended_cost, usage_quantity, estimated)
       VALUES ($1, $2, 'account_service', $3, $4, $5, $5, $5, 0, $6)`,
      [orgId, day, service, account, amount.toFixed(2), estimated],
    );
  }
  for (const [k, amount] of sums((l) => `${l.service}|${l.region}`)) {
    const [service, region] = k.split('|');
    await db.pool.query(
      `INSERT INTO cost_data (organization_id, cost_date, grouping, service, region, unblended_cost, amortized_cost,
                              net_unblended_cost, usage_quantity, estimated)
       VALUES ($1, $2, 'region_service', $3, $4, $5, $5, $5, 0, $6)`,
      [orgId, day, service, region, amount.toFixed(2), estimated],
    );
  }
}

async function seedOrg(name: string): Promise<number> {
  const org = await createOrganization(db.pool, { name, awsAccountId: A, selfIdentity: true });
  for (const day of eachDay(FROM, addDays(SPIKE, 1)))
    await writeDay(org.id, day, normalDay(day === SPIKE ? 150 : 0), day >= addDays(SPIKE, -1));
  await rebuildCostRollups(db.pool, org.id, FROM, addDays(SPIKE, 1));
  return org.id;
}

interface Stored {
  id: number;
  dimension: string;
  key: string;
  kind: string;
  start_day: string;
  end_day: string;
  impact: string;
  status: string;
  withdrawn_reason: string | null;
  root_causes: Array<{
    dimension: string;
    service: string | null;
    linked_account: string | null;
    region: string | null;
    impact: { contribution: string; share: number };
  }>;
}

async function anomaliesOf(orgId: number): Promise<Stored[]> {
  const { rows } = await db.pool.query<Stored>(
    `SELECT id::int, dimension, key, kind, start_day::text, end_day::text, impact::text, status, withdrawn_reason, root_causes
       FROM anomalies WHERE organization_id = $1 ORDER BY dimension DESC, key`,
    [orgId],
  );
  return rows;
}

before(async () => {
  db = await createTestDatabase();
  await db.pool.query(`SELECT ensure_monthly_partitions('cost_data', '2026-08-01', '2026-11-30')`);
});
after(async () => {
  await db.drop();
});

describe('anomaly detection on the rollups', () => {
  let orgId: number;

  test('a spike of one account in one region: found on the service and the account, with root causes', async () => {
    orgId = await seedOrg('anomaly-org-a');
    const result = await detectOrgAnomalies(db.pool, {
      orgId,
      from: FROM,
      to: addDays(SPIKE, 1),
      now: clock.now(),
    });
    assert.equal(result.inserted, 2);
    const rows = await anomaliesOf(orgId);
    assert.equal(rows.length, 2);
    const [service, account] = rows;
    assert.ok(service && account);
    assert.deepEqual(
      [
        service.dimension,
        service.key,
        service.kind,
        service.start_day,
        service.end_day,
        service.impact,
        service.status,
      ],
      ['service', 'Amazon EC2', 'spike', SPIKE, SPIKE, '150.00', 'provisional'],
    );
    assert.deepEqual(
      service.root_causes.map((c) => [
        c.dimension,
        c.linked_account ?? c.region,
        c.impact.contribution,
        c.impact.share,
      ]),
      [
        ['account', B, '150.00', 1],
        ['region', 'eu-west-1', '150.00', 1],
      ],
    );
    assert.deepEqual([account.dimension, account.key, account.impact], ['account', B, '150.00']);
    assert.deepEqual(
      account.root_causes.map((c) => [c.dimension, c.service, c.linked_account, c.impact.share]),
      [['service', 'Amazon EC2', B, 1]],
    );
  });

  test('detecting again changes nothing; two detections at once make one anomaly per series', async () => {
    const again = await detectOrgAnomalies(db.pool, {
      orgId,
      from: FROM,
      to: addDays(SPIKE, 1),
      now: clock.now(),
    });
    assert.equal(again.inserted + again.updated + again.withdrawn, 0);
    assert.equal((await anomaliesOf(orgId)).length, 2);
    const other = await seedOrg('anomaly-org-b');
    await Promise.all(
      [1, 2, 3].map(() =>
        detectOrgAnomalies(db.pool, { orgId: other, from: FROM, to: addDays(SPIKE, 1), now: clock.now() }),
      ),
    );
    assert.equal((await anomaliesOf(other)).length, 2);
  });

  test('alerts: decided once at open, again when the impact doubles, never twice', async () => {
    const finops = await channelOf(orgId, 'finops');
    const bigOnly = await channelOf(orgId, 'big only');
    const sub = await createAnomalySubscription(db.pool, {
      orgId,
      name: 'finops',
      minImpact: '100',
      channelIds: [finops],
      now: clock.now(),
    });
    await createAnomalySubscription(db.pool, {
      orgId,
      name: 'big only',
      minImpact: '1000',
      channelIds: [bigOnly],
      now: clock.now(),
    });
    const decisions = () =>
      db.pool.query<{
        subscription_id: number;
        level: number;
        type: string;
        idempotency_key: string;
        channel_ids: number[];
      }>(
        `SELECT subscription_id::int, level, type, idempotency_key, channel_ids::int[] FROM anomaly_notifications
          WHERE organization_id = $1 ORDER BY anomaly_id, level`,
        [orgId],
      );
    // The anomalies exist already and are unchanged: a rerun still decides their opening alert once.
    const first = await detectOrgAnomalies(db.pool, {
      orgId,
      from: SPIKE,
      to: addDays(SPIKE, 1),
      now: clock.now(),
    });
    assert.equal(first.alerts, 2);
    assert.equal(
      first.deliveryIds.length,
      2,
      'each decision is handed to the outbox, one delivery per channel',
    );
    const rerun = await detectOrgAnomalies(db.pool, {
      orgId,
      from: SPIKE,
      to: addDays(SPIKE, 1),
      now: clock.now(),
    });
    assert.equal(rerun.alerts, 0);
    assert.deepEqual(rerun.deliveryIds, []);
    let rows = (await decisions()).rows;
    assert.deepEqual(
      rows.map((r) => [r.subscription_id, r.level, r.type, r.channel_ids]),
      [
        [sub.id, 0, 'anomaly.opened', [finops]],
        [sub.id, 0, 'anomaly.opened', [finops]],
      ],
    );
    assert.match(rows[0]?.idempotency_key ?? '', /^anomaly-\d+-sub-\d+-level-0$/);
    assert.deepEqual(
      (await outboxOf(orgId)).map((o) => [o.channel_id, o.type, o.source_key]),
      rows
        .map((r) => r.idempotency_key)
        .sort()
        .map((k) => [finops, 'anomaly.opened', k]),
    );
    const { rows: marked } = await db.pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM anomaly_notifications WHERE organization_id = $1 AND enqueued_at IS NULL',
      [orgId],
    );
    assert.equal(marked[0]?.n, 0, 'every decision is marked enqueued');
    // AWS restates the day final and higher: $350 of excess, more than twice $150.
    clock.set('2026-10-24T06:00:00Z');
    await writeDay(orgId, SPIKE, normalDay(350), false);
    for (const day of eachDay(addDays(SPIKE, 1), addDays(SPIKE, 4)))
      await writeDay(orgId, day, normalDay(), false);
    await writeDay(orgId, addDays(SPIKE, -1), normalDay(), false);
    await rebuildCostRollups(db.pool, orgId, addDays(SPIKE, -1), addDays(SPIKE, 4));
    const grown = await detectOrgAnomalies(db.pool, {
      orgId,
      from: addDays(SPIKE, -1),
      to: addDays(SPIKE, 4),
      now: clock.now(),
    });
    assert.equal(grown.updated, 2);
    assert.equal(grown.alerts, 2);
    assert.equal(grown.deliveryIds.length, 2);
    rows = (await decisions()).rows;
    assert.deepEqual(
      rows.map((r) => [r.level, r.type]),
      [
        [0, 'anomaly.opened'],
        [1, 'anomaly.updated'],
        [0, 'anomaly.opened'],
        [1, 'anomaly.updated'],
      ],
    );
    const [service] = await anomaliesOf(orgId);
    assert.equal(service?.impact, '350.00');
    assert.equal(service?.status, 'closed', 'final, and the days after it are loaded and quiet');
  });

  test('a restatement below the gates withdraws the anomalies; the rows stay', async () => {
    clock.set('2026-10-25T06:00:00Z');
    await writeDay(orgId, SPIKE, normalDay(5), false);
    await rebuildCostRollups(db.pool, orgId, SPIKE, addDays(SPIKE, 1));
    const result = await detectOrgAnomalies(db.pool, {
      orgId,
      from: SPIKE,
      to: addDays(SPIKE, 1),
      now: clock.now(),
    });
    assert.equal(result.withdrawn, 2);
    const rows = await anomaliesOf(orgId);
    assert.equal(rows.length, 2);
    assert.deepEqual(
      rows.map((r) => [r.status, r.withdrawn_reason]),
      [
        ['withdrawn', 'restated'],
        ['withdrawn', 'restated'],
      ],
    );
  });

  test('root-cause shares are of the contributions in the anomaly’s direction (a credit elsewhere does not push them past 1)', async () => {
    const org = await createOrganization(db.pool, {
      name: 'anomaly-org-f',
      awsAccountId: A,
      selfIdentity: true,
    });
    for (const day of eachDay(FROM, addDays(SPIKE, 1))) {
      const lines = normalDay(day === SPIKE ? 150 : 0);
      // On the spike day account A's EC2 gets a $40 credit.
      if (day === SPIKE) lines[0] = { service: 'Amazon EC2', account: A, region: 'us-east-1', amount: 20 };
      await writeDay(org.id, day, lines, false);
    }
    await rebuildCostRollups(db.pool, org.id, FROM, addDays(SPIKE, 1));
    await detectOrgAnomalies(db.pool, { orgId: org.id, from: FROM, to: addDays(SPIKE, 1), now: clock.now() });
    const service = (await anomaliesOf(org.id)).find((a) => a.dimension === 'service');
    assert.equal(service?.impact, '110.00');
    assert.deepEqual(
      service?.root_causes.map((c) => [
        c.dimension,
        c.linked_account ?? c.region,
        c.impact.contribution,
        c.impact.share,
      ]),
      [
        ['account', B, '150.00', 1],
        ['region', 'eu-west-1', '150.00', 1],
      ],
    );
  });

  test('root causes use the registry’s loaded dimensions: usage type and tracked tags where loaded', async () => {
    // B's EC2 spike is all BoxUsage:m5.large usage of team "ml". Both orgs have those rows in
    // cost_data; only the one that tracks usage_type and tag:team has them as root causes.
    const addRows = async (orgId: number, day: string, extra: number) => {
      const rows: Array<[string, string, number]> = [
        ['usage_type', 'BoxUsage:m5.large', 70 + extra],
        ['usage_type', 'EBS:VolumeUsage.gp3', 30],
        ['tag:team', 'ml', 40 + extra],
        ['tag:team', 'web', 60],
      ];
      for (const [grouping, value, amount] of rows)
        await db.pool.query(
          `INSERT INTO cost_data (organization_id, cost_date, grouping, service, dim_value, unblended_cost, amortized_cost,
                                  net_unblended_cost, usage_quantity, estimated)
           VALUES ($1, $2, $3, 'Amazon EC2', $4, $5, $5, $5, 0, false)`,
          [orgId, day, grouping, value, amount.toFixed(2)],
        );
    };
    const causesOf = async (tracked: boolean) => {
      const org = await createOrganization(db.pool, {
        name: `anomaly-org-dims-${String(tracked)}`,
        awsAccountId: A,
        selfIdentity: true,
      });
      if (tracked) {
        await replaceTrackedDimensions(db.pool, org.id, 'usage_type', ['usage_type']);
        await replaceTrackedDimensions(db.pool, org.id, 'tag:%', ['tag:team']);
      }
      for (const day of eachDay(FROM, addDays(SPIKE, 1))) {
        const extra = day === SPIKE ? 150 : 0;
        await writeDay(org.id, day, normalDay(extra), false);
        await addRows(org.id, day, extra);
      }
      await rebuildCostRollups(db.pool, org.id, FROM, addDays(SPIKE, 1));
      await detectOrgAnomalies(db.pool, {
        orgId: org.id,
        from: FROM,
        to: addDays(SPIKE, 1),
        now: clock.now(),
      });
      const all = await anomaliesOf(org.id);
      return {
        service: all
          .find((a) => a.dimension === 'service')
          ?.root_causes.map((c) => {
            const v = c as typeof c & { usage_type: string | null; value?: string };
            return [
              c.dimension,
              c.linked_account ?? c.region ?? v.usage_type ?? v.value,
              c.impact.contribution,
              c.impact.share,
            ];
          }),
        account: all.find((a) => a.dimension === 'account')?.root_causes.map((c) => c.dimension),
      };
    };
    const tracked = await causesOf(true);
    assert.deepEqual(tracked.service, [
      ['account', B, '150.00', 1],
      ['region', 'eu-west-1', '150.00', 1],
      // The always-loaded built-ins, then the tracked dimensions (orgDimensions' order).
      ['tag:team', 'ml', '150.00', 1],
      ['usage_type', 'BoxUsage:m5.large', '150.00', 1],
    ]);
    assert.deepEqual(tracked.account, ['service'], 'an account splits only by what is stored with it');
    const untracked = await causesOf(false);
    assert.deepEqual(untracked.service, [
      ['account', B, '150.00', 1],
      ['region', 'eu-west-1', '150.00', 1],
    ]);
  });

  test('a span widened to a long anomaly still knows the other anomalies inside it (no duplicate)', async () => {
    // S3 runs $30 over for the 10 days before D (one long anomaly touching the rollup of D); B's
    // EC2 spikes on D - 8 (another series, inside the widened span only).
    const D = SPIKE;
    const org = await createOrganization(db.pool, {
      name: 'anomaly-org-g',
      awsAccountId: A,
      selfIdentity: true,
    });
    for (const day of eachDay(FROM, addDays(D, 1))) {
      const lines = normalDay(day === addDays(D, -8) ? 150 : 0);
      if (day >= addDays(D, -10) && day < D)
        lines[3] = { service: 'Amazon S3', account: A, region: 'us-east-1', amount: 50 };
      await writeDay(org.id, day, lines, false);
    }
    await rebuildCostRollups(db.pool, org.id, FROM, addDays(D, 1));
    await detectOrgAnomalies(db.pool, { orgId: org.id, from: FROM, to: addDays(D, 1), now: clock.now() });
    const before = await anomaliesOf(org.id);
    assert.ok(
      before.some(
        (a) => a.key === 'Amazon S3' && a.start_day === addDays(D, -10) && a.end_day === addDays(D, -1),
      ),
    );
    assert.ok(before.some((a) => a.key === 'Amazon EC2' && a.start_day === addDays(D, -8)));
    // The rollup of day D alone.
    const again = await detectOrgAnomalies(db.pool, {
      orgId: org.id,
      from: D,
      to: addDays(D, 1),
      now: clock.now(),
    });
    assert.equal(again.inserted, 0);
    assert.deepEqual(
      (await anomaliesOf(org.id)).map((a) => [a.id, a.status]),
      before.map((a) => [a.id, a.status]),
    );
  });

  test('concurrent detections (replicas, a retry racing its original) decide each alert once', async () => {
    const org = await seedOrg('anomaly-org-e');
    await createAnomalySubscription(db.pool, {
      orgId: org,
      name: 'all',
      minImpact: '0',
      channelIds: [await channelOf(org, 'all')],
      now: clock.now(),
    });
    const results = await Promise.all(
      [1, 2, 3, 4].map(() =>
        detectOrgAnomalies(db.pool, { orgId: org, from: FROM, to: addDays(SPIKE, 1), now: clock.now() }),
      ),
    );
    assert.equal(
      results.reduce((n, r) => n + r.alerts, 0),
      2,
    );
    const { rows } = await db.pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM anomaly_notifications WHERE organization_id = $1',
      [org],
    );
    assert.equal(rows[0]?.n, 2);
    assert.equal(
      results.reduce((n, r) => n + r.deliveryIds.length, 0),
      2,
    );
    assert.equal((await outboxOf(org)).length, 2, 'one delivery per decision, however many detections ran');
  });

  test('a `no` feedback: the series opens no new anomaly and alerts nothing for 7 days', async () => {
    const org = await seedOrg('anomaly-org-d');
    await createAnomalySubscription(db.pool, {
      orgId: org,
      name: 'all',
      minImpact: '0',
      channelIds: [await channelOf(org, 'all')],
      now: clock.now(),
    });
    await db.pool.query(
      `INSERT INTO anomaly_suppressions (organization_id, dimension, key, until, created_at)
       VALUES ($1, 'service', 'Amazon EC2', $2, $3)`,
      [org, new Date(clock.now().getTime() + 7 * 86_400_000), clock.now()],
    );
    const result = await detectOrgAnomalies(db.pool, {
      orgId: org,
      from: FROM,
      to: addDays(SPIKE, 1),
      now: clock.now(),
    });
    const rows = await anomaliesOf(org);
    assert.deepEqual(
      rows.map((r) => [r.dimension, r.key]),
      [['account', B]],
      'only the account series, which is not suppressed',
    );
    assert.equal(result.alerts, 1);
    // Eight days later the suppression has lapsed: the EC2 spike opens.
    const later = new Date(clock.now().getTime() + 8 * 86_400_000);
    const again = await detectOrgAnomalies(db.pool, {
      orgId: org,
      from: FROM,
      to: addDays(SPIKE, 1),
      now: later,
    });
    assert.equal(again.inserted, 1);
    assert.equal((await anomaliesOf(org)).length, 2);
  });

  test('per-org settings: a $200 absolute minimum leaves a $150 spike alone', async () => {
    const org = await seedOrg('anomaly-org-c');
    await upsertAnomalySettings(db.pool, {
      orgId: org,
      minImpactAbsolute: '200',
      minImpactRelative: null,
      zThreshold: null,
      detectDrops: null,
      now: clock.now(),
    });
    const result = await detectOrgAnomalies(db.pool, {
      orgId: org,
      from: FROM,
      to: addDays(SPIKE, 1),
      now: clock.now(),
    });
    assert.equal(result.inserted, 0);
  });
});
