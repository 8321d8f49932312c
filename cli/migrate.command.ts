/** `costwatch migrate up | down [N] | status`. */
import type { Command } from 'commander';
import pg from 'pg';
import { loadConfig, required } from '../lib/config.js';
import { migrateDown, migrateUp, migrationStatus } from '../database/migrator.js';

async function withClient<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const config = loadConfig('migrate');
  const client = new pg.Client({ connectionString: required(config, 'DATABASE_URL'), application_name: 'costwatch-migrate' });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

export function registerMigrateCommand(program: Command): void {
  const migrate = program.command('migrate').description('apply, roll back or list database migrations');
  migrate
    .command('up')
    .description('apply every pending migration, in order, each in its own transaction')
    .action(async () => {
      const applied = await withClient((c) => migrateUp(c));
      process.stdout.write(applied.length ? applied.map((m) => `applied ${m}\n`).join('') : 'database is up to date\n');
    });
  migrate
    .command('down')
    .argument('[count]', 'how many migrations to roll back (default 1; "all" for every one)', '1')
    .description('roll back the newest applied migrations')
    .action(async (count: string) => {
      const n = count === 'all' ? Number.MAX_SAFE_INTEGER : Number(count);
      if (!Number.isInteger(n) || n < 0) throw new Error(`count: must be a whole number or "all" (got ${JSON.stringify(count)})`);
      const rolledBack = await withClient((c) => migrateDown(c, n));
      process.stdout.write(rolledBack.length ? rolledBack.map((m) => `rolled back ${m}\n`).join('') : 'nothing to roll back\n');
    });
  migrate
    .command('status')
    .description('list every migration and whether it is applied')
    .action(async () => {
      const status = await withClient((c) => migrationStatus(c));
      for (const m of status) {
        const label = `${String(m.version).padStart(4, '0')}_${m.name}`;
        const state = m.appliedAt ? `applied ${m.appliedAt.toISOString()}${m.modified ? ' (file changed since!)' : ''}` : 'pending';
        process.stdout.write(`${label.padEnd(32)} ${state}\n`);
      }
      if (status.some((m) => !m.appliedAt)) process.exitCode = 1;
    });
}
