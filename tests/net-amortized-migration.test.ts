/**
 * Migration 0012 (net amortized cost) against the real Postgres: rows loaded before it keep every
 * value and get net_amortized_cost NULL (AWS never sent it: nothing is invented), the rollup routine
 * keeps NULL for groups with such rows and sums the ones that have it, the old-name views show the
 * column and stay insertable; the rollback drops the column and nothing else, and the routine and
 * views of 0008 work again.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type pg from 'pg';
import { loadMigrations, migrateDown, migrateUp, type Migration } from '../database/migrator.js';
import { ensureMonthlyPartitions } from '../database/partitions.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';

let db: TestDatabase;
let client: pg.PoolClient;
let upTo11: Migration[];
let upTo12: Migration[];
let orgId: number;

const ROLLUPS = ['cost_rollup_daily_by_service', 'cost_rollup_daily', 'cost_rollup_monthly'] as const;

before(async () => {
  db = await createTestDatabase({ migrate: false });
  client = await db.pool.connect();
  const all = await loadMigrations();
  upTo11 = all.filter((m) => m.version <= 11);
  upTo12 = all.filter((m) => m.version <= 12);
  assert.ok(
    upTo12.some((m) => m.version === 12),
    'migration 0012 exists',
  );
  await migrateUp(client, upTo11);
  const { rows } = await client.query<{ id: number }>(
    `INSERT INTO organizations (name, aws_account_id) VALUES ('netam', '334455667788') RETURNING id`,
  );
  orgId = rows[0]?.id ?? 0;
  await ensureMonthlyPartitions(db.pool, 'cost_data', '2026-01-01', '2026-03-01');
  // Rows as a pre-0012 CostWatch loaded them (no NetAmortizedCost), rolled up by 0008's routine.
  await client.query(
    `INSERT INTO cost_data (organization_id, cost_date, grouping, service, linked_account, region, unblended_cost,
                            amortized_cost, net_unblended_cost, usage_quantity, unit, estimated)
     SELECT $1, date '2026-01-30' + d, 'account_service', 'Service ' || s, '11112222333' || a, '',
            1.25 * s, 1.5 * s, 1.2 * s, 10, 'USD', false
       FROM generate_series(0, 3) d, generate_series(1, 3) s, generate_series(1, 2) a`,
    [orgId],
  );
  await client.query(`SELECT cw_rebuild_cost_rollups($1, '2026-01-30', '2026-02-03')`, [orgId]);
});
after(async () => {
  client?.release();
  await db?.drop();
});

async function fingerprint(): Promise<string> {
  const parts: string[] = [];
  for (const table of ['cost_data', ...ROLLUPS]) {
    const { rows } = await client.query<{ f: string }>(
      `SELECT count(*) || ':' || sum(unblended_cost) || ':' || sum(amortized_cost) || ':' || sum(net_unblended_cost)
              || ':' || sum(usage_quantity) AS f FROM ${table}`,
    );
    parts.push(`${table}=${rows[0]?.f}`);
  }
  return parts.join(' ');
}

async function netAmortized(table: string): Promise<{ n: number; nulls: number; sum: string | null }> {
  const { rows } = await client.query<{ n: number; nulls: number; sum: string | null }>(
    `SELECT count(*)::int AS n, count(*) FILTER (WHERE net_amortized_cost IS NULL)::int AS nulls,
            sum(net_amortized_cost)::text AS sum FROM ${table}`,
  );
  return rows[0] ?? { n: 0, nulls: 0, sum: null };
}

test('0012 carries existing rows over with net_amortized_cost NULL; rollups keep NULL, then sum what has it', async () => {
  const before = await fingerprint();
  assert.deepEqual(await migrateUp(client, upTo12), ['0012_net_amortized']);
  assert.equal(await fingerprint(), before, 'every other value carried over');
  for (const table of ['cost_data', ...ROLLUPS]) {
    const have = await netAmortized(table);
    assert.ok(have.n > 0, table);
    assert.equal(have.nulls, have.n, `${table}: nothing invented`);
  }
  // Recomputing from the old rows does not invent it either.
  await client.query(`SELECT cw_rebuild_cost_rollups($1, '2026-01-30', '2026-02-03')`, [orgId]);
  for (const table of ROLLUPS) assert.equal((await netAmortized(table)).sum, null, table);

  // February re-fetched with NetAmortizedCost; January 30-31 still without it.
  await client.query(
    `UPDATE cost_data SET net_amortized_cost = amortized_cost * 0.97
      WHERE organization_id = $1 AND cost_date >= '2026-02-01'`,
    [orgId],
  );
  await client.query(`SELECT cw_rebuild_cost_rollups($1, '2026-01-30', '2026-02-03')`, [orgId]);
  const { rows: daily } = await client.query<{ day: string; n: string | null }>(
    `SELECT day::text, sum(net_amortized_cost)::text AS n FROM cost_rollup_daily
      WHERE dimension = 'service' GROUP BY day ORDER BY day`,
  );
  assert.deepEqual(
    daily.map((r) => [r.day, r.n]),
    [
      ['2026-01-30', null],
      ['2026-01-31', null],
      // (1.5 + 3 + 4.5) x 0.97 x 2 accounts
      ['2026-02-01', '17.460'],
      ['2026-02-02', '17.460'],
    ],
  );
  const { rows: monthly } = await client.query<{ month: string; nulls: number; n: number }>(
    `SELECT month::text, count(*) FILTER (WHERE net_amortized_cost IS NULL)::int AS nulls, count(*)::int AS n
       FROM cost_rollup_monthly WHERE dimension = 'service' GROUP BY month ORDER BY month`,
  );
  assert.deepEqual(monthly, [
    { month: '2026-01-01', nulls: 3, n: 3 },
    { month: '2026-02-01', nulls: 0, n: 3 },
  ]);
  // A day mixing rows with and without it (a partial load) is NULL, never a partial sum.
  await client.query(
    `UPDATE cost_data SET net_amortized_cost = NULL
      WHERE organization_id = $1 AND cost_date = '2026-02-02' AND linked_account = '111122223331'`,
    [orgId],
  );
  await client.query(`SELECT cw_rebuild_cost_rollups($1, '2026-02-02', '2026-02-03')`, [orgId]);
  const { rows: mixed } = await client.query<{ n: string | null }>(
    `SELECT net_amortized_cost::text AS n FROM cost_rollup_daily
      WHERE dimension = 'service' AND day = '2026-02-02'`,
  );
  assert.ok(mixed.length === 3 && mixed.every((r) => r.n === null));

  // The old names show it, and stay insertable with or without it.
  await client.query(
    `INSERT INTO cost_daily_service (organization_id, day, service, unblended_cost, amortized_cost, net_unblended_cost,
                                     usage_quantity, unit, estimated, net_amortized_cost)
     VALUES ($1, '2026-02-10', 'Fixture', 2, 2, 2, 0, 'USD', false, 1.9)`,
    [orgId],
  );
  await client.query(
    `INSERT INTO cost_daily_service (organization_id, day, service, unblended_cost, amortized_cost, net_unblended_cost,
                                     usage_quantity, unit, estimated)
     VALUES ($1, '2026-02-11', 'Fixture', 2, 2, 2, 0, 'USD', false)`,
    [orgId],
  );
  const { rows: view } = await client.query<{ day: string; n: string | null }>(
    `SELECT day::text, net_amortized_cost::text AS n FROM cost_daily_service WHERE service = 'Fixture' ORDER BY day`,
  );
  assert.deepEqual(view, [
    { day: '2026-02-10', n: '1.9' },
    { day: '2026-02-11', n: null },
  ]);
});

test('the rollback drops net_amortized_cost and nothing else; 0008 routine and views work again', async () => {
  const before = await fingerprint();
  assert.deepEqual(await migrateDown(client, 1, upTo12), ['0012_net_amortized']);
  assert.equal(await fingerprint(), before, 'every other value kept');
  const { rows: columns } = await client.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM information_schema.columns WHERE column_name = 'net_amortized_cost'`,
  );
  assert.equal(columns[0]?.n, 0);
  await client.query(`SELECT cw_rebuild_cost_rollups($1, '2026-01-30', '2026-02-03')`, [orgId]);
  await client.query(
    `INSERT INTO cost_daily_service (organization_id, day, service, unblended_cost, amortized_cost, net_unblended_cost,
                                     usage_quantity, unit, estimated)
     VALUES ($1, '2026-02-12', 'Fixture', 2, 2, 2, 0, 'USD', false)`,
    [orgId],
  );
  assert.deepEqual(await migrateUp(client, upTo12), ['0012_net_amortized']);
  assert.equal((await netAmortized('cost_data')).sum, null, 'a second up starts NULL again');
});
