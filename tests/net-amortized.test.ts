/**
 * NetAmortizedCost end to end, through the real SDK against the simulator (an organization with an
 * EDP discount and a Savings Plan, so unblended, amortized, net unblended and net amortized all
 * differ): a backfill fetches it in the same GetCostAndUsage requests as the other metrics, loads
 * it, rolls it up (every grouping's per-day total equals the ungrouped total and the simulator's
 * truth on final days, to the last digit), serves it (`net_amortized_cost`, `metric=net_amortized`
 * in the summary and top) and exports it as FOCUS EffectiveCost. Days loaded before migration 0012
 * (net amortized NULL) are served as null, never as a partial sum, and exported with an empty
 * EffectiveCost.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { expectedDailyTotal, formatFixed, parseFixed } from '../sim/data.js';
import { eachDay } from '../lib/dates.js';
import { rebuildCostRollups } from '../database/repositories/rollups.repository.js';
import { startTestPipeline, type TestPipeline } from './helpers/pipeline.js';
import { allItems, get, login, seedUser, startTestApi, type TestApi } from './helpers/api.js';
import { parseCsv } from './helpers/csv.js';
import { normDecimal } from './helpers/decimal.js';

const TODAY = '2026-03-15';
const NOW = new Date(`${TODAY}T12:00:00Z`);
// Final days only (the simulator flags today and the two days before as Estimated).
const FROM = '2026-02-23';
const TO = '2026-03-12';
const FINAL_DAYS = eachDay(FROM, TO);
const MARCH_DAYS = FINAL_DAYS.filter((d) => d >= '2026-03-01');
// EDP 3% and a Savings Plan: the four cost metrics differ.
const ACCOUNT = '334455667788';

type Money = { amount: string; unit: string };
interface Item {
  date: string;
  group: string | null;
  unblended_cost: Money;
  amortized_cost: Money;
  net_amortized_cost: Money | null;
}

let p: TestPipeline;
let api: TestApi;
let token: string;
let orgId: number;

function daily(query: string, from = FROM, to = TO): Promise<Item[]> {
  return allItems<Item>(api, `/api/v1/costs/daily?from=${from}&to=${to}&${query}`, token);
}

/** Per day, the exact sum of the items' net amortized cost. */
function netAmortizedPerDay(items: Item[]): Map<string, string> {
  const sums = new Map<string, bigint>();
  for (const i of items) {
    assert.ok(i.net_amortized_cost, `${i.date} ${i.group}: net amortized cost served`);
    sums.set(i.date, (sums.get(i.date) ?? 0n) + parseFixed(normDecimal(i.net_amortized_cost.amount)));
  }
  return new Map([...sums].map(([d, v]) => [d, formatFixed(v)]));
}

const truth = (day: string, metric = 'NetAmortizedCost') => expectedDailyTotal(ACCOUNT, day, metric);

async function exportCsv(query: string): Promise<Record<string, string>[]> {
  const res = await fetch(`${api.baseUrl}/api/v1/costs/export?${query}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  assert.equal(res.status, 200);
  return parseCsv(await res.text());
}

function sumBy(rows: Record<string, string>[], column: string): Map<string, string> {
  const sums = new Map<string, bigint>();
  for (const r of rows) {
    const day = (r.date ?? r.ChargePeriodStart ?? '').slice(0, 10);
    sums.set(day, (sums.get(day) ?? 0n) + parseFixed(normDecimal(r[column] ?? 'x')));
  }
  return new Map([...sums].map(([d, v]) => [d, formatFixed(v)]));
}

describe('net amortized cost through the pipeline', () => {
  before(async () => {
    p = await startTestPipeline({ sim: { today: TODAY } });
    const org = await p.createOrg(ACCOUNT);
    orgId = org.id;
    api = await startTestApi({
      db: p.db,
      env: { QUEUE_PREFIX: p.config.QUEUE_PREFIX },
      options: { now: () => NOW },
    });
    await seedUser(p.db, org.id, 'viewer@netam.example', 'viewer');
    token = await login(api, 'viewer@netam.example');
    p.sim.control.resetCounts();
    const loaded = await p.backfill([org.id], FROM, TO, 240_000);
    assert.equal(loaded.failed, 0);
  });
  after(async () => {
    await api?.close();
    await p?.close();
  });

  test('fetched in the same requests: one GetCostAndUsage per page of groups, nothing more', async () => {
    // AWS pages 500 groups; the simulator here too. Every request is a page of one grouping's query.
    const { rows } = await p.db.pool.query<{ ce: number; pages: number }>(
      `WITH runs AS (
         SELECT window_start, window_end, (aws_requests_by_operation->>'GetCostAndUsage')::int AS ce
           FROM fetch_runs WHERE organization_id = $1 AND source = 'costs' AND status = 'succeeded'
       ), pages AS (
         SELECT r.window_start, ceil(count(*) / 500.0)::int AS pages
           FROM runs r JOIN cost_data c ON c.organization_id = $1
            AND c.cost_date >= r.window_start AND c.cost_date < r.window_end
          GROUP BY r.window_start, c.grouping
       )
       SELECT (SELECT sum(ce) FROM runs)::int AS ce, (SELECT sum(pages) FROM pages)::int AS pages`,
      [orgId],
    );
    const run = rows[0];
    assert.ok(run && run.pages >= 9, 'three groupings, three windows');
    assert.equal(run.ce, run.pages, 'one request per page of groups: the fifth metric costs none');
    const sim = p.sim.control.requestCounts().byAccount[ACCOUNT] ?? {};
    assert.equal(sim['ce:GetCostAndUsage'], run.ce, 'the simulator counted the same requests');
  });

  test('loaded as AWS sent it, and distinct from the other metrics', async () => {
    const { rows } = await p.db.pool.query<{
      day: string;
      grouping: string;
      n: string | null;
      missing: number;
    }>(
      `SELECT cost_date::text AS day, grouping, sum(net_amortized_cost)::text AS n,
              count(*) FILTER (WHERE net_amortized_cost IS NULL)::int AS missing
         FROM cost_data WHERE organization_id = $1 GROUP BY 1, 2 ORDER BY 1, 2`,
      [orgId],
    );
    assert.equal(rows.length, FINAL_DAYS.length * 3);
    for (const r of rows) {
      assert.equal(r.missing, 0);
      assert.equal(normDecimal(r.n ?? 'x'), truth(r.day), `${r.grouping} ${r.day}`);
    }
    const day = '2026-03-02';
    const metrics = ['UnblendedCost', 'AmortizedCost', 'NetUnblendedCost', 'NetAmortizedCost'];
    assert.equal(
      new Set(metrics.map((m) => truth(day, m))).size,
      4,
      'the test org has four different metrics',
    );
  });

  test('rolled up and served: every grouping sums to the ungrouped total and the simulator on final days', async () => {
    const total = netAmortizedPerDay(await daily('group_by=none'));
    for (const day of FINAL_DAYS) assert.equal(total.get(day), truth(day), `total ${day}`);
    for (const groupBy of ['service', 'account', 'region', 'record_type']) {
      const sums = netAmortizedPerDay(await daily(`group_by=${groupBy}`));
      for (const day of FINAL_DAYS) assert.equal(sums.get(day), total.get(day), `${groupBy} ${day}`);
    }
    // Across service and another dimension (the SERVICE x dimension rollup).
    const ec2 = await daily('group_by=account&service=Amazon%20Elastic%20Compute%20Cloud%20-%20Compute');
    assert.ok(ec2.length > 0 && ec2.every((i) => i.net_amortized_cost !== null));
    const monthly = await get(
      api,
      `/api/v1/costs/monthly?from=2026-02-01&to=2026-02-28&group_by=none`,
      token,
    );
    assert.equal(monthly.status, 200, monthly.text);
    const feb = (monthly.json as { items: Array<{ net_amortized_cost: Money | null }> }).items[0];
    const febDays = FINAL_DAYS.filter((d) => d < '2026-03-01');
    assert.equal(
      normDecimal(feb?.net_amortized_cost?.amount ?? 'x'),
      formatFixed(febDays.reduce((acc, d) => acc + parseFixed(truth(d)), 0n)),
    );
  });

  test('metric=net_amortized in the summary and top; a bad metric is a 400 naming it', async () => {
    const res = await get(api, '/api/v1/costs/summary?metric=net_amortized', token);
    assert.equal(res.status, 200, res.text);
    const s = res.json as {
      metric: string;
      month_to_date: { total: Money | null };
      record_types: { net: Money | null };
      top_services: Array<{ total: Money | null }>;
    };
    assert.equal(s.metric, 'net_amortized');
    const march = formatFixed(MARCH_DAYS.reduce((acc, d) => acc + parseFixed(truth(d)), 0n));
    assert.equal(normDecimal(s.month_to_date.total?.amount ?? 'x'), march);
    assert.equal(normDecimal(s.record_types.net?.amount ?? 'x'), march);
    const top = await get(
      api,
      `/api/v1/costs/top?from=${FROM}&to=${TO}&metric=net_amortized&limit=100`,
      token,
    );
    assert.equal(top.status, 200, top.text);
    const ranked = (top.json as { items: Array<{ key: string; total: Money | null }> }).items;
    const amounts = ranked.map((r) => parseFixed(normDecimal(r.total?.amount ?? 'x')));
    assert.deepEqual(
      amounts,
      [...amounts].sort((a, b) => (a > b ? -1 : a < b ? 1 : 0)),
      'ranked by it',
    );
    assert.equal(
      formatFixed(amounts.reduce((a, b) => a + b, 0n)),
      formatFixed(FINAL_DAYS.reduce((acc, d) => acc + parseFixed(truth(d)), 0n)),
    );
    const bad = await get(api, '/api/v1/costs/summary?metric=net', token);
    assert.equal(bad.status, 400);
    assert.equal((bad.json as { error: { field: string } }).error.field, 'metric');
  });

  test('exported: CSV net_amortized_cost, FOCUS EffectiveCost = net amortized, BilledCost = unblended', async () => {
    const csv = await exportCsv(`format=csv&from=${FROM}&to=${TO}&group_by=region`);
    const focus = await exportCsv(`format=focus&from=${FROM}&to=${TO}&group_by=account`);
    const csvNet = sumBy(csv, 'net_amortized_cost');
    const effective = sumBy(focus, 'EffectiveCost');
    const billed = sumBy(focus, 'BilledCost');
    for (const day of FINAL_DAYS) {
      assert.equal(csvNet.get(day), truth(day), `csv ${day}`);
      assert.equal(effective.get(day), truth(day), `EffectiveCost ${day}`);
      assert.equal(billed.get(day), truth(day, 'UnblendedCost'), `BilledCost ${day}`);
    }
  });

  test('a day loaded before migration 0012 (no NetAmortizedCost) is served null and exported empty, not summed in part', async () => {
    const day = '2026-03-03';
    // What 0012 leaves on every earlier row: the column NULL (here on one grouping's rows of the day).
    await p.db.pool.query(
      `UPDATE cost_data SET net_amortized_cost = NULL
        WHERE organization_id = $1 AND cost_date = $2::date AND grouping = 'account_service'`,
      [orgId, day],
    );
    await rebuildCostRollups(p.db.pool, orgId, day, '2026-03-04');
    // Queries not asked before (the API caches answers until the next rollup job of the org).
    const before = await daily('group_by=service', day, day);
    assert.ok(before.length > 0 && before.every((i) => i.net_amortized_cost === null));
    assert.ok(
      before.every((i) => i.unblended_cost.amount !== ''),
      'the other metrics are served',
    );
    // region_service rows of that day still have it: their own rollup keeps it.
    const regions = await daily('group_by=region', day, day);
    assert.equal(netAmortizedPerDay(regions).get(day), truth(day));
    const summary = await get(api, '/api/v1/costs/summary?metric=net_amortized&top=6', token);
    assert.equal(summary.status, 200, summary.text);
    const s = summary.json as {
      month_to_date: { total: Money | null };
      top_services: Array<{ total: Money | null }>;
    };
    assert.equal(s.month_to_date.total, null, 'a month with a day without it has no total');
    const unblended = await get(api, '/api/v1/costs/summary?metric=unblended&top=6', token);
    assert.ok((unblended.json as { month_to_date: { total: Money | null } }).month_to_date.total);
    const focus = await exportCsv(`format=focus&from=${day}&to=${day}&group_by=account`);
    assert.ok(focus.length > 0 && focus.every((r) => r.EffectiveCost === '' && r.BilledCost !== ''));
    const monthly = await get(api, `/api/v1/costs/monthly?from=${day}&to=${day}&group_by=none`, token);
    const march = (monthly.json as { items: Array<{ net_amortized_cost: Money | null }> }).items[0];
    assert.equal(march?.net_amortized_cost, null, 'the month is incomplete');
  });
});
