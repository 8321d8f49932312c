/**
 * API figures against sums computed here from the seeded rollup rows (exact decimal strings),
 * complete and stable pagination, the response cache, ingestion status and runs, refresh, and
 * the OpenAPI document. The clock is fixed at 2026-03-15T12:00:00Z.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { invalidateOrgCache } from '../lib/cache.js';
import { apiRoutes } from '../api/app.js';
import { createPlatformOrganization } from '../database/repositories/organizations.repository.js';
import { get, login, seedOrg, seedUser, startTestApi, type TestApi } from './helpers/api.js';

const NOW = new Date('2026-03-15T12:00:00Z');
const SCALE = 10n ** 10n;

/** Decimal strings with exactly 10 places <-> scaled BigInt (independent of Postgres). */
function toScaled(s: string): bigint {
  const neg = s.startsWith('-');
  const [int = '0', frac = ''] = (neg ? s.slice(1) : s).split('.');
  const v = BigInt(int) * SCALE + BigInt((frac + '0000000000').slice(0, 10));
  return neg ? -v : v;
}
function fromScaled(v: bigint): string {
  const neg = v < 0n;
  const a = neg ? -v : v;
  return `${neg ? '-' : ''}${a / SCALE}.${(a % SCALE).toString().padStart(10, '0')}`;
}
/** round(num / den, 2), half away from zero, as Postgres numeric round does. */
function roundDiv2(num: bigint, den: bigint): string {
  const neg = num < 0n !== den < 0n;
  const n = (num < 0n ? -num : num) * 1000n;
  const d = den < 0n ? -den : den;
  let thousandths = n / d;
  thousandths = thousandths % 10n >= 5n ? thousandths / 10n + 1n : thousandths / 10n;
  const s = `${thousandths / 100n}.${(thousandths % 100n).toString().padStart(2, '0')}`;
  return neg && thousandths !== 0n ? `-${s}` : s;
}

let seed = 42;
function rand(): number {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed / 2147483648;
}
function amount(max: number, allowNegative = false): string {
  const v = BigInt(Math.floor(rand() * max * 1e6)) * 10000n + BigInt(Math.floor(rand() * 10000));
  return fromScaled(allowNegative && rand() < 0.1 ? -v : v);
}

function days(from: string, to: string): string[] {
  const out: string[] = [];
  for (
    let d = new Date(`${from}T00:00:00Z`);
    d.toISOString().slice(0, 10) <= to;
    d.setUTCDate(d.getUTCDate() + 1)
  )
    out.push(d.toISOString().slice(0, 10));
  return out;
}

interface CostRow {
  day: string;
  key: string;
  unblended: string;
  amortized: string;
  net: string;
}

const SERVICES = [
  'AWS Lambda',
  'Amazon EC2',
  'Amazon RDS',
  'Amazon S3',
  "Amazon O'Brien; DROP TABLE users;--",
  'Amazon CloudFront',
];
const ACCOUNTS = ['111111111111', '222222222222', '333333333333'];
const REGIONS = ['eu-west-1', 'global', 'us-east-1', 'us-west-2'];
const DAYS = days('2026-01-01', '2026-03-15');

let api: TestApi;
let orgA: number;
let orgB: number;
let viewer: string;
let admin: string;
let operator: string;
const rows = { service: [] as CostRow[], account: [] as CostRow[], region: [] as CostRow[] };
const rowsB: CostRow[] = [];

async function insertDaily(
  table: 'cost_daily_service' | 'cost_daily_account' | 'cost_daily_region',
  column: string,
  org: number,
  data: CostRow[],
) {
  await api.db.pool.query(
    `INSERT INTO ${table} (organization_id, day, ${column}, unblended_cost, amortized_cost, net_unblended_cost, usage_quantity, unit, estimated)
     SELECT $1, d, k, u, a, n, 1, 'USD', d >= '2026-03-13'
       FROM unnest($2::date[], $3::text[], $4::numeric[], $5::numeric[], $6::numeric[]) AS t(d, k, u, a, n)`,
    [
      org,
      data.map((r) => r.day),
      data.map((r) => r.key),
      data.map((r) => r.unblended),
      data.map((r) => r.amortized),
      data.map((r) => r.net),
    ],
  );
}

function sum(values: string[]): string {
  return fromScaled(values.reduce((acc, v) => acc + toScaled(v), 0n));
}

/** Validates a response against the zod response schema the OpenAPI document was built from. */
function assertDocumented(path: string, body: unknown, method = 'get') {
  const route = apiRoutes.find((r) => r.path === path && r.method === method);
  assert.ok(route, `route ${path}`);
  const parsed = route.response.safeParse(body);
  assert.ok(
    parsed.success,
    `${path} response matches its schema: ${parsed.success ? '' : JSON.stringify(parsed.error.issues[0])}`,
  );
}

async function walk<T>(path: string, token: string, limit: number): Promise<T[]> {
  const items: T[] = [];
  let offset: number | null = 0;
  let pages = 0;
  while (offset !== null) {
    const sep = path.includes('?') ? '&' : '?';
    const res = await get(api, `${path}${sep}limit=${limit}&offset=${offset}`, token);
    assert.equal(res.status, 200, res.text);
    const body = res.json as { items: T[]; next_offset: number | null };
    items.push(...body.items);
    offset = body.next_offset;
    if (++pages > 10_000) throw new Error('pagination does not end');
  }
  return items;
}

before(async () => {
  api = await startTestApi({ options: { now: () => NOW } });
  orgA = await seedOrg(api.db, 'org-a', {
    last_error: 'AccessDeniedException: ce:GetCostAndUsage',
    last_error_remedy: 'grant ce:GetCostAndUsage to the role',
    last_error_at: '2026-03-14T10:00:00Z',
    last_success_at: '2026-03-15T06:00:00Z',
  });
  orgB = await seedOrg(api.db, 'org-b');
  await seedUser(api.db, orgA, 'viewer@a.test', 'viewer');
  await seedUser(api.db, orgA, 'admin@a.test', 'admin');
  await seedUser(api.db, orgB, 'operator@b.test', 'operator');
  [viewer, admin, operator] = await Promise.all([
    login(api, 'viewer@a.test'),
    login(api, 'admin@a.test'),
    login(api, 'operator@b.test'),
  ]);

  for (const day of DAYS) {
    for (const key of SERVICES)
      if (rand() < 0.9)
        rows.service.push({
          day,
          key,
          unblended: amount(500),
          amortized: amount(500),
          net: amount(500, true),
        });
    for (const key of ACCOUNTS)
      rows.account.push({ day, key, unblended: amount(900), amortized: amount(900), net: amount(900) });
    for (const key of REGIONS)
      rows.region.push({ day, key, unblended: amount(700), amortized: amount(700), net: amount(700) });
    rowsB.push({ day, key: 'Amazon S3', unblended: amount(10), amortized: amount(10), net: amount(10) });
  }
  await insertDaily('cost_daily_service', 'service', orgA, rows.service);
  await insertDaily('cost_daily_account', 'linked_account', orgA, rows.account);
  await insertDaily('cost_daily_region', 'region', orgA, rows.region);
  await insertDaily('cost_daily_service', 'service', orgB, rowsB);

  // Monthly rollup rows, as the rollup worker would write them.
  const monthly = new Map<string, CostRow[]>();
  for (const r of rows.service) {
    const k = `${r.day.slice(0, 7)}-01|${r.key}`;
    monthly.set(k, [...(monthly.get(k) ?? []), r]);
  }
  for (const [k, list] of monthly) {
    const [month, service] = k.split('|');
    await api.db.pool.query(
      `INSERT INTO cost_monthly_service VALUES ($1, $2, $3, $4, $5, $6, 1, 'USD', false, $7)`,
      [
        orgA,
        month,
        service,
        sum(list.map((r) => r.unblended)),
        sum(list.map((r) => r.amortized)),
        sum(list.map((r) => r.net)),
        list.length,
      ],
    );
  }
  await api.db.pool.query(
    `INSERT INTO cost_forecasts (organization_id, month, amount, lower_bound, upper_bound, unit, fetched_at) VALUES
       ($1, '2026-02-01', '1.0', NULL, NULL, 'USD', '2026-02-10T00:00:00Z'),
       ($1, '2026-03-01', '54321.1234567890', '50000.5', '60000.25', 'USD', '2026-03-15T06:00:00Z'),
       ($1, '2026-04-01', '55000.0000000001', NULL, NULL, 'USD', '2026-03-15T06:00:00Z')`,
    [orgA],
  );
});
after(async () => api.close());

describe('costs', () => {
  test('daily by service, account and region: every row, exact amounts, complete pagination', async () => {
    for (const [groupBy, data] of [
      ['service', rows.service],
      ['account', rows.account],
      ['region', rows.region],
    ] as const) {
      const items = await walk<{
        date: string;
        group: string;
        unblended_cost: { amount: string; unit: string };
        net_unblended_cost: { amount: string };
      }>(`/api/v1/costs/daily?from=2026-01-01&to=2026-03-15&group_by=${groupBy}`, viewer, 97);
      const expected = [...data].sort((a, b) =>
        a.day < b.day ? -1 : a.day > b.day ? 1 : a.key < b.key ? -1 : a.key > b.key ? 1 : 0,
      );
      assert.equal(items.length, expected.length, `${groupBy}: row count`);
      assert.deepEqual(
        items.map((i) => [
          i.date,
          i.group,
          i.unblended_cost.amount,
          i.net_unblended_cost.amount,
          i.unblended_cost.unit,
        ]),
        expected.map((r) => [r.day, r.key, r.unblended, r.net, 'USD']),
      );
    }
  });

  test('daily totals (group_by=none) equal the sum of services per day, with filters', async () => {
    const res = await get(api, '/api/v1/costs/daily?from=2026-02-01&to=2026-02-28&group_by=none', viewer);
    assert.equal(res.status, 200, res.text);
    assertDocumented('/costs/daily', res.json);
    const body = res.json as {
      items: {
        date: string;
        group: null;
        unblended_cost: { amount: string };
        amortized_cost: { amount: string };
      }[];
    };
    assert.equal(body.items.length, 28);
    for (const item of body.items) {
      const ofDay = rows.service.filter((r) => r.day === item.date);
      assert.equal(item.group, null);
      assert.equal(item.unblended_cost.amount, sum(ofDay.map((r) => r.unblended)), item.date);
      assert.equal(item.amortized_cost.amount, sum(ofDay.map((r) => r.amortized)), item.date);
    }
    const tricky = SERVICES[4] ?? '';
    const filtered = await get(
      api,
      `/api/v1/costs/daily?from=2026-01-01&to=2026-03-15&group_by=service&service=${encodeURIComponent(tricky)}&limit=1000`,
      viewer,
    );
    const fItems = (filtered.json as { items: { group: string; unblended_cost: { amount: string } }[] })
      .items;
    assert.deepEqual(
      fItems.map((i) => i.unblended_cost.amount),
      rows.service.filter((r) => r.key === tricky).map((r) => r.unblended),
      'SQL meta-characters in a filter are plain data',
    );
    const acct = await get(
      api,
      '/api/v1/costs/daily?from=2026-03-01&to=2026-03-15&group_by=none&account=222222222222',
      viewer,
    );
    assert.deepEqual(
      (acct.json as { items: { unblended_cost: { amount: string } }[] }).items.map(
        (i) => i.unblended_cost.amount,
      ),
      rows.account.filter((r) => r.key === '222222222222' && r.day >= '2026-03-01').map((r) => r.unblended),
    );
    const mixed = await get(
      api,
      '/api/v1/costs/daily?from=2026-03-01&to=2026-03-15&group_by=account&region=us-east-1',
      viewer,
    );
    assert.equal(mixed.status, 400, 'no stored grouping holds account x region');
    assert.equal((mixed.json as { error: { field: string } }).error.field, 'region');
  });

  test('monthly by service and in total', async () => {
    const res = await get(api, '/api/v1/costs/monthly?from=2026-01-15&to=2026-03-01&group_by=none', viewer);
    assert.equal(res.status, 200, res.text);
    assertDocumented('/costs/monthly', res.json);
    const items = (
      res.json as { items: { month: string; unblended_cost: { amount: string }; days: number }[] }
    ).items;
    assert.deepEqual(
      items.map((i) => [i.month, i.unblended_cost.amount]),
      ['2026-01', '2026-02', '2026-03'].map((m) => [
        `${m}-01`,
        sum(rows.service.filter((r) => r.day.startsWith(m)).map((r) => r.unblended)),
      ]),
    );
    const byService = await walk<{ month: string; group: string; net_unblended_cost: { amount: string } }>(
      '/api/v1/costs/monthly?from=2026-01-01&to=2026-03-31',
      viewer,
      5,
    );
    assert.equal(byService.length, 18);
    for (const item of byService) {
      const expected = sum(
        rows.service
          .filter((r) => r.key === item.group && r.day.startsWith(item.month.slice(0, 7)))
          .map((r) => r.net),
      );
      assert.equal(item.net_unblended_cost.amount, expected, `${item.month} ${item.group}`);
    }
  });

  test('summary: month to date, same days of last month, change %, forecast, top services', async () => {
    const res = await get(api, '/api/v1/costs/summary', viewer);
    assert.equal(res.status, 200, res.text);
    assertDocumented('/costs/summary', res.json);
    const body = res.json as {
      as_of: string;
      month_to_date: { from: string; to: string; total: { amount: string } };
      previous_period: { from: string; to: string; total: { amount: string } };
      change_percent: string;
      forecast: { month: string; amount: { amount: string }; lower_bound: { amount: string } };
      top_services: { service: string; total: { amount: string } }[];
    };
    const mtd = rows.service.filter((r) => r.day >= '2026-03-01' && r.day <= '2026-03-15');
    const prev = rows.service.filter((r) => r.day >= '2026-02-01' && r.day <= '2026-02-15');
    const mtdSum = toScaled(sum(mtd.map((r) => r.unblended)));
    const prevSum = toScaled(sum(prev.map((r) => r.unblended)));
    assert.equal(body.as_of, '2026-03-15');
    assert.deepEqual([body.month_to_date.from, body.month_to_date.to], ['2026-03-01', '2026-03-15']);
    assert.deepEqual([body.previous_period.from, body.previous_period.to], ['2026-02-01', '2026-02-15']);
    assert.equal(body.month_to_date.total.amount, fromScaled(mtdSum));
    assert.equal(body.previous_period.total.amount, fromScaled(prevSum));
    assert.equal(body.change_percent, roundDiv2((mtdSum - prevSum) * 100n, prevSum));
    assert.equal(body.forecast.month, '2026-03-01');
    assert.equal(body.forecast.amount.amount, '54321.1234567890');
    assert.equal(body.forecast.lower_bound.amount, '50000.5');
    const totals = SERVICES.map((s) => ({
      s,
      v: toScaled(sum(mtd.filter((r) => r.key === s).map((r) => r.unblended))),
    }))
      .sort((a, b) => (a.v > b.v ? -1 : a.v < b.v ? 1 : a.s < b.s ? -1 : 1))
      .slice(0, 5);
    assert.deepEqual(
      body.top_services.map((t) => [t.service, t.total.amount]),
      totals.map((t) => [t.s, fromScaled(t.v)]),
    );
  });

  test('forecast lists the current month on', async () => {
    const res = await get(api, '/api/v1/costs/forecast', viewer);
    assertDocumented('/costs/forecast', res.json);
    const items = (res.json as { items: { month: string; amount: { amount: string } }[] }).items;
    assert.deepEqual(
      items.map((i) => [i.month, i.amount.amount]),
      [
        ['2026-03-01', '54321.1234567890'],
        ['2026-04-01', '55000.0000000001'],
      ],
    );
  });

  test('top services, accounts and regions, by unblended and amortized', async () => {
    for (const [dimension, data] of [
      ['service', rows.service],
      ['account', rows.account],
      ['region', rows.region],
    ] as const) {
      for (const metric of ['unblended', 'amortized'] as const) {
        const res = await get(
          api,
          `/api/v1/costs/top?from=2026-01-10&to=2026-02-20&dimension=${dimension}&metric=${metric}&limit=3`,
          viewer,
        );
        assert.equal(res.status, 200, res.text);
        assertDocumented('/costs/top', res.json);
        const inRange = data.filter((r) => r.day >= '2026-01-10' && r.day <= '2026-02-20');
        const keys = [...new Set(inRange.map((r) => r.key))];
        const expected = keys
          .map((k) => ({
            k,
            v: toScaled(
              sum(
                inRange
                  .filter((r) => r.key === k)
                  .map((r) => (metric === 'unblended' ? r.unblended : r.amortized)),
              ),
            ),
          }))
          .sort((a, b) => (a.v > b.v ? -1 : a.v < b.v ? 1 : a.k < b.k ? -1 : 1))
          .slice(0, 3);
        const items = (res.json as { items: { rank: number; key: string; total: { amount: string } }[] })
          .items;
        assert.deepEqual(
          items.map((i) => [i.rank, i.key, i.total.amount]),
          expected.map((e, i) => [i + 1, e.k, fromScaled(e.v)]),
          `${dimension} ${metric}`,
        );
      }
    }
  });

  test('an operator may name another organization; its figures are that org’s', async () => {
    const res = await get(
      api,
      `/api/v1/costs/daily?from=2026-01-01&to=2026-03-15&org_id=${orgA}&group_by=none&limit=1000`,
      operator,
    );
    assert.equal(res.status, 200);
    assert.equal((res.json as { items: unknown[] }).items.length, DAYS.length);
    const own = await get(api, '/api/v1/costs/daily?from=2026-01-01&to=2026-03-15&limit=1000', operator);
    assert.deepEqual(
      (own.json as { items: { unblended_cost: { amount: string } }[] }).items.map(
        (i) => i.unblended_cost.amount,
      ),
      rowsB.map((r) => r.unblended),
    );
  });
});

describe('cache', () => {
  test('second call is a hit; a rollup (invalidateOrgCache) makes the next one a miss with new data', async () => {
    const path = '/api/v1/costs/daily?from=2026-03-14&to=2026-03-15&group_by=none';
    const first = await get(api, path, viewer);
    const second = await get(api, `/api/v1/costs/daily?group_by=none&to=2026-03-15&from=2026-03-14`, viewer);
    assert.equal(first.headers.get('x-cache'), 'miss');
    assert.equal(second.headers.get('x-cache'), 'hit', 'parameter order does not matter');
    assert.equal(second.text, first.text);
    await api.db.pool.query(
      `UPDATE cost_daily_service SET unblended_cost = unblended_cost + 1 WHERE organization_id = $1 AND day = '2026-03-15' AND service = 'Amazon S3'`,
      [orgA],
    );
    const stale = await get(api, path, viewer);
    assert.equal(stale.headers.get('x-cache'), 'hit');
    await invalidateOrgCache(api.redis, api.config.QUEUE_PREFIX, orgA);
    const fresh = await get(api, path, viewer);
    assert.equal(fresh.headers.get('x-cache'), 'miss');
    const before =
      (first.json as { items: { unblended_cost: { amount: string } }[] }).items[1]?.unblended_cost.amount ??
      '';
    const afterAmount =
      (fresh.json as { items: { unblended_cost: { amount: string } }[] }).items[1]?.unblended_cost.amount ??
      '';
    assert.equal(afterAmount, fromScaled(toScaled(before) + SCALE));
    // The other org's cache is untouched by org A's rollup and never mixed with it.
    const b1 = await get(api, path, operator);
    const b2 = await get(api, path, operator);
    assert.equal(b2.headers.get('x-cache'), 'hit');
    assert.notEqual(b1.text, fresh.text);
  });
});

describe('utilization', () => {
  test('per resource sample-weighted average and max over the range; null without data', async () => {
    const resources = ['i-0aaa', 'i-0bbb', 'i-0ccc', 'db-main'];
    const seeded: {
      day: string;
      ns: string;
      id: string;
      avg: number | null;
      max: number | null;
      samples: number;
    }[] = [];
    for (const day of days('2026-03-01', '2026-03-10')) {
      for (const id of resources) {
        const ns = id.startsWith('db') ? 'AWS/RDS' : 'AWS/EC2';
        const noData = id === 'i-0ccc';
        const samples = noData ? 0 : 1 + Math.floor(rand() * 24);
        const avg = noData ? null : Math.round(rand() * 10000) / 100;
        seeded.push({ day, ns, id, avg, max: avg === null ? null : avg + 5, samples });
      }
    }
    for (const r of seeded) {
      await api.db.pool.query(
        `INSERT INTO metric_daily VALUES ($1, $2, $3, $4, 'CPUUtilization', $5, $6, $7, 'Percent')`,
        [orgA, r.day, r.ns, r.id, r.avg, r.max, r.samples],
      );
    }
    const items = await walk<{
      namespace: string;
      resource_id: string;
      average: number | null;
      maximum: number | null;
      days_with_data: number;
    }>('/api/v1/utilization?from=2026-03-02&to=2026-03-09', viewer, 3);
    assert.deepEqual(
      items.map((i) => `${i.namespace}/${i.resource_id}`),
      ['AWS/EC2/i-0aaa', 'AWS/EC2/i-0bbb', 'AWS/EC2/i-0ccc', 'AWS/RDS/db-main'],
    );
    for (const item of items) {
      const mine = seeded.filter(
        (r) => r.id === item.resource_id && r.day >= '2026-03-02' && r.day <= '2026-03-09',
      );
      if (item.resource_id === 'i-0ccc') {
        assert.equal(item.average, null);
        assert.equal(item.maximum, null);
        assert.equal(item.days_with_data, 0);
        continue;
      }
      const weighted =
        mine.reduce((a, r) => a + (r.avg ?? 0) * r.samples, 0) / mine.reduce((a, r) => a + r.samples, 0);
      assert.ok(
        Math.abs((item.average ?? NaN) - weighted) < 1e-9,
        `${item.resource_id} average ${item.average} vs ${weighted}`,
      );
      assert.equal(item.maximum, Math.max(...mine.map((r) => r.max ?? -Infinity)));
      assert.equal(item.days_with_data, 8);
    }
    const one = await get(api, '/api/v1/utilization?from=2026-03-01&to=2026-03-10&namespace=AWS/RDS', viewer);
    assertDocumented('/utilization', one.json);
    assert.deepEqual(
      (one.json as { items: { resource_id: string }[] }).items.map((i) => i.resource_id),
      ['db-main'],
    );
  });
});

describe('ingestion', () => {
  interface SeededRun {
    id: number;
    started: string;
    source: string;
    ce: number;
    other: number;
    rows: number;
    status: string;
  }
  const runs: SeededRun[] = [];

  before(async () => {
    for (let i = 0; i < 250; i++) {
      // Groups of runs share a started_at, so the id tie-break matters.
      const started = new Date(NOW.getTime() - Math.floor(i / 3) * 3_600_000 * 7).toISOString();
      const source = i % 2 === 0 ? 'costs' : 'metrics';
      const ce = source === 'costs' ? 1 + (i % 5) : 0;
      const other = source === 'metrics' ? 2 + (i % 3) : 0;
      const status = i % 11 === 0 ? 'failed' : 'succeeded';
      const rowsLoaded = 100 + i;
      const ops = source === 'costs' ? { GetCostAndUsage: ce } : { ListMetrics: 1, GetMetricData: other - 1 };
      const { rows: inserted } = await api.db.pool.query<{ id: number }>(
        `INSERT INTO fetch_runs (organization_id, source, window_start, window_end, status, trigger, rows_loaded, aws_requests,
                                 aws_requests_by_operation, started_at, finished_at, duration_ms)
         VALUES ($1, $2, '2026-03-01', '2026-03-02', $3, 'scheduled', $4, $5, $6, $7, $7::timestamptz + interval '1 second', 1000)
         RETURNING id`,
        [orgA, source, status, rowsLoaded, ce + other, JSON.stringify(ops), started],
      );
      runs.push({ id: inserted[0]?.id ?? 0, started, source, ce, other, rows: rowsLoaded, status });
    }
    await api.db.pool.query(
      `INSERT INTO fetch_runs (organization_id, source, window_start, window_end, status, trigger, started_at)
       VALUES ($1, 'costs', '2026-03-01', '2026-03-02', 'succeeded', 'manual', $2)`,
      [orgB, NOW.toISOString()],
    );
  });

  test('runs: walking every page gives every run once, newest first, ties by id', async () => {
    const seen: number[] = [];
    let cursor: string | null = null;
    do {
      const res = await get(
        api,
        `/api/v1/ingestion/runs?limit=7${cursor ? `&cursor=${cursor}` : ''}`,
        viewer,
      );
      assert.equal(res.status, 200, res.text);
      assertDocumented('/ingestion/runs', res.json);
      const body = res.json as { items: { id: number }[]; next_cursor: string | null };
      seen.push(...body.items.map((i) => i.id));
      cursor = body.next_cursor;
    } while (cursor);
    const expected = [...runs]
      .sort((a, b) => (a.started > b.started ? -1 : a.started < b.started ? 1 : b.id - a.id))
      .map((r) => r.id);
    assert.equal(new Set(seen).size, seen.length, 'no duplicates');
    assert.deepEqual(seen, expected);
    const costsOnly = await get(api, '/api/v1/ingestion/runs?source=costs&limit=1000', viewer);
    assert.equal((costsOnly.json as { items: unknown[] }).items.length, 125);
    const bad = await get(api, '/api/v1/ingestion/runs?cursor=bm9wZQ', viewer);
    assert.equal(bad.status, 400);
    assert.equal((bad.json as { error: { field: string } }).error.field, 'cursor');
  });

  test('status: last error with remedy, usage of 24h and 30d with the estimated Cost Explorer bill', async () => {
    const res = await get(api, '/api/v1/ingestion/status', viewer);
    assert.equal(res.status, 200, res.text);
    assertDocumented('/ingestion/status', res.json);
    const body = res.json as {
      organization: {
        id: number;
        status: string;
        last_error: { code: string; message: string; remedy: string | null };
        last_success_at: string;
      };
      usage: Record<
        'last_24h' | 'last_30d',
        {
          runs: number;
          failed_runs: number;
          rows_loaded: number;
          aws_requests: number;
          aws_requests_by_operation: Record<string, number>;
          estimated_aws_cost: { amount: string; unit: string };
        }
      >;
    };
    assert.equal(body.organization.id, orgA);
    // A tenant never sees the stored text (it was recorded without a tenant-safe version); an operator does.
    assert.equal(body.organization.last_error.code, 'internal');
    assert.doesNotMatch(body.organization.last_error.message, /AccessDeniedException/);
    assert.equal(body.organization.last_error.remedy, null);
    const full = (await get(api, `/api/v1/ingestion/status?org_id=${orgA}`, operator)).json as typeof body;
    assert.equal(full.organization.last_error.remedy, 'grant ce:GetCostAndUsage to the role');
    assert.equal(full.organization.last_error.message, 'AccessDeniedException: ce:GetCostAndUsage');
    assert.equal(body.organization.last_success_at, '2026-03-15T06:00:00.000Z');
    for (const [key, ms] of [
      ['last_24h', 86_400_000],
      ['last_30d', 30 * 86_400_000],
    ] as const) {
      const inWindow = runs.filter((r) => new Date(r.started).getTime() >= NOW.getTime() - ms);
      const u = body.usage[key];
      const ce = inWindow.reduce((a, r) => a + r.ce, 0);
      assert.equal(u.runs, inWindow.length, key);
      assert.equal(u.failed_runs, inWindow.filter((r) => r.status === 'failed').length);
      assert.equal(
        u.rows_loaded,
        inWindow.reduce((a, r) => a + r.rows, 0),
      );
      assert.equal(
        u.aws_requests,
        inWindow.reduce((a, r) => a + r.ce + r.other, 0),
      );
      assert.equal(u.aws_requests_by_operation.GetCostAndUsage ?? 0, ce);
      assert.equal(
        u.estimated_aws_cost.amount,
        `${Math.floor(ce / 100)}.${String(ce % 100).padStart(2, '0')}`,
      );
      assert.equal(u.estimated_aws_cost.unit, 'USD');
    }
  });

  test('refresh: admin enqueues the refresh windows (202); viewer 403', async () => {
    const denied = await fetch(`${api.baseUrl}/api/v1/ingestion/refresh`, {
      method: 'POST',
      headers: { authorization: `Bearer ${viewer}` },
    });
    assert.equal(denied.status, 403);
    const res = await fetch(`${api.baseUrl}/api/v1/ingestion/refresh`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: '{}',
    });
    assert.equal(res.status, 202, await res.clone().text());
    const body = (await res.json()) as {
      organization_id: number;
      enqueued: { costs: { from: string; to: string }; metrics: { from: string; to: string } };
    };
    assertDocumented('/ingestion/refresh', body, 'post');
    assert.equal(body.organization_id, orgA);
    assert.deepEqual(body.enqueued.costs, { from: '2026-03-01', to: '2026-03-16' });
    const jobs = await api.queues.fetchCosts.getJobs(['waiting', 'delayed', 'prioritized']);
    assert.ok(
      jobs.some((j) => j.data.orgId === orgA && j.data.trigger === 'manual' && j.data.from === '2026-03-01'),
    );
    const metricJobs = await api.queues.fetchMetrics.getJobs(['waiting', 'delayed', 'prioritized']);
    assert.ok(metricJobs.some((j) => j.data.orgId === orgA));
    const noBody = await fetch(`${api.baseUrl}/api/v1/ingestion/refresh?org_id=${orgB}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${operator}` },
    });
    assert.equal(noBody.status, 202);

    // An operator's own organization is the platform one: no AWS account, nothing to refresh (a
    // refresh of it used to be enqueued and mark it access_denied).
    const platform = await createPlatformOrganization(api.db.pool, 'CostWatch operators');
    await seedUser(api.db, platform.id, 'ops@platform.test', 'operator');
    const ops = await login(api, 'ops@platform.test');
    const own = await fetch(`${api.baseUrl}/api/v1/ingestion/refresh`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ops}` },
    });
    assert.equal(own.status, 409);
    assert.match(
      ((await own.json()) as { error: { message: string } }).error.message,
      /platform organization has no AWS account: there is nothing to refresh/,
    );
    for (const queue of [api.queues.fetchCosts, api.queues.fetchMetrics]) {
      const queued = await queue.getJobs(['waiting', 'delayed', 'prioritized']);
      assert.ok(!queued.some((j) => j.data.orgId === platform.id), 'nothing queued for the platform org');
    }
  });
});

describe('OpenAPI', () => {
  test('covers every route with its parameters, bodies, responses and the bearer scheme', async () => {
    const res = await get(api, '/api/v1/openapi.json');
    assert.equal(res.status, 200);
    const doc = res.json as {
      openapi: string;
      paths: Record<
        string,
        Record<
          string,
          {
            parameters: { name: string; required: boolean }[];
            responses: Record<string, unknown>;
            requestBody?: unknown;
            security: unknown[];
          }
        >
      >;
      components: { securitySchemes: { bearerAuth: { type: string; scheme: string; bearerFormat: string } } };
    };
    assert.equal(doc.openapi, '3.1.0');
    assert.deepEqual(doc.components.securitySchemes.bearerAuth, {
      type: 'http',
      scheme: 'bearer',
      bearerFormat: 'JWT',
      description: 'POST /api/v1/auth/login for a token (HS256)',
    });
    for (const route of apiRoutes) {
      const op = doc.paths[`/api/v1${route.path.replace(/:([A-Za-z_]+)/g, '{$1}')}`]?.[route.method];
      assert.ok(op, `${route.method} ${route.path} documented`);
      assert.ok(op.responses[String(route.status)], `${route.path} success response`);
      assert.ok(op.responses['400']);
    }
    const daily = doc.paths['/api/v1/costs/daily']?.get;
    assert.deepEqual(
      daily?.parameters.map((p) => [p.name, p.required]),
      [
        ['org_id', false],
        ['from', true],
        ['to', true],
        ['group_by', false],
        ['service', false],
        ['account', false],
        ['region', false],
        ['record_type', false],
        ['usage_type', false],
        ['limit', false],
        ['offset', false],
      ],
    );
    assert.ok(doc.paths['/api/v1/auth/login']?.post?.requestBody);
    assert.deepEqual(doc.paths['/api/v1/auth/login']?.post?.security, []);
    for (const p of ['/health', '/ready', '/metrics', '/admin/queues', '/admin/login'])
      assert.ok(doc.paths[p], p);
  });
});
