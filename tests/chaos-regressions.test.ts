/**
 * Regression tests of the bugs the chaos suite (npm run test:chaos) found. Each runs against the
 * shared test Postgres and Redis, never restarting them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { DelayedError, type Job } from 'bullmq';
import { createPool, isConnectionError } from '../lib/db.js';
import { ConfigError, parseConfig } from '../lib/config.js';
import { createLogger } from '../lib/logger.js';
import type { Redis } from '../lib/redis.js';
import type { Queues } from '../producers/queues.js';
import { runFetchJob } from '../workers/fetch-job.js';
import { createRollupProcessor } from '../workers/rollup.worker.js';
import { adminUrl } from './helpers/db.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a checked-out Postgres client whose connection dies does not crash the process (Postgres restart killed every worker)', async () => {
  const pool = createPool({ connectionString: adminUrl(), max: 2, applicationName: 'costwatch-regression-dying-client' });
  const client = await pool.connect();
  const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  const admin = new pg.Client({ connectionString: adminUrl() });
  await admin.connect();
  try {
    // What a Postgres restart does to a worker that holds a client between two statements of a load.
    await admin.query('SELECT pg_terminate_backend($1)', [rows[0]?.pid]);
    await sleep(300);
    await assert.rejects(client.query('SELECT 1'), 'the dead client fails its next query');
    client.release(true);
    const again = await pool.query<{ one: number }>('SELECT 1 AS one');
    assert.equal(again.rows[0]?.one, 1, 'the pool hands out a fresh connection');
  } finally {
    await admin.end();
    await pool.end();
  }
});

test('jobs meeting an unreachable Postgres are delayed without spending attempts (a Postgres restart failed windows for good and left runs "running")', async () => {
  const pool = createPool({ connectionString: 'postgresql://nobody:x@127.0.0.1:1/none', max: 1, applicationName: 'costwatch-regression-db-down' });
  const log = createLogger({ level: 'silent', name: 'test' });
  let delayedUntil = 0;
  const fakeJob = (data: unknown) =>
    ({
      id: '7',
      name: 'fetch-costs',
      queueName: 'fetch-costs',
      data,
      attemptsMade: 5,
      opts: { attempts: 6 },
      moveToDelayed: async (timestamp: number) => {
        delayedUntil = timestamp;
      },
    }) as unknown as Job;
  try {
    const deps = { db: pool, redis: {} as unknown as Redis, log, prefix: 'x', throttleBackoffMs: 100, queues: {} as unknown as Queues };
    let worked = false;
    const fetchJob = fakeJob({ orgId: 1, from: '2026-01-01', to: '2026-01-08', trigger: 'backfill' });
    await assert.rejects(
      runFetchJob(fetchJob, 'token', deps, 'costs', async () => {
        worked = true;
        return { rows: 0, window: { from: '2026-01-01', to: '2026-01-08' } };
      }),
      DelayedError,
    );
    assert.equal(worked, false);
    assert.ok(delayedUntil > Date.now(), 'the fetch job was moved to delayed (its last attempt not spent)');
    delayedUntil = 0;
    const rollup = createRollupProcessor({ db: pool, redis: {} as unknown as Redis, prefix: 'x', log, queues: {} as unknown as Queues });
    await assert.rejects(rollup(fakeJob({ orgId: 1, source: 'costs', from: '2026-01-01', to: '2026-01-08' }), 'token'), DelayedError);
    assert.ok(delayedUntil > Date.now(), 'the rollup job was moved to delayed');
    // A statement error is not an outage: it follows the usual retries.
    assert.equal(isConnectionError(Object.assign(new Error('duplicate key value'), { code: '23505' })), false);
    assert.equal(isConnectionError(Object.assign(new Error('the database system is starting up'), { code: '57P03' })), true);
  } finally {
    await pool.end();
  }
});

test('config errors never echo the JWT secret or a URL password (they did: "(got "hunter2...")")', () => {
  const problems = (env: Record<string, string>): string => {
    try {
      parseConfig('worker', { DATABASE_URL: 'postgresql://u:p@h/db', REDIS_URL: 'redis://h:1', JWT_SECRET_KEY: 'k'.repeat(40), ...env });
      return '';
    } catch (error) {
      assert.ok(error instanceof ConfigError);
      return error.problems.join('\n');
    }
  };
  const short = problems({ JWT_SECRET_KEY: 'hunter2-short-secret' });
  assert.match(short, /^JWT_SECRET_KEY: must be at least 32 characters \(got a value of 20 characters\)$/);
  const db = problems({ DATABASE_URL: 'mysql://admin:hunter2pw@db/x' });
  assert.match(db, /^DATABASE_URL: must be a URL starting with postgres:\/\/ or postgresql:\/\/ \(got "mysql:\/\/admin:\*\*\*@db\/x"\)$/);
  const redis = problems({ REDIS_URL: 'http://:redispw99@h:1' });
  assert.ok(redis.startsWith('REDIS_URL:') && !redis.includes('redispw99'), redis);
  assert.match(problems({ PORT: 'abc' }), /PORT: must be a whole number \(got "abc"\)/, 'other values are still shown');
});
