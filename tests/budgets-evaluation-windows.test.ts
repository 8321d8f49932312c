/**
 * Budget evaluation against an oracle: 15 months of daily costs that differ per day, per service,
 * account and region, loaded through the real rollup rebuild, and budgets of every period, metric
 * and scope dimension evaluated on the days where the windows meet (first and last days of
 * months, quarters and years; 1 May, when the trailing 30 days start on the first day of the
 * previous month). The oracle sums the seeded rows in TypeScript straight from the definitions
 * in docs/ALERTS.md: actual = the metric over the period's days in the rollups, forecast = actual +
 * (max(0, F - A) + k x max(F, A)) x share over the 30 days before today. The evaluation reads
 * whole past months from the monthly rollup and days from the daily one: this shows the split
 * changes no figure.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { seedForecast } from './helpers/notifications.js';
import { addDays, eachDay } from '../lib/dates.js';
import {
  budgetStates,
  createBudget,
  type BudgetMetric,
  type BudgetPeriod,
} from '../database/repositories/budgets.repository.js';

let db: TestDatabase;
let org = 0;

interface Row {
  day: string;
  service: string;
  account: string;
  region: string;
  u: number;
  a: number;
  n: number;
}

const SERIES = [
  { service: 'EC2', account: '111111111111', region: 'us-east-1' },
  { service: 'S3', account: '222222222222', region: 'eu-west-1' },
  { service: 'RDS', account: '111111111111', region: 'eu-west-1' },
];
const FROM = '2025-10-01';
const TO = '2027-01-10';
// Multiples of 1/8: exact in binary, so the oracle's sums are exact too.
const rows: Row[] = eachDay(FROM, TO).flatMap((day, i) =>
  SERIES.map((s, j) => {
    const u = (((i * 37 + j * 11) % 50) + 1) / 4;
    return { day, ...s, u, a: u - 0.5, n: u / 2 };
  }),
);

const BUDGETS: Array<{
  name: string;
  period: BudgetPeriod;
  metric: BudgetMetric;
  scope: Record<string, string[]>;
}> = [];
for (const period of ['monthly', 'quarterly', 'annual'] as const)
  for (const [i, scope] of (
    [
      {},
      { service: ['EC2'] },
      { service: ['S3', 'RDS'] },
      { account: ['111111111111'] },
      { region: ['eu-west-1'] },
    ] as Array<Record<string, string[]>>
  ).entries())
    BUDGETS.push({
      name: `${period}-${i}`,
      period,
      metric: (['unblended', 'amortized', 'net_unblended'] as const)[i % 3] ?? 'unblended',
      scope,
    });

// Forecasts for some months only: the others evaluate without one (forecast null).
const FORECASTS: Record<string, number> = {
  '2026-01-01': 900,
  '2026-03-01': 400,
  '2026-05-01': 1200.5,
  '2026-12-01': 10,
};

before(async () => {
  db = await createTestDatabase({ poolSize: 4 });
  const { rows: created } = await db.pool.query<{ id: number }>(
    `INSERT INTO organizations (name, aws_account_id) VALUES ('windows', '123456789012') RETURNING id::int AS id`,
  );
  org = created[0]?.id ?? 0;
  await db.pool.query(`SELECT ensure_monthly_partitions('cost_data', $1::date, $2::date)`, [FROM, TO]);
  // Both groupings the rollups read (SERVICE x LINKED_ACCOUNT gives service and account,
  // SERVICE x REGION gives region), with the same costs.
  for (const [grouping, linked, region] of [
    ['account_service', (r: Row) => r.account, () => ''],
    ['region_service', () => '', (r: Row) => r.region],
  ] as const)
    await db.pool.query(
      `INSERT INTO cost_data (organization_id, cost_date, grouping, service, linked_account, region, dim_value,
                              unblended_cost, amortized_cost, net_unblended_cost, usage_quantity, unit, estimated)
       SELECT $1, d, $2, s, l, r, '', u, a, n, 1, 'USD', false
         FROM unnest($3::date[], $4::text[], $5::text[], $6::text[], $7::numeric[], $8::numeric[], $9::numeric[]) AS x(d, s, l, r, u, a, n)`,
      [
        org,
        grouping,
        rows.map((r) => r.day),
        rows.map((r) => r.service),
        rows.map(linked),
        rows.map(region),
        rows.map((r) => r.u),
        rows.map((r) => r.a),
        rows.map((r) => r.n),
      ],
    );
  await db.pool.query(`SELECT * FROM cw_rebuild_cost_rollups($1, $2::date, $3::date)`, [org, FROM, TO]);
  for (const [month, amount] of Object.entries(FORECASTS))
    await seedForecast(db.pool, org, month, String(amount));
  for (const b of BUDGETS)
    await createBudget(db.pool, org, {
      ...b,
      amount: '1000',
      currency: 'USD',
      thresholds: [{ percent: 100, kind: 'actual' }],
      channelIds: [],
    });
});
after(async () => {
  await db.drop();
});

function monthStart(day: string, months = 0): string {
  const d = new Date(`${day}T00:00:00Z`);
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + months, 1)).toISOString().slice(0, 10);
}

function periodOf(period: BudgetPeriod, today: string): [string, string] {
  const d = new Date(`${today}T00:00:00Z`);
  const m = d.getUTCMonth();
  const first = period === 'monthly' ? m : period === 'quarterly' ? m - (m % 3) : 0;
  const len = period === 'monthly' ? 1 : period === 'quarterly' ? 3 : 12;
  const start = new Date(Date.UTC(d.getUTCFullYear(), first, 1)).toISOString().slice(0, 10);
  return [start, monthStart(start, len)];
}

const monthIndex = (day: string) => Number(day.slice(0, 4)) * 12 + Number(day.slice(5, 7));

function expected(b: (typeof BUDGETS)[number], today: string): { actual: number; forecast: number | null } {
  const [ps, pe] = periodOf(b.period, today);
  const ms = monthStart(today);
  const me = monthStart(today, 1);
  const tr = addDays(today, -30);
  const [dim, values] = Object.entries(b.scope)[0] ?? ['', []];
  const inScope = (r: Row) => dim === '' || values.includes(r[dim as 'service' | 'account' | 'region']);
  const metric = (r: Row) => (b.metric === 'amortized' ? r.a : b.metric === 'net_unblended' ? r.n : r.u);
  const sum = (f: (r: Row) => boolean, v: (r: Row) => number) => rows.filter(f).reduce((s, r) => s + v(r), 0);
  const actual = sum((r) => inScope(r) && r.day >= ps && r.day < pe, metric);
  const F = FORECASTS[ms];
  if (F === undefined) return { actual, forecast: null };
  const A = sum(
    (r) => r.day >= ms && r.day < me,
    (r) => r.u,
  );
  const orgTrailing = sum(
    (r) => r.day >= tr && r.day < today,
    (r) => r.u,
  );
  const scopeTrailing = sum((r) => inScope(r) && r.day >= tr && r.day < today, metric);
  const share = orgTrailing > 0 ? scopeTrailing / orgTrailing : dim === '' ? 1 : 0;
  const k = monthIndex(pe) - monthIndex(me);
  return { actual, forecast: actual + (Math.max(F - A, 0) + Math.max(F, A) * k) * share };
}

for (const today of [
  '2026-01-01',
  '2026-01-31',
  '2026-03-01',
  '2026-03-31',
  '2026-05-01',
  '2026-05-20',
  '2026-07-01',
  '2026-12-01',
  '2026-12-31',
]) {
  test(`every budget's actual and forecast on ${today} match the oracle`, async () => {
    const states = await budgetStates(db.pool, org, today);
    assert.equal(states.length, BUDGETS.length);
    for (const [i, b] of BUDGETS.entries()) {
      const s = states[i];
      assert.ok(s);
      const want = expected(b, today);
      const label = `${b.name} ${JSON.stringify(b.scope)} ${b.metric}`;
      assert.equal(s.periodStart, periodOf(b.period, today)[0], label);
      assert.ok(
        Math.abs(Number(s.actual) - want.actual) < 1e-9,
        `${label}: actual ${s.actual}, want ${want.actual}`,
      );
      if (want.forecast === null) assert.equal(s.forecast, null, label);
      else
        assert.ok(
          s.forecast !== null && Math.abs(Number(s.forecast) - want.forecast) <= 0.005 + 1e-9,
          `${label}: forecast ${s.forecast}, want ${want.forecast.toFixed(4)}`,
        );
    }
  });
}
