/**
 * Test databases: each test file gets its own freshly migrated database on the Postgres that
 * `npm test` started (DATABASE_URL), so files run in parallel without seeing each other's rows.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createPool, type Pool } from '../../lib/db.js';
import { migrateUp } from '../../database/migrator.js';

export function adminUrl(): string {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error('DATABASE_URL: environment variable required (run the tests with `npm test`)');
  return url;
}

export interface TestDatabase {
  url: string;
  name: string;
  pool: Pool;
  drop(): Promise<void>;
}

/** The same connection URL, naming another database. */
export function withDatabase(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${name}`;
  return parsed.toString();
}

/**
 * Creates an empty database (migrated unless `migrate: false`) and a pool on it. `prefix` names
 * it (benchmarks use `cw_bench_`).
 */
export async function createTestDatabase(
  options: { migrate?: boolean; poolSize?: number; prefix?: string; applicationName?: string } = {},
): Promise<TestDatabase> {
  const name = `${options.prefix ?? 'cw_test_'}${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl() });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = withDatabase(adminUrl(), name);
  if (options.migrate !== false) {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await migrateUp(client);
    await client.end();
  }
  const pool = createPool({ connectionString: url, max: options.poolSize ?? 5, applicationName: options.applicationName ?? 'costwatch-test' });
  return {
    url,
    name,
    pool,
    async drop() {
      await pool.end();
      const c = new pg.Client({ connectionString: adminUrl() });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}
