/**
 * Postgres pool factory and transaction helper. Dates come back as 'YYYY-MM-DD' strings and
 * numerics as strings (pg's default), so amounts are never turned into floats.
 */
import pg from 'pg';
import type { Logger } from './logger.js';

// DATE columns: keep the calendar date as text instead of a local-midnight JS Date.
pg.types.setTypeParser(pg.types.builtins.DATE, (value: string) => value);
// int8 (bigint ids, counts): JS numbers are exact up to 2^53, far above any id or count here.
pg.types.setTypeParser(pg.types.builtins.INT8, (value: string) => Number(value));

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;
/** Anything that can run a query: the pool or a checked-out client inside a transaction. */
export type Queryable = Pick<pg.Pool, 'query'>;

export interface PoolOptions {
  connectionString: string;
  max: number;
  applicationName: string;
  log?: Logger;
  statementTimeoutMs?: number;
}

/** Creates the process-wide pool. Idle-client errors are logged, never crash the process. */
export function createPool(options: PoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.max,
    application_name: options.applicationName,
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
    ...(options.statementTimeoutMs ? { statement_timeout: options.statementTimeoutMs } : {}),
  });
  pool.on('error', (error) => options.log?.warn({ err: error }, 'idle postgres client error'));
  return pool;
}

/** Runs `work` in a transaction on one client; rolls back on any error and rethrows it. */
export async function withTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}
