/**
 * Migration 0015: a platform organization that an older CostWatch marked access_denied (its
 * `backfill --all` and an operator's refresh without org_id fetched it) is active again with its
 * error cleared; a customer organization's access_denied is AWS's word and stays.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type pg from 'pg';
import { loadMigrations, migrateUp } from '../database/migrator.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';

let db: TestDatabase;
let client: pg.PoolClient;

before(async () => {
  db = await createTestDatabase({ migrate: false });
  client = await db.pool.connect();
});
after(async () => {
  client?.release();
  await db?.drop();
});

test('0015 gives the platform organization back its active status; customers keep theirs', async () => {
  const all = await loadMigrations();
  assert.ok(
    all.some((m) => m.version === 15),
    'migration 0015 exists',
  );
  await migrateUp(
    client,
    all.filter((m) => m.version < 15),
  );
  const denied = `status = 'access_denied', last_error = 'AWS denied AssumeRole', last_error_remedy = 'fix the role',
    last_error_at = now(), last_error_code = 'aws_no_identity', last_error_public = 'denied',
    last_error_public_remedy = 'fix it'`;
  const { rows: made } = await client.query<{ id: number; kind: string }>(
    `WITH p AS (INSERT INTO organizations (name, kind) VALUES ('operators', 'platform') RETURNING id, kind),
          c AS (INSERT INTO organizations (name, aws_account_id) VALUES ('customer', '111122223333') RETURNING id, kind)
     SELECT * FROM p UNION ALL SELECT * FROM c`,
  );
  await client.query(`UPDATE organizations SET ${denied}`);
  await migrateUp(client, all);
  const { rows } = await client.query<{ kind: string; status: string; errors: number }>(
    `SELECT kind, status,
            num_nonnulls(last_error, last_error_remedy, last_error_at, last_error_code, last_error_public,
                         last_error_public_remedy)::int AS errors
       FROM organizations WHERE id = ANY($1) ORDER BY kind`,
    [made.map((m) => m.id)],
  );
  assert.deepEqual(rows, [
    { kind: 'customer', status: 'access_denied', errors: 6 },
    { kind: 'platform', status: 'active', errors: 0 },
  ]);
});
