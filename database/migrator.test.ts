import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../tests/helpers/db.js';
import { loadMigrations, migrateDown, migrateUp, migrationStatus, type Migration } from './migrator.js';
import { PROJECT_ROOT } from '../lib/paths.js';

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase({ migrate: false });
});
after(async () => db.drop());

async function schemaFingerprint(client: pg.ClientBase): Promise<string> {
  const { rows } = await client.query<{ line: string }>(`
    SELECT c.relname || ':' || c.relkind::text || ':' || coalesce(string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ',' ORDER BY a.attnum), '') AS line
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    WHERE n.nspname = 'public' AND c.relname NOT LIKE 'schema_migrations%'
    GROUP BY c.relname, c.relkind ORDER BY c.relname`);
  const constraints = await client.query<{ line: string }>(`
    SELECT conrelid::regclass || ':' || conname || ':' || pg_get_constraintdef(oid) AS line
    FROM pg_constraint WHERE connamespace = 'public'::regnamespace AND conrelid <> 'schema_migrations'::regclass ORDER BY 1`);
  return [...rows, ...constraints.rows].map((r) => r.line).join('\n');
}

function runCli(args: string[], env: Record<string, string | undefined>): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(PROJECT_ROOT, 'bin', 'costwatch.mjs'), ...args], {
      env: { PATH: process.env.PATH, ...env },
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) => resolve({ code, out }));
  });
}

test('every migration has its rollback and loads in order', async () => {
  const migrations = await loadMigrations();
  assert.ok(migrations.length >= 3);
  assert.deepEqual(migrations.map((m) => m.version), [...migrations.map((m) => m.version)].sort((a, b) => a - b));
});

test('up, down to 0, up again gives the same schema', async () => {
  const client = await db.pool.connect();
  try {
    const applied = await migrateUp(client);
    assert.ok(applied.length >= 3);
    const first = await schemaFingerprint(client);
    assert.match(first, /cost_data:p/);
    const rolledBack = await migrateDown(client, Number.MAX_SAFE_INTEGER);
    assert.equal(rolledBack.length, applied.length);
    assert.equal(await schemaFingerprint(client), '');
    await migrateUp(client);
    assert.equal(await schemaFingerprint(client), first);
    assert.ok((await migrationStatus(client)).every((m) => m.appliedAt !== null && !m.modified));
  } finally {
    client.release();
  }
});

test('concurrent `costwatch migrate up` from two processes applies each migration once', async () => {
  const fresh = await createTestDatabase({ migrate: false });
  try {
    const env = { DATABASE_URL: fresh.url };
    const [a, b] = await Promise.all([runCli(['migrate', 'up'], env), runCli(['migrate', 'up'], env)]);
    assert.equal(a.code, 0, a.out);
    assert.equal(b.code, 0, b.out);
    const appliedLines = (a.out + b.out).split('\n').filter((l) => l.startsWith('applied '));
    const migrations = await loadMigrations();
    assert.equal(appliedLines.length, migrations.length, `each migration applied once:\n${a.out}\n${b.out}`);
    const { rows } = await fresh.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM schema_migrations');
    assert.equal(rows[0]?.n, migrations.length);
    const status = await runCli(['migrate', 'status'], env);
    assert.equal(status.code, 0);
    for (const m of migrations) assert.match(status.out, new RegExp(`${m.name}\\s+applied`));
  } finally {
    await fresh.drop();
  }
});

test('a failing migration leaves the schema as before it', async () => {
  const fresh = await createTestDatabase({ migrate: false });
  const client = await fresh.pool.connect();
  try {
    const good = await loadMigrations();
    const broken: Migration = { version: 9999, name: 'broken', up: 'CREATE TABLE half_done (id int); SELECT 1/0;', down: 'DROP TABLE half_done;', checksum: 'x' };
    await assert.rejects(migrateUp(client, [...good, broken]), /division by zero/);
    const { rows } = await client.query<{ t: string | null }>(`SELECT to_regclass('half_done')::text AS t`);
    assert.equal(rows[0]?.t, null);
    const status = await migrationStatus(client, [...good, broken]);
    assert.deepEqual(status.filter((s) => !s.appliedAt).map((s) => s.name), ['broken']);
  } finally {
    client.release();
    await fresh.drop();
  }
});

test('`migrate status` exits non-zero while migrations are pending; a bad DATABASE_URL is named', async () => {
  const fresh = await createTestDatabase({ migrate: false });
  try {
    const status = await runCli(['migrate', 'status'], { DATABASE_URL: fresh.url });
    assert.equal(status.code, 1);
    assert.match(status.out, /pending/);
    const bad = await runCli(['migrate', 'up'], { DATABASE_URL: 'not a url' });
    assert.equal(bad.code, 1);
    assert.match(bad.out, /DATABASE_URL: must be a URL/);
    const missing = await runCli(['migrate', 'up'], {});
    assert.equal(missing.code, 1);
    assert.match(missing.out, /DATABASE_URL: environment variable required/);
  } finally {
    await fresh.drop();
  }
});
