/**
 * streamCostExport against the real Postgres: an export outlives the pool's statement_timeout
 * while its reader is slow (back-pressure stops the COPY, the clock keeps running), the CSV is
 * exact, and an aborted export gives its connection back closed (the pool stays usable).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { createPool, type Pool } from '../../lib/db.js';
import { createTestDatabase, type TestDatabase } from '../../tests/helpers/db.js';
import { streamCostExport } from './export.repository.js';

let db: TestDatabase;
let pool: Pool;
let orgId: number;
const ROWS = 20 * 50 * 100;

before(async () => {
  db = await createTestDatabase();
  // As the API's pool: a statement timeout for ordinary queries, far shorter than an export.
  pool = createPool({
    connectionString: db.url,
    max: 2,
    applicationName: 'export-test',
    statementTimeoutMs: 300,
  });
  const { rows } = await db.pool.query<{ id: number }>(
    `INSERT INTO organizations (name, aws_account_id) VALUES ('export', '123456789012') RETURNING id`,
  );
  orgId = rows[0]?.id ?? 0;
  await db.pool.query(
    `INSERT INTO cost_rollup_daily_by_service
     SELECT $1, 'account', date '2026-01-01' + d, 'Service ' || s, lpad(a::text, 12, '0'), 1.25, 1, 1, 0, '', 'USD', false
       FROM generate_series(0, 99) d, generate_series(1, 20) s, generate_series(1, 50) a`,
    [orgId],
  );
});
after(async () => {
  await pool.end();
  await db.drop();
});

const query = () => ({
  orgId,
  dimension: 'account',
  from: '2026-01-01',
  to: '2026-04-10',
  format: 'csv' as const,
  serviceCategories: {},
});

test('a slowly read export outlives the statement timeout and is complete', async () => {
  const exp = await streamCostExport(pool, query());
  let lines = 0;
  let first = true;
  try {
    for await (const chunk of exp.stream) {
      lines += (chunk as Buffer).toString('utf8').split('\n').length - 1;
      if (first) {
        // The reader stalls longer than statement_timeout while Postgres waits on the full socket.
        await sleep(800);
        first = false;
      }
    }
    await exp.done();
  } catch (error) {
    await exp.done(error);
    throw error;
  }
  assert.equal(lines, ROWS + 1, 'every row and the header');
  const { rows } = await pool.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM cost_rollup_daily_by_service',
  );
  assert.equal(rows[0]?.n, ROWS, 'the pool still answers');
});

test('an export abandoned mid-stream releases its connection closed; the pool keeps working', async () => {
  const exp = await streamCostExport(pool, query());
  for await (const _chunk of exp.stream) break;
  await exp.done(new Error('client went away'));
  for (let i = 0; i < 3; i++) {
    const { rows } = await pool.query<{ one: number }>('SELECT 1 AS one');
    assert.equal(rows[0]?.one, 1);
  }
});
