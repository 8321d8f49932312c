/**
 * The API over a database the real pipeline loaded (simulator -> workers -> COPY -> rollups):
 * every cost figure equals the simulator's truth, pages are complete, and a refresh through the
 * API invalidates the cache once its rollup lands.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { expectedDailyTotal, sumDecimalStrings } from '../sim/data.js';
import { addDays, eachDay, todayUtc } from '../lib/dates.js';
import { startTestPipeline, type TestPipeline } from './helpers/pipeline.js';
import { get, login, seedUser, startTestApi, type TestApi } from './helpers/api.js';
import { normDecimal } from './helpers/decimal.js';
import { TEST_NOW } from './helpers/clock.js';


interface Item {
  date?: string;
  month?: string;
  group: string | null;
  unblended_cost: { amount: string; unit: string };
}

let p: TestPipeline;
let api: TestApi;
let token: string;
let orgId: number;
const account = '223344556677';
// One pinned clock: the pipeline's (startTestPipeline's default) and the API's.
const now = () => new Date(TEST_NOW);
const to = addDays(todayUtc(now()), -3);
const from = addDays(to, -45);
const lastDay = addDays(to, -1);

before(async () => {
  p = await startTestPipeline();
  const org = await p.createOrg(account);
  orgId = org.id;
  const loaded = await p.backfill([org.id], from, to);
  assert.equal(loaded.failed, 0);
  api = await startTestApi({ db: p.db, env: { QUEUE_PREFIX: p.config.QUEUE_PREFIX }, options: { now } });
  await seedUser(p.db, org.id, 'admin@e2e.example', 'admin');
  token = await login(api, 'admin@e2e.example');
});
after(async () => {
  await api.close();
  await p.close();
});

async function allItems(path: string): Promise<Item[]> {
  const items: Item[] = [];
  for (let offset = 0; ; ) {
    const res = await get(api, `${path}&limit=100&offset=${offset}`, token);
    assert.equal(res.status, 200, res.text);
    const body = res.json as { items: Item[]; next_offset?: number | null };
    items.push(...body.items);
    if (body.next_offset === null || body.next_offset === undefined) break;
    assert.ok(body.next_offset > offset, 'pages advance');
    offset = body.next_offset;
  }
  return items;
}

test('daily costs by service, account, region and in total equal the simulator, every page walked', async () => {
  for (const groupBy of ['none', 'service', 'account', 'region']) {
    const items = await allItems(`/api/v1/costs/daily?from=${from}&to=${lastDay}&group_by=${groupBy}`);
    const keys = items.map((i) => `${i.date}|${i.group}`);
    assert.equal(new Set(keys).size, keys.length, `${groupBy}: no item twice across pages`);
    const byDay = new Map<string, string[]>();
    for (const item of items) byDay.set(item.date ?? '', [...(byDay.get(item.date ?? '') ?? []), item.unblended_cost.amount]);
    assert.deepEqual([...byDay.keys()].sort(), eachDay(from, to), `${groupBy}: every day present`);
    for (const day of eachDay(from, to)) {
      assert.equal(normDecimal(sumDecimalStrings(byDay.get(day) ?? [])), normDecimal(expectedDailyTotal(account, day)), `${groupBy} ${day}`);
    }
  }
});

test('monthly totals and top services agree with the rollups and the simulator', async () => {
  const months = await allItems(`/api/v1/costs/monthly?from=${from}&to=${lastDay}&group_by=none`);
  for (const month of months) {
    const days = eachDay(from, to).filter((d) => d.startsWith(month.month?.slice(0, 7) ?? 'x'));
    const truth = sumDecimalStrings(days.map((d) => expectedDailyTotal(account, d)));
    assert.equal(normDecimal(month.unblended_cost.amount), normDecimal(truth), `month ${month.month}`);
  }
  const top = await get(api, `/api/v1/costs/top?from=${from}&to=${lastDay}&dimension=service&limit=5`, token);
  assert.equal(top.status, 200, top.text);
  const { rows } = await p.db.pool.query<{ service: string; total: string }>(
    `SELECT service, sum(unblended_cost)::text AS total FROM cost_daily_service
     WHERE organization_id = $1 AND day >= $2 AND day < $3 GROUP BY service ORDER BY sum(unblended_cost) DESC, service LIMIT 5`,
    [orgId, from, to],
  );
  const served = (top.json as { items: Array<{ key: string; total: { amount: string } }> }).items;
  assert.deepEqual(
    served.map((i) => [i.key, normDecimal(i.total.amount)]),
    rows.map((r) => [r.service, normDecimal(r.total)]),
  );
});

test('utilisation equals metric_daily', async () => {
  const res = await get(api, `/api/v1/utilization?from=${from}&to=${lastDay}&limit=1000`, token);
  assert.equal(res.status, 200, res.text);
  const items = (res.json as { items: Array<{ resource_id: string; average: number | null; maximum: number | null }> }).items;
  assert.ok(items.length > 0, 'the simulator fleet has instances');
  const { rows } = await p.db.pool.query<{ resource_id: string; avg: number; max: number }>(
    `SELECT resource_id, sum(avg_value * samples) / nullif(sum(samples), 0) AS avg, max(max_value) AS max FROM metric_daily
     WHERE organization_id = $1 AND metric_name = 'CPUUtilization' AND day >= $2 AND day < $3 GROUP BY resource_id`,
    [orgId, from, to],
  );
  const truth = new Map(rows.map((r) => [r.resource_id, r]));
  for (const item of items) {
    const t = truth.get(item.resource_id);
    assert.ok(t, `resource ${item.resource_id} exists in metric_daily`);
    if (item.maximum !== null) assert.ok(Math.abs(item.maximum - t.max) < 1e-6, `max of ${item.resource_id}`);
    if (item.average !== null && t.avg !== null) assert.ok(Math.abs(item.average - t.avg) < 1e-3, `avg of ${item.resource_id}: ${item.average} vs ${t.avg}`);
  }
});

test('a refresh through the API reloads the restatement window and invalidates the cached answer', async () => {
  const today = todayUtc(now());
  const path = `/api/v1/costs/daily?from=${addDays(today, -2)}&to=${today}&group_by=none`;
  const first = await get(api, path, token);
  assert.equal(first.status, 200, first.text);
  const second = await get(api, path, token);
  assert.equal(second.headers.get('x-cache'), 'hit');
  const refresh = await fetch(`${api.baseUrl}/api/v1/ingestion/refresh`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: '{}',
  });
  assert.equal(refresh.status, 202, await refresh.text());
  await p.waitForIdle(120_000);
  const third = await get(api, path, token);
  assert.equal(third.headers.get('x-cache'), 'miss', 'the rollup invalidated the cache');
  const served = (third.json as { items: Item[] }).items;
  assert.ok(served.length >= 2, 'the refresh loaded the recent (estimated) days');
  const { rows } = await p.db.pool.query<{ day: string; total: string }>(
    `SELECT day, sum(unblended_cost)::text AS total FROM cost_daily_service WHERE organization_id = $1 AND day >= $2 AND day <= $3 GROUP BY day ORDER BY day`,
    [orgId, addDays(today, -2), today],
  );
  assert.deepEqual(
    served.map((i) => [i.date, normDecimal(i.unblended_cost.amount)]),
    rows.map((r) => [r.day, normDecimal(r.total)]),
  );
  const runs = await get(api, '/api/v1/ingestion/runs?limit=5', token);
  assert.equal(runs.status, 200);
  assert.ok((runs.json as { items: Array<{ trigger: string }> }).items.some((r) => r.trigger === 'manual'));
});
