/**
 * Migration runner: numbered SQL files `NNNN_name.up.sql` / `NNNN_name.down.sql` under
 * database/migrations, applied in order, each in its own transaction together with its ledger row
 * (`schema_migrations`), under a transaction-scoped advisory lock so concurrent starters wait for
 * the winner and then find nothing to do. A failing migration leaves the schema as it was.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import { MIGRATIONS_DIR } from '../lib/paths.js';

const LOCK_KEY = 'costwatch.migrations';

export interface Migration {
  version: number;
  name: string;
  up: string;
  down: string;
  checksum: string;
}

export interface MigrationStatus {
  version: number;
  name: string;
  appliedAt: Date | null;
  /** The file changed after it was applied. */
  modified: boolean;
}

/** Reads and pairs the migration files; throws on a missing rollback or duplicate number. */
export async function loadMigrations(dir: string = MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort();
  const byVersion = new Map<number, { name: string; up?: string; down?: string }>();
  for (const file of files) {
    const match = /^(\d{4})_([a-z0-9_]+)\.(up|down)\.sql$/.exec(file);
    if (!match?.[1] || !match[2] || !match[3]) throw new Error(`migration file ${file}: name must be NNNN_name.up.sql or NNNN_name.down.sql`);
    const version = Number(match[1]);
    const entry = byVersion.get(version) ?? { name: match[2] };
    if (entry.name !== match[2]) throw new Error(`migration ${version}: two names, ${entry.name} and ${match[2]}`);
    const sql = await readFile(path.join(dir, file), 'utf8');
    if (match[3] === 'up') entry.up = sql;
    else entry.down = sql;
    byVersion.set(version, entry);
  }
  return [...byVersion.entries()]
    .sort(([a], [b]) => a - b)
    .map(([version, entry]) => {
      if (entry.up === undefined) throw new Error(`migration ${version}_${entry.name}: missing .up.sql`);
      if (entry.down === undefined) throw new Error(`migration ${version}_${entry.name}: missing .down.sql (every migration needs its rollback)`);
      const checksum = createHash('sha256').update(entry.up).digest('hex');
      return { version, name: entry.name, up: entry.up, down: entry.down, checksum };
    });
}

async function ensureLedger(client: pg.ClientBase): Promise<void> {
  await client.query(`
    CREATE TABLE IF NOT EXISTS schema_migrations (
      version    integer PRIMARY KEY,
      name       text NOT NULL,
      checksum   text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
}

async function appliedVersions(client: pg.ClientBase): Promise<Map<number, { checksum: string; appliedAt: Date }>> {
  const { rows } = await client.query<{ version: number; checksum: string; applied_at: Date }>(
    'SELECT version, checksum, applied_at FROM schema_migrations ORDER BY version',
  );
  return new Map(rows.map((r) => [r.version, { checksum: r.checksum, appliedAt: r.applied_at }]));
}

/** Runs one step (a migration up or down) with its ledger change in one locked transaction. */
async function step(
  client: pg.ClientBase,
  pick: (applied: Map<number, { checksum: string; appliedAt: Date }>) => { sql: string; record: string; params: unknown[]; label: string } | null,
): Promise<string | null> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [LOCK_KEY]);
    await ensureLedger(client);
    const chosen = pick(await appliedVersions(client));
    if (chosen === null) {
      await client.query('COMMIT');
      return null;
    }
    await client.query(chosen.sql);
    await client.query(chosen.record, chosen.params);
    await client.query('COMMIT');
    return chosen.label;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/** Applies every pending migration in order; returns the labels applied. */
export async function migrateUp(client: pg.ClientBase, migrations?: Migration[]): Promise<string[]> {
  const all = migrations ?? (await loadMigrations());
  const applied: string[] = [];
  for (;;) {
    const label = await step(client, (done) => {
      const next = all.find((m) => !done.has(m.version));
      if (!next) return null;
      return {
        sql: next.up,
        record: 'INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)',
        params: [next.version, next.name, next.checksum],
        label: `${String(next.version).padStart(4, '0')}_${next.name}`,
      };
    });
    if (label === null) return applied;
    applied.push(label);
  }
}

/** Rolls back the newest `count` applied migrations (default 1); returns the labels rolled back. */
export async function migrateDown(client: pg.ClientBase, count = 1, migrations?: Migration[]): Promise<string[]> {
  const all = migrations ?? (await loadMigrations());
  const rolledBack: string[] = [];
  for (let i = 0; i < count; i++) {
    const label = await step(client, (done) => {
      const newest = [...done.keys()].sort((a, b) => b - a)[0];
      if (newest === undefined) return null;
      const migration = all.find((m) => m.version === newest);
      if (!migration) throw new Error(`migration ${newest} is applied but its files are missing; cannot roll it back`);
      return {
        sql: migration.down,
        record: 'DELETE FROM schema_migrations WHERE version = $1',
        params: [migration.version],
        label: `${String(migration.version).padStart(4, '0')}_${migration.name}`,
      };
    });
    if (label === null) break;
    rolledBack.push(label);
  }
  return rolledBack;
}

/**
 * Checksums an applied migration file may have had before a rewrite that creates the same schema
 * (`costwatch doctor` does not report those as modified): 0004's cost rollup routine became one
 * loop over its three tables instead of three copies of the statements (issue 13).
 */
const EQUIVALENT_CHECKSUMS: Readonly<Record<number, readonly string[]>> = {
  4: ['e85bd6dc4a52b2ae366f498c6a3238ce2a9b2697d31feee531cc64075e5edac3'],
};

/** Every known migration with whether (and when) it is applied. */
export async function migrationStatus(client: pg.ClientBase, migrations?: Migration[]): Promise<MigrationStatus[]> {
  const all = migrations ?? (await loadMigrations());
  const exists = await client.query<{ t: string | null }>(`SELECT to_regclass('schema_migrations')::text AS t`);
  const done = exists.rows[0]?.t ? await appliedVersions(client) : new Map<number, { checksum: string; appliedAt: Date }>();
  return all.map((m) => {
    const applied = done.get(m.version);
    const modified =
      applied !== undefined && applied.checksum !== m.checksum && !EQUIVALENT_CHECKSUMS[m.version]?.includes(applied.checksum);
    return { version: m.version, name: m.name, appliedAt: applied?.appliedAt ?? null, modified };
  });
}
