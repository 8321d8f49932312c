/** What the operator commands share: a short-lived Postgres pool and flag parsing. */
import { clockFromConfig } from '../lib/clock.js';
import { loadConfig, required, type Config } from '../lib/config.js';
import { createPool, type Pool } from '../lib/db.js';

/** Runs `work` with a small pool on DATABASE_URL (the CLI's config unless one is given), then closes it. */
export async function withPool<T>(
  work: (pool: Pool) => Promise<T>,
  config: Config = loadConfig('cli'),
): Promise<T> {
  const pool = createPool({
    connectionString: required(config, 'DATABASE_URL'),
    max: 2,
    applicationName: 'costwatch-cli',
  });
  try {
    return await work(pool);
  } finally {
    await pool.end();
  }
}

/** A flag that must be a positive whole number (an id, a count). */
export function wholeNumber(flag: string, value: string): number {
  if (!/^\d{1,15}$/.test(value) || Number(value) < 1)
    throw new Error(`${flag}: must be a positive whole number, got ${JSON.stringify(value)}`);
  return Number(value);
}

/** The CLI's "now": the injected clock (CLOCK_START pins it), never the wall clock for a date. */
export function cliNow(config: Config = loadConfig('cli')): Date {
  return clockFromConfig(config)();
}
