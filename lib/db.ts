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

/** Creates the process-wide pool. Connection errors (idle or checked-out clients) are logged, never crash the process. */
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
  // The pool listens for errors of idle clients only. A checked-out client whose connection dies
  // between two statements (Postgres restarted, backend terminated) emits 'error' with no query to
  // fail: without this listener that is an uncaught exception that kills the process. Its next
  // query fails instead, the job retries, and the pool discards the broken client on release.
  pool.on('connect', (client) => {
    client.on('error', (error) => options.log?.warn({ err: error }, 'postgres connection lost'));
  });
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

// Connection-level failures: the server is down, restarting, or dropped us (SQLSTATE class 08,
// 57P01-57P03), as opposed to an error of the statement itself.
const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', '57P01', '57P02', '57P03']);
const CONNECTION_MESSAGES = /Connection terminated|not queryable|timeout exceeded when trying to connect|the database system is (starting up|shutting down|in recovery)/i;

/** True when `error` says Postgres could not be reached (not that a statement failed). */
export function isConnectionError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as Error & { code?: unknown }).code;
  if (typeof code === 'string' && (CONNECTION_CODES.has(code) || code.startsWith('08'))) return true;
  return CONNECTION_MESSAGES.test(error.message);
}
