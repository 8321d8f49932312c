import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { expectedDailyTotal } from '../sim/data.js';
import { addDays, eachDay, todayUtc } from '../lib/dates.js';
import { startTestPipeline, type TestPipeline } from './helpers/pipeline.js';
import { normDecimal } from './helpers/decimal.js';
import { TEST_NOW } from './helpers/clock.js';


let p: TestPipeline;
const accounts = ['210987654321', '345678901234', '456789012345'];
// The pipeline's pinned today (startTestPipeline's default clock).
const today = todayUtc(new Date(TEST_NOW));
// Final days only (the simulator's last two days are Estimated and restated).
const to = addDays(today, -3);
const from = addDays(to, -90);

before(async () => {
  p = await startTestPipeline();
});
after(async () => p.close());

test('a 90-day backfill of several orgs matches the simulator to the last digit, in cost_data and every rollup', async () => {
  const orgs = [];
  for (const account of accounts) orgs.push(await p.createOrg(account, { externalId: `ext-${account}` }));
  const result = await p.backfill(orgs.map((o) => o.id), from, to, 180_000);
  assert.equal(result.failed, 0);
  assert.equal(result.rolledUp, result.windows);

  for (const org of orgs) {
    const { rows } = await p.db.pool.query<{ day: string; grouping: string; total: string }>(
      `SELECT cost_date AS day, grouping, sum(unblended_cost)::text AS total FROM cost_data
       WHERE organization_id = $1 GROUP BY 1, 2 ORDER BY 1, 2`,
      [org.id],
    );
    const byKey = new Map(rows.map((r) => [`${r.day}|${r.grouping}`, r.total]));
    const rollups = await p.db.pool.query<{ day: string; svc: string; acct: string; reg: string }>(
      `SELECT s.day, s.total AS svc, a.total AS acct, r.total AS reg FROM
         (SELECT day, sum(unblended_cost)::text AS total FROM cost_daily_service WHERE organization_id = $1 GROUP BY day) s
         JOIN (SELECT day, sum(unblended_cost)::text AS total FROM cost_daily_account WHERE organization_id = $1 GROUP BY day) a USING (day)
         JOIN (SELECT day, sum(unblended_cost)::text AS total FROM cost_daily_region WHERE organization_id = $1 GROUP BY day) r USING (day)
       ORDER BY day`,
      [org.id],
    );
    const rollupByDay = new Map(rollups.rows.map((r) => [r.day, r]));
    const days = eachDay(from, to);
    assert.equal(rollups.rows.length, days.length);
    for (const day of days) {
      const expected = normDecimal(expectedDailyTotal(org.awsAccountId, day));
      assert.equal(normDecimal(byKey.get(`${day}|account_service`) ?? 'missing'), expected, `${org.awsAccountId} ${day} account_service`);
      assert.equal(normDecimal(byKey.get(`${day}|region_service`) ?? 'missing'), expected, `${org.awsAccountId} ${day} region_service`);
      const r = rollupByDay.get(day);
      assert.ok(r, `rollup for ${day}`);
      assert.equal(normDecimal(r.svc), expected);
      assert.equal(normDecimal(r.acct), expected);
      assert.equal(normDecimal(r.reg), expected);
    }
    const monthly = await p.db.pool.query<{ month: string; total: string; daily: string }>(
      `SELECT m.month, m.total, d.total AS daily FROM
         (SELECT month, sum(unblended_cost)::text AS total FROM cost_monthly_service WHERE organization_id = $1 GROUP BY month) m
         JOIN (SELECT date_trunc('month', day)::date AS month, sum(unblended_cost)::text AS total FROM cost_daily_service WHERE organization_id = $1 GROUP BY 1) d USING (month)`,
      [org.id],
    );
    assert.ok(monthly.rows.length >= 3);
    for (const m of monthly.rows) assert.equal(normDecimal(m.total), normDecimal(m.daily), `monthly ${m.month}`);
    const metrics = await p.db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM metric_daily WHERE organization_id = $1', [org.id]);
    assert.ok((metrics.rows[0]?.n ?? 0) > 0, 'utilisation rollups loaded');
  }

  // Every AWS request was counted per org and operation, and equals what the simulator saw.
  const counts = p.sim.control.requestCounts();
  for (const org of orgs) {
    const { rows } = await p.db.pool.query<{ op: string; n: string }>(
      `SELECT key AS op, sum(value::int)::text AS n FROM fetch_runs, jsonb_each_text(aws_requests_by_operation)
       WHERE organization_id = $1 GROUP BY key`,
      [org.id],
    );
    const ours = Object.fromEntries(rows.map((r) => [r.op, Number(r.n)]));
    const theirs = counts.byAccount[org.awsAccountId] ?? {};
    for (const [service, op] of [['ce', 'GetCostAndUsage'], ['cloudwatch', 'ListMetrics'], ['cloudwatch', 'GetMetricData'], ['sts', 'AssumeRole']]) {
      assert.equal(ours[op!], theirs[`${service}:${op}`], `${op} of ${org.awsAccountId}`);
    }
  }
});

test('running the same backfill again changes nothing', async () => {
  const orgs = await p.db.pool.query<{ id: number }>('SELECT id FROM organizations ORDER BY id');
  const snapshot = async () =>
    (
      await p.db.pool.query<{ digest: string; n: number }>(
        `SELECT md5(string_agg(concat_ws('|', organization_id, cost_date, grouping, service, linked_account, region, dim_value, unblended_cost, amortized_cost), ',' ORDER BY organization_id, cost_date, grouping, service, linked_account, region, dim_value)) AS digest, count(*)::int AS n FROM cost_data`,
      )
    ).rows[0];
  const before = await snapshot();
  const rollupsBefore = await p.db.pool.query('SELECT * FROM cost_daily_service ORDER BY organization_id, day, service');
  const result = await p.backfill(orgs.rows.map((o) => o.id), from, to, 180_000);
  assert.equal(result.failed, 0);
  assert.deepEqual(await snapshot(), before);
  const rollupsAfter = await p.db.pool.query('SELECT * FROM cost_daily_service ORDER BY organization_id, day, service');
  assert.deepEqual(rollupsAfter.rows, rollupsBefore.rows);
});
