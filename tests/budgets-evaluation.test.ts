/**
 * Budget evaluation against the real Postgres, with a pinned clock: actual and forecasted spend of
 * monthly, quarterly and scoped budgets from the rollups and the stored forecast, alerts fired
 * once per (budget, period, threshold, kind) — also under concurrent evaluations — and
 * restatements recorded on the alert instead of firing again.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { seedDailyCost, seedForecast } from './helpers/notifications.js';
import { eachDay } from '../lib/dates.js';
import { budgetStates, createBudget, evaluateBudgets } from '../database/repositories/budgets.repository.js';
import { createChannel } from '../database/repositories/notification-channels.repository.js';
import { createPool } from '../lib/db.js';

let db: TestDatabase;
let seq = 0;

before(async () => {
  db = await createTestDatabase({ poolSize: 10 });
});
after(async () => {
  await db.drop();
});

async function newOrg(): Promise<number> {
  seq += 1;
  const { rows } = await db.pool.query<{ id: number }>(
    `INSERT INTO organizations (name, aws_account_id) VALUES ($1, '123456789012') RETURNING id::int AS id`,
    [`eval-org-${seq}`],
  );
  const id = rows[0]?.id;
  assert.ok(id);
  return id;
}

async function webhook(orgId: number, name = 'hook'): Promise<number> {
  const c = await createChannel(db.pool, orgId, {
    type: 'webhook',
    name,
    url: 'http://127.0.0.1:9/hook',
    signingSecret: 'a-signing-secret-123',
    format: 'json',
  });
  return c.id;
}

const evaluate = (orgId: number, today: string, now = `${today}T12:00:00Z`) =>
  evaluateBudgets(db.pool, { orgId, today, now: new Date(now), deadlineSeconds: 3600 });

async function alertCount(orgId: number): Promise<number> {
  const { rows } = await db.pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM budget_alerts WHERE organization_id = $1`,
    [orgId],
  );
  return rows[0]?.n ?? -1;
}

test('monthly budget: actual from the rollups, forecast = the stored projection; each threshold fires once', async () => {
  const org = await newOrg();
  const channel = await webhook(org);
  await seedDailyCost(db.pool, org, eachDay('2026-03-01', '2026-03-11'), '10.25'); // 10 days: 102.50
  await seedForecast(db.pool, org, '2026-03-01', '317.75');
  await createBudget(db.pool, org, {
    name: 'm',
    period: 'monthly',
    amount: '300',
    currency: 'USD',
    metric: 'unblended',
    scope: {},
    thresholds: [
      { percent: 30, kind: 'actual' },
      { percent: 50, kind: 'actual' },
      { percent: 100, kind: 'forecasted' },
      { percent: 110, kind: 'forecasted' },
    ],
    channelIds: [channel],
  });
  const states = await budgetStates(db.pool, org, '2026-03-11');
  assert.equal(states.length, 4);
  for (const s of states) {
    assert.equal(Number(s.actual), 102.5);
    assert.equal(Number(s.forecast), 317.75);
    assert.equal(s.periodStart, '2026-03-01');
    assert.equal(s.periodEnd, '2026-04-01');
  }
  const first = await evaluate(org, '2026-03-11');
  assert.deepEqual(first.fired.map((f) => `${f.kind}:${f.percent}`).sort(), ['actual:30', 'forecasted:100']);
  assert.equal(first.deliveryIds.length, 2, 'one delivery per alert and channel');
  const again = await evaluate(org, '2026-03-11');
  assert.deepEqual(again.fired, [], 'a second evaluation fires nothing');
  assert.equal(again.deliveryIds.length, 0);
  const { rows } = await db.pool.query<{ data: Record<string, unknown>; type: string; created_at: Date }>(
    `SELECT data, type, created_at FROM notification_outbox WHERE organization_id = $1 AND data->'threshold'->>'kind' = 'actual'`,
    [org],
  );
  const data = rows[0]?.data as Record<string, Record<string, unknown>>;
  assert.equal(rows[0]?.type, 'budget.threshold_crossed');
  assert.equal(
    rows[0]?.created_at.toISOString(),
    '2026-03-11T12:00:00.000Z',
    'created_at from the injected clock',
  );
  assert.deepEqual(data.threshold, { percent: 30, kind: 'actual' });
  assert.deepEqual(data.period, { start: '2026-03-01', end: '2026-03-31' });
  assert.deepEqual(data.threshold_amount, { amount: '90', unit: 'USD' });
  assert.equal(Number((data.spend as { amount: string }).amount), 102.5);
  assert.equal((data.budget as { name: string }).name, 'm');
  // Next day, more spend: the 50% threshold fires, the others stay fired once.
  await seedDailyCost(db.pool, org, eachDay('2026-03-11', '2026-03-16'), '10.25');
  const later = await evaluate(org, '2026-03-16');
  assert.deepEqual(
    later.fired.map((f) => `${f.kind}:${f.percent}`),
    ['actual:50'],
  );
  assert.equal(await alertCount(org), 3);
});

test('quarterly budget: months of the period after the current one are projected at the current month forecast', async () => {
  const org = await newOrg();
  await seedDailyCost(db.pool, org, eachDay('2026-01-01', '2026-02-10'), '10'); // Jan 310 + Feb 1..9 90
  await seedForecast(db.pool, org, '2026-02-01', '280');
  await createBudget(db.pool, org, {
    name: 'q',
    period: 'quarterly',
    amount: '1000',
    currency: 'USD',
    metric: 'unblended',
    scope: {},
    thresholds: [
      { percent: 87, kind: 'forecasted' },
      { percent: 88, kind: 'forecasted' },
    ],
    channelIds: [],
  });
  const [s] = await budgetStates(db.pool, org, '2026-02-10');
  assert.equal(s?.periodStart, '2026-01-01');
  assert.equal(s?.periodEnd, '2026-04-01');
  assert.equal(Number(s?.actual), 400);
  // 400 actual + (280 - 90) rest of February + 1 month (March) x 280
  assert.equal(Number(s?.forecast), 870);
  const result = await evaluate(org, '2026-02-10');
  assert.deepEqual(
    result.fired.map((f) => f.percent),
    [87],
  );
});

test('annual budget counts the whole year to date and projects the remaining months', async () => {
  const org = await newOrg();
  await seedDailyCost(db.pool, org, eachDay('2026-01-01', '2026-11-01'), '1'); // 304 days
  await seedForecast(db.pool, org, '2026-10-01', '31');
  await createBudget(db.pool, org, {
    name: 'y',
    period: 'annual',
    amount: '400',
    currency: 'USD',
    metric: 'amortized',
    scope: {},
    thresholds: [{ percent: 100, kind: 'forecasted' }],
    channelIds: [],
  });
  const [s] = await budgetStates(db.pool, org, '2026-10-20');
  assert.equal(s?.periodStart, '2026-01-01');
  assert.equal(s?.periodEnd, '2027-01-01');
  assert.equal(Number(s?.actual), 304);
  // 304 + (31 - 31) + 2 months (Nov, Dec) x 31
  assert.equal(Number(s?.forecast), 366);
});

test('scoped budget: actual of the scope only; forecast projects the scope share of the last 30 days', async () => {
  const org = await newOrg();
  const days = eachDay('2026-03-01', '2026-03-11');
  await seedDailyCost(db.pool, org, days, '10', {
    service: 'EC2',
    account: '111111111111',
    region: 'us-east-1',
  });
  await seedDailyCost(db.pool, org, days, '30', {
    service: 'S3',
    account: '222222222222',
    region: 'eu-west-1',
  });
  await seedForecast(db.pool, org, '2026-03-01', '1240'); // 40/day x 31
  const scopes: Array<[string, Record<string, string[]>]> = [
    ['ec2', { service: ['EC2'] }],
    ['acct', { account: ['111111111111'] }],
    ['region', { region: ['us-east-1'] }],
    ['both', { service: ['EC2', 'S3'] }],
  ];
  for (const [name, scope] of scopes) {
    await createBudget(db.pool, org, {
      name,
      period: 'monthly',
      amount: '1000',
      currency: 'USD',
      metric: 'unblended',
      scope: { ...scope },
      thresholds: [{ percent: 10, kind: 'actual' }],
      channelIds: [],
    });
  }
  const states = await budgetStates(db.pool, org, '2026-03-11');
  const byBudget = new Map(states.map((s) => [s.budgetId, s]));
  const values = [...byBudget.values()].map((s) => [Number(s.actual), Number(s.forecast)]);
  // ec2, acct, region: 10/day -> 100 actual, 25% share of the rest (840) -> 310; both services: 400 / 1240
  assert.deepEqual(values, [
    [100, 310],
    [100, 310],
    [100, 310],
    [400, 1240],
  ]);
  assert.equal((await evaluate(org, '2026-03-11')).fired.length, 4);
});

test('tag and cost category scopes read their rollups (whole months from the monthly one, days from the daily one)', async () => {
  const org = await newOrg();
  const days = eachDay('2026-01-01', '2026-03-11'); // 69 days
  await seedDailyCost(db.pool, org, days, '10', {
    service: 'EC2',
    extra: { 'tag:team': 'payments', 'cost_category:Product': 'Checkout' },
  });
  await seedDailyCost(db.pool, org, days, '30', {
    service: 'S3',
    account: '222222222222',
    extra: { 'tag:team': '(untagged)', 'cost_category:Product': '(uncategorized)' },
  });
  await seedForecast(db.pool, org, '2026-03-01', '1240'); // 40/day x 31
  const budgets: Array<[string, 'monthly' | 'annual', Record<string, string[]>]> = [
    ['payments', 'monthly', { 'tag:team': ['payments'] }],
    ['checkout', 'annual', { 'cost_category:Product': ['Checkout'] }],
    ['untagged', 'monthly', { 'tag:team': ['(untagged)'] }],
  ];
  for (const [name, period, scope] of budgets) {
    await createBudget(db.pool, org, {
      name,
      period,
      amount: '1000',
      currency: 'USD',
      metric: 'unblended',
      scope,
      thresholds: [{ percent: 10, kind: 'actual' }],
      channelIds: [],
    });
  }
  const states = await budgetStates(db.pool, org, '2026-03-11');
  const values = states.map((s) => [Number(s.actual), Number(s.forecast)]);
  // payments: 100 in March, 25% of the rest of the month (840) -> 310;
  // checkout (annual): 690 so far + 25% x (840 + 9 months x 1240) -> 3690; untagged: 300 + 75% x 840 -> 930
  assert.deepEqual(values, [
    [100, 310],
    [690, 3690],
    [300, 930],
  ]);
  assert.equal((await evaluate(org, '2026-03-11')).fired.length, 3);
});

test('no stored forecast: forecasted thresholds stay unevaluated, actual ones still fire', async () => {
  const org = await newOrg();
  await seedDailyCost(db.pool, org, eachDay('2026-05-01', '2026-05-03'), '50');
  await createBudget(db.pool, org, {
    name: 'nf',
    period: 'monthly',
    amount: '100',
    currency: 'USD',
    metric: 'unblended',
    scope: {},
    thresholds: [
      { percent: 50, kind: 'forecasted' },
      { percent: 50, kind: 'actual' },
    ],
    channelIds: [],
  });
  const states = await budgetStates(db.pool, org, '2026-05-03');
  assert.ok(states.every((s) => s.forecast === null));
  assert.deepEqual(
    (await evaluate(org, '2026-05-03')).fired.map((f) => f.kind),
    ['actual'],
  );
});

test('a restatement down and up again records it on the alert and never fires a second alert', async () => {
  const org = await newOrg();
  const channel = await webhook(org);
  const days = eachDay('2026-06-01', '2026-06-11');
  await seedDailyCost(db.pool, org, days, '12');
  await createBudget(db.pool, org, {
    name: 'r',
    period: 'monthly',
    amount: '100',
    currency: 'USD',
    metric: 'unblended',
    scope: {},
    thresholds: [{ percent: 100, kind: 'actual' }],
    channelIds: [channel],
  });
  assert.equal((await evaluate(org, '2026-06-11', '2026-06-11T01:00:00Z')).fired.length, 1);
  await seedDailyCost(db.pool, org, days, '9'); // 90: under the threshold
  const down = await evaluate(org, '2026-06-11', '2026-06-11T02:00:00Z');
  assert.equal(down.fired.length, 0);
  assert.equal(down.updated, 1);
  let alert = (await db.pool.query(`SELECT * FROM budget_alerts WHERE organization_id = $1`, [org]))
    .rows[0] as Record<string, unknown>;
  assert.equal(Number(alert.current_spend), 90);
  assert.equal((alert.below_since as Date).toISOString(), '2026-06-11T02:00:00.000Z');
  assert.equal(alert.restatements, 1);
  const [state] = await budgetStates(db.pool, org, '2026-06-11');
  assert.equal(state?.crossed, false);
  assert.ok(state?.belowSince);
  await seedDailyCost(db.pool, org, days, '15'); // 150: over again
  const up = await evaluate(org, '2026-06-11', '2026-06-11T03:00:00Z');
  assert.equal(up.fired.length, 0, 'no second alert');
  assert.equal(up.deliveryIds.length, 0, 'no second delivery');
  alert = (await db.pool.query(`SELECT * FROM budget_alerts WHERE organization_id = $1`, [org]))
    .rows[0] as Record<string, unknown>;
  assert.equal(alert.below_since, null);
  assert.equal((alert.first_below_at as Date).toISOString(), '2026-06-11T02:00:00.000Z');
  assert.equal(Number(alert.spend_at_fire), 120, 'the firing figures are kept');
  await seedDailyCost(db.pool, org, days, '1');
  await evaluate(org, '2026-06-11', '2026-06-11T04:00:00Z');
  alert = (await db.pool.query(`SELECT * FROM budget_alerts WHERE organization_id = $1`, [org]))
    .rows[0] as Record<string, unknown>;
  assert.equal(alert.restatements, 2);
  assert.equal(await alertCount(org), 1);
  const { rows } = await db.pool.query(`SELECT id FROM notification_outbox WHERE organization_id = $1`, [
    org,
  ]);
  assert.equal(rows.length, 1);
});

test('a new period fires again; the previous period keeps its alert', async () => {
  const org = await newOrg();
  await seedDailyCost(
    db.pool,
    org,
    [...eachDay('2026-07-25', '2026-08-01'), ...eachDay('2026-08-01', '2026-08-04')],
    '50',
  );
  await createBudget(db.pool, org, {
    name: 'p',
    period: 'monthly',
    amount: '100',
    currency: 'USD',
    metric: 'net_unblended',
    scope: {},
    thresholds: [{ percent: 100, kind: 'actual' }],
    channelIds: [],
  });
  assert.equal((await evaluate(org, '2026-07-31')).fired.length, 1);
  assert.equal((await evaluate(org, '2026-08-03')).fired.length, 1);
  const { rows } = await db.pool.query<{ p: string }>(
    `SELECT to_char(period_start, 'YYYY-MM-DD') AS p FROM budget_alerts WHERE organization_id = $1 ORDER BY period_start`,
    [org],
  );
  assert.deepEqual(
    rows.map((r) => r.p),
    ['2026-07-01', '2026-08-01'],
  );
});

test('concurrent evaluations of one org (separate connections) produce one alert per threshold and one delivery each', async () => {
  const org = await newOrg();
  const channels = [await webhook(org, 'a'), await webhook(org, 'b')];
  await seedDailyCost(db.pool, org, eachDay('2026-09-01', '2026-09-20'), '10');
  await seedForecast(db.pool, org, '2026-09-01', '300');
  for (let i = 0; i < 10; i++) {
    await createBudget(db.pool, org, {
      name: `c${i}`,
      period: 'monthly',
      amount: '100',
      currency: 'USD',
      metric: 'unblended',
      scope: {},
      thresholds: [
        { percent: 50, kind: 'actual' },
        { percent: 100, kind: 'actual' },
        { percent: 200, kind: 'forecasted' },
      ],
      channelIds: channels,
    });
  }
  const pools = Array.from({ length: 6 }, () =>
    createPool({ connectionString: db.url, max: 1, applicationName: 'eval-race' }),
  );
  try {
    const results = await Promise.all(
      pools.map((pool) =>
        evaluateBudgets(pool, {
          orgId: org,
          today: '2026-09-20',
          now: new Date('2026-09-20T00:00:00Z'),
          deadlineSeconds: 60,
        }),
      ),
    );
    assert.equal(
      results.reduce((n, r) => n + r.fired.length, 0),
      30,
      'each of the 30 thresholds fired by exactly one evaluation',
    );
    assert.equal(
      results.reduce((n, r) => n + r.deliveryIds.length, 0),
      60,
    );
  } finally {
    await Promise.all(pools.map((p) => p.end()));
  }
  assert.equal(await alertCount(org), 30);
  const { rows } = await db.pool.query<{ n: number; keys: number }>(
    `SELECT count(*)::int AS n, count(DISTINCT (channel_id, alert_id))::int AS keys FROM notification_outbox WHERE organization_id = $1`,
    [org],
  );
  assert.deepEqual(rows[0], { n: 60, keys: 60 });
});

test('a steady-state evaluation writes nothing: no alert row rewritten, no alert id drawn', async () => {
  const org = await newOrg();
  const channel = await webhook(org);
  await seedDailyCost(db.pool, org, eachDay('2026-10-01', '2026-10-11'), '10');
  await seedForecast(db.pool, org, '2026-10-01', '310');
  await createBudget(db.pool, org, {
    name: 's',
    period: 'quarterly',
    amount: '200',
    currency: 'USD',
    metric: 'unblended',
    scope: {},
    thresholds: [
      { percent: 25, kind: 'actual' },
      { percent: 50, kind: 'actual' },
      { percent: 90, kind: 'actual' },
      { percent: 100, kind: 'forecasted' },
    ],
    channelIds: [channel],
  });
  assert.equal((await evaluate(org, '2026-10-11')).fired.length, 3);
  const snapshot = async () =>
    (
      await db.pool.query<{ v: string }>(
        `SELECT (SELECT last_value FROM pg_sequences WHERE sequencename = 'budget_alerts_id_seq')::text || ' ' ||
                string_agg(xmin::text || ':' || last_evaluated_at::text, ',' ORDER BY id) AS v
           FROM budget_alerts WHERE organization_id = $1`,
        [org],
      )
    ).rows[0]?.v;
  const before = await snapshot();
  for (let i = 0; i < 3; i++) {
    const again = await evaluate(org, '2026-10-11', `2026-10-11T1${i}:00:00Z`);
    assert.deepEqual([again.fired, again.deliveryIds, again.updated], [[], [], 0]);
  }
  assert.equal(await snapshot(), before, 'same rows (xmin), same alert id sequence');
  // A change of spend is still recorded, and only on the alerts whose spend changed: actual 100 ->
  // 110 (two alerts); the forecast stays 110 + (310 - 110) + 2 x 310 = 930 (not rewritten).
  await seedDailyCost(db.pool, org, eachDay('2026-10-11', '2026-10-12'), '10');
  const changed = await evaluate(org, '2026-10-12');
  assert.equal(changed.updated, 2);
  assert.deepEqual(changed.fired, []);
});
