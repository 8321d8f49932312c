import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestDatabase, type TestDatabase } from '../tests/helpers/db.js';
import type { Queryable } from '../lib/db.js';
import { ensureMonthlyPartitions } from './partitions.js';

// A pinned today: the partitions a row needs follow its date, not the calendar of the test run.
const TODAY = new Date('2026-11-18T06:00:00Z');

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase();
});
after(async () => db.drop());

function addMonths(date: Date, months: number): string {
  const d = new Date(
    Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + months, Math.min(date.getUTCDate(), 28)),
  );
  return d.toISOString().slice(0, 10);
}

test('a row for any date from 14 months back to 12 months ahead lands through the partition routine', async () => {
  const now = TODAY;
  const { rows: orgs } = await db.pool.query<{ id: number }>(
    `INSERT INTO organizations (name, aws_account_id) VALUES ('partitions', '111122223333') RETURNING id`,
  );
  const org = orgs[0]!.id;
  for (let m = -14; m <= 12; m++) {
    const day = addMonths(now, m);
    await db.pool.query(`SELECT ensure_monthly_partitions('cost_data', $1::date, $1::date)`, [day]);
    await db.pool.query(
      `INSERT INTO cost_data (organization_id, cost_date, grouping, service, linked_account, unblended_cost, amortized_cost, net_unblended_cost, usage_quantity)
       VALUES ($1, $2, 'account_service', 'Amazon S3', '111122223333', '1.2345678901', 1, 1, 0)`,
      [org, day],
    );
  }
  const { rows } = await db.pool.query<{ n: number; parts: number }>(
    `SELECT count(*)::int AS n, count(DISTINCT tableoid)::int AS parts FROM cost_data WHERE organization_id = $1`,
    [org],
  );
  assert.equal(rows[0]?.n, 27);
  assert.equal(rows[0]?.parts, 27);
  const amount = await db.pool.query<{ unblended_cost: string }>(
    'SELECT unblended_cost FROM cost_data LIMIT 1',
  );
  assert.equal(amount.rows[0]?.unblended_cost, '1.2345678901', 'numeric keeps every digit');
});

test('a month without a partition is an error, not a silent default', async () => {
  await assert.rejects(
    db.pool.query(
      `INSERT INTO cost_data (organization_id, cost_date, grouping, service, unblended_cost, amortized_cost, net_unblended_cost, usage_quantity)
       VALUES (1, '1999-01-01', 'account_service', 'x', 0, 0, 0, 0)`,
    ),
    /no partition/,
  );
});

test('ensure_monthly_partitions is idempotent and safe to run concurrently', async () => {
  const results = await Promise.all(
    Array.from({ length: 6 }, () =>
      db.pool.query<{ n: number }>(
        `SELECT ensure_monthly_partitions('cost_data', '2031-01-15', '2031-06-02') AS n`,
      ),
    ),
  );
  assert.equal(
    results.reduce((s, r) => s + (r.rows[0]?.n ?? 0), 0),
    6,
    'six months created once in total',
  );
  await assert.rejects(
    db.pool.query(`SELECT ensure_monthly_partitions('users', '2031-01-01', '2031-02-01')`),
    /unknown table/,
  );
});

test('the natural key rejects a duplicate', async () => {
  await ensureMonthlyPartitions(db.pool, 'cost_data', '2026-11-18', '2026-11-19');
  const insert = `INSERT INTO cost_data (organization_id, cost_date, grouping, service, linked_account, region, unblended_cost, amortized_cost, net_unblended_cost, usage_quantity)
                  VALUES (42, '2026-11-18', 'region_service', 'AWS Lambda', '', 'us-east-1', 1, 1, 1, 1)`;
  await db.pool.query(insert);
  await assert.rejects(db.pool.query(insert), /cost_data_natural_key|duplicate key/);
});

test('a window ending on the 1st, then one reaching into that month: the new month gets its partition', async () => {
  // The metrics refresh of a month's last day is [day before, 1st), the next day's reaches into
  // the new month. Both used to be remembered as the same pair of months, so a warm worker skipped
  // the new month's partition and every load of the 1st failed with "no partition".
  for (const table of ['cloudwatch_metrics', 'cost_data'] as const) {
    await ensureMonthlyPartitions(db.pool, table, '2033-03-30', '2033-04-01');
    const before = await db.pool.query<{ t: string | null }>(`SELECT to_regclass($1)::text AS t`, [
      `${table}_y2033m04`,
    ]);
    assert.equal(before.rows[0]?.t, null, 'a window that ends on the 1st needs no partition of that month');
    await ensureMonthlyPartitions(db.pool, table, '2033-03-31', '2033-04-02');
    const after = await db.pool.query<{ t: string | null }>(`SELECT to_regclass($1)::text AS t`, [
      `${table}_y2033m04`,
    ]);
    assert.equal(after.rows[0]?.t, `${table}_y2033m04`, `${table}: the partition of the 1st exists`);
  }
});

test('ensureMonthlyPartitions remembers partitions per database: a second database of the same process gets its own', async () => {
  const other = await createTestDatabase();
  try {
    const insert = (target: TestDatabase) =>
      target.pool.query(
        `INSERT INTO cost_data (organization_id, cost_date, grouping, service, linked_account, unblended_cost, amortized_cost, net_unblended_cost, usage_quantity)
         VALUES (7, '2032-07-15', 'account_service', 'Amazon S3', '111122223333', 1, 1, 1, 0)`,
      );
    await ensureMonthlyPartitions(db.pool, 'cost_data', '2032-07-01', '2032-08-01');
    await insert(db);
    await ensureMonthlyPartitions(other.pool, 'cost_data', '2032-07-01', '2032-08-01');
    await insert(other);
    const { rows } = await other.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM cost_data WHERE cost_date = '2032-07-15'`,
    );
    assert.equal(rows[0]?.n, 1);
  } finally {
    await other.drop();
  }
});

test('jobs that start together share one partition round trip; a failed one is tried again', async () => {
  let calls = 0;
  let failNext = true;
  const counting: Queryable = {
    query: ((...args: Parameters<Queryable['query']>) => {
      calls += 1;
      if (failNext) {
        failNext = false;
        return Promise.reject(new Error('connection reset'));
      }
      return db.pool.query(...args);
    }) as Queryable['query'],
  };
  await assert.rejects(
    ensureMonthlyPartitions(counting, 'cost_data', '2034-05-01', '2034-06-01'),
    /connection reset/,
  );
  await Promise.all(
    Array.from({ length: 6 }, () =>
      ensureMonthlyPartitions(counting, 'cost_data', '2034-05-03', '2034-05-20'),
    ),
  );
  assert.equal(calls, 2, 'the failure was forgotten, then six concurrent callers made one call');
  const { rows } = await db.pool.query<{ t: string | null }>(
    `SELECT to_regclass('cost_data_y2034m05')::text AS t`,
  );
  assert.equal(rows[0]?.t, 'cost_data_y2034m05');
});
