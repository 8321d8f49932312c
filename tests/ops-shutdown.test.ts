/**
 * SIGTERM, with real processes: `costwatch worker` while a fetch is in flight (the window is either
 * committed within the grace period, or handed back and completed by a second worker: never
 * half-loaded), `costwatch scheduler`, and `costwatch api` with a request in flight.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { startSimulator, type RunningSimulator } from '../sim/server.js';
import { expectedDailyTotal } from '../sim/data.js';
import { createOrganization, type CustomerOrganization as Organization } from '../database/repositories/organizations.repository.js';
import { createRedis, type Redis } from '../lib/redis.js';
import { createQueues, type Queues } from '../producers/queues.js';
import { enqueueBackfill } from '../producers/enqueue.js';
import { addDays, eachDay, todayUtc } from '../lib/dates.js';
import { createUser } from '../database/repositories/users.repository.js';
import { hashPassword } from '../api/auth/passwords.js';
import { baseEnv, startRole, waitUntil, type RunningRole } from './ops-support.js';
import { normDecimal } from './helpers/decimal.js';
import { discardQueues } from './helpers/queues.js';
import { pinnedClockEnv, TEST_NOW } from './helpers/clock.js';

const REDIS_URL = process.env.REDIS_URL ?? '';
const JWT = process.env.JWT_SECRET_KEY ?? 'ops-test-secret-ops-test-secret-0123456789';


/** GET that resolves to the status, or 'closed' when nothing listens any more (or it does not answer in 5 s). */
async function status(url: string): Promise<number | 'closed'> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return 'closed';
  }
}

/** Polls until the endpoint answers 200, or returns the last status after `ms`. */
async function readyWithin(url: string, ms: number): Promise<number | 'closed'> {
  const deadline = Date.now() + ms;
  let last = await status(url);
  while (last !== 200 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    last = await status(url);
  }
  return last;
}

interface Env {
  db: TestDatabase;
  sim: RunningSimulator;
  redis: Redis;
  queues: Queues;
  prefix: string;
  env(extra?: Record<string, string>): Record<string, string>;
  close(): Promise<void>;
}

async function setup(latencyMs: number): Promise<Env> {
  const db = await createTestDatabase();
  // The simulator and every spawned role read one pinned clock (TEST_NOW).
  const sim = await startSimulator({ port: 0, latencyMs, clockStart: TEST_NOW, clockFrozen: true });
  const prefix = `cwops${randomBytes(4).toString('hex')}`;
  const redis = createRedis(REDIS_URL, 'producer');
  const queues = createQueues(redis, { prefix, attempts: 6, backoffMs: 100 });
  return {
    db,
    sim,
    redis,
    queues,
    prefix,
    env: (extra = {}) =>
      baseEnv({
        DATABASE_URL: db.url,
        REDIS_URL,
        JWT_SECRET_KEY: JWT,
        QUEUE_PREFIX: prefix,
        AWS_ENDPOINT_URL: sim.url,
        ALLOW_INSECURE_AWS_ENDPOINT: 'true',
        METRICS_PORT: '0',
        HOST: '127.0.0.1',
        LOG_LEVEL: 'info',
        DB_POOL_SIZE: '4',
        CE_RATE_PER_ORG: '100',
        CW_RATE_PER_ORG: '200',
        RETRY_BACKOFF_MS: '100',
        ...pinnedClockEnv(TEST_NOW),
        ...extra,
      }),
    async close() {
      await discardQueues(queues);
      redis.disconnect();
      await sim.close();
      await db.drop();
    },
  };
}

/** Rows per (day, grouping) of an organization's cost window. */
async function rowsPerDay(
  db: pg.Pool,
  orgId: number,
  from: string,
  to: string,
): Promise<Map<string, number>> {
  const { rows } = await db.query<{ day: string; grouping: string; n: number }>(
    `SELECT cost_date AS day, grouping, count(*)::int AS n FROM cost_data
     WHERE organization_id = $1 AND cost_date >= $2 AND cost_date < $3 GROUP BY 1, 2`,
    [orgId, from, to],
  );
  return new Map(rows.map((r) => [`${r.day}|${r.grouping}`, r.n]));
}

async function runsOf(
  db: pg.Pool,
  orgId: number,
): Promise<Array<{ source: string; status: string; rows: number }>> {
  const { rows } = await db.query<{ source: string; status: string; rows: number }>(
    `SELECT source, status, rows_loaded::int AS rows FROM fetch_runs WHERE organization_id = $1 ORDER BY id`,
    [orgId],
  );
  return rows;
}

/** Waits until the costs fetch of the org has started (a fetch_runs row 'running') and AWS was called. */
async function waitForFetchInFlight(e: Env, orgId: number): Promise<void> {
  await waitUntil(
    'a cost fetch in flight',
    async () =>
      (await runsOf(e.db.pool, orgId)).some((r) => r.source === 'costs' && r.status === 'running') &&
      e.sim.control.requestCounts().total > 0,
    30_000,
    20,
  );
}

/**
 * SIGTERM a worker mid-fetch; checks /ready turns 503 (or closes) at once and the process exits
 * 0 within `graceSeconds` + margin. Returns the per-day row counts right after the exit.
 */
async function terminateMidFetch(
  e: Env,
  org: Organization,
  window: { from: string; to: string },
  graceSeconds: number,
): Promise<{
  snapshot: Map<string, number>;
  exitMs: number;
  readyAfterMs: number;
  worker: RunningRole;
  windows: number;
}> {
  const worker = startRole(
    ['worker'],
    e.env({ SHUTDOWN_GRACE_SECONDS: String(graceSeconds), JOB_LOCK_SECONDS: '5' }),
  );
  try {
    const started = await worker.waitForLog((l) => l.msg === 'worker started', 30_000);
    const port = Number(started.metricsPort);
    assert.ok(port > 0, 'worker started logs its metricsPort');
    assert.equal(await readyWithin(`http://127.0.0.1:${port}/ready`, 15_000), 200);
    const { windows } = await enqueueBackfill(
      e.queues,
      [org.id],
      window,
      31,
      `bf-${randomBytes(3).toString('hex')}`,
    );
    await waitForFetchInFlight(e, org.id);

    const signalledAt = Date.now();
    worker.child.kill('SIGTERM');
    let readyAfterMs = -1;
    await waitUntil(
      '/ready is 503 or closed after SIGTERM',
      async () => {
        const s = await status(`http://127.0.0.1:${port}/ready`);
        if (s === 503 || s === 'closed') readyAfterMs = Date.now() - signalledAt;
        return readyAfterMs >= 0;
      },
      3_000,
      25,
    );
    const exit = await worker.exited((graceSeconds + 10) * 1000);
    assert.equal(
      exit.code,
      0,
      `worker exit code ${exit.code ?? exit.signal}:\n${worker.lines.slice(-20).join('\n')}`,
    );
    const snapshot = await rowsPerDay(e.db.pool, org.id, window.from, window.to);
    return { snapshot, exitMs: Date.now() - signalledAt, readyAfterMs, worker, windows };
  } catch (error) {
    worker.kill();
    throw error;
  }
}

/** The final state: every day has both groupings, with the simulator's totals. */
async function assertWindowComplete(
  db: pg.Pool,
  org: Organization,
  window: { from: string; to: string },
): Promise<Map<string, number>> {
  const { rows } = await db.query<{ day: string; grouping: string; total: string }>(
    `SELECT cost_date AS day, grouping, sum(unblended_cost)::text AS total FROM cost_data
     WHERE organization_id = $1 AND cost_date >= $2 AND cost_date < $3 GROUP BY 1, 2`,
    [org.id, window.from, window.to],
  );
  const totals = new Map(rows.map((r) => [`${r.day}|${r.grouping}`, r.total]));
  for (const day of eachDay(window.from, window.to)) {
    const expected = normDecimal(expectedDailyTotal(org.awsAccountId, day));
    for (const grouping of ['account_service', 'region_service']) {
      assert.equal(normDecimal(totals.get(`${day}|${grouping}`) ?? 'missing'), expected, `${day} ${grouping}`);
    }
  }
  return rowsPerDay(db, org.id, window.from, window.to);
}

/** Every (day, grouping) right after the exit holds all of the final rows or none. */
function assertNeverHalfLoaded(
  snapshot: Map<string, number>,
  final: Map<string, number>,
): 'committed' | 'empty' {
  for (const [key, n] of snapshot)
    assert.equal(n, final.get(key), `${key}: ${n} rows after SIGTERM, ${final.get(key) ?? 0} when complete`);
  if (snapshot.size === 0) return 'empty';
  assert.equal(snapshot.size, final.size, 'some days committed, others not');
  return 'committed';
}

// Final days only: the simulator restates its most recent days.
const to = addDays(todayUtc(new Date(TEST_NOW)), -3);
const window = { from: addDays(to, -30), to };

describe('SIGTERM', { timeout: 240_000 }, () => {
  test('worker: the in-flight fetch finishes within the grace period, is committed whole, and the process exits 0', async (t) => {
    const e = await setup(250);
    try {
      const org = await createOrganization(e.db.pool, {
        name: 'graceful',
        awsAccountId: '210987654321',
        roleArn: 'arn:aws:iam::210987654321:role/CostWatchRead',
      });
      const { snapshot, exitMs, readyAfterMs } = await terminateMidFetch(e, org, window, 30);
      t.diagnostic(`/ready not ready ${readyAfterMs} ms after SIGTERM; exited ${exitMs} ms after SIGTERM`);
      assert.ok(readyAfterMs < 1_500, `/ready still 200 ${readyAfterMs} ms after SIGTERM`);
      const runs = await runsOf(e.db.pool, org.id);
      // The window may span two months (one fetch each): every cost fetch finished, none is left running.
      const costs = runs.filter((r) => r.source === 'costs');
      assert.ok(costs.length >= 1 && costs.every((r) => r.status === 'succeeded'), JSON.stringify(runs));
      const final = await assertWindowComplete(e.db.pool, org, window);
      assert.equal(assertNeverHalfLoaded(snapshot, final), 'committed');
    } finally {
      await e.close();
    }
  });

  test('worker: a fetch longer than the grace period is handed back, never half-loaded, and a second worker completes it', async (t) => {
    const e = await setup(1_500);
    let second: RunningRole | null = null;
    try {
      const org = await createOrganization(e.db.pool, {
        name: 'handed-back',
        awsAccountId: '345678901234',
        roleArn: 'arn:aws:iam::345678901234:role/CostWatchRead',
      });
      const { snapshot, exitMs, readyAfterMs, windows } = await terminateMidFetch(e, org, window, 1);
      t.diagnostic(
        `/ready not ready ${readyAfterMs} ms after SIGTERM; exited ${exitMs} ms after SIGTERM (grace 1 s)`,
      );
      assert.ok(exitMs < 6_000, `worker took ${exitMs} ms to exit with a 1 s grace period`);
      const handedBack = [...snapshot.values()].reduce((a, b) => a + b, 0);
      t.diagnostic(`rows of the window right after exit: ${handedBack}`);

      e.sim.control.setOptions({ latencyMs: 0 });
      second = startRole(['worker'], e.env({ JOB_LOCK_SECONDS: '5' }));
      await second.waitForLog((l) => l.msg === 'worker started', 30_000);
      await waitUntil(
        'the handed-back window is completed by the second worker',
        async () => {
          const { rows } = await e.db.pool.query<{ n: number }>(
            `SELECT count(DISTINCT (source, window_start))::int AS n FROM fetch_runs WHERE organization_id = $1 AND status = 'succeeded'`,
            [org.id],
          );
          return rows[0]?.n === windows * 2;
        },
        60_000,
        200,
      );
      const final = await assertWindowComplete(e.db.pool, org, window);
      const state = assertNeverHalfLoaded(snapshot, final);
      t.diagnostic(`after SIGTERM the window was ${state}`);
      second.child.kill('SIGTERM');
      assert.equal((await second.exited(30_000)).code, 0);
    } finally {
      second?.kill();
      await e.close();
    }
  });

  test('scheduler: exits 0 on SIGTERM, /ready turns 503 or closes', async () => {
    const e = await setup(0);
    const scheduler = startRole(['scheduler'], e.env());
    try {
      const started = await scheduler.waitForLog((l) => l.msg === 'scheduler started', 30_000);
      const port = Number(started.metricsPort);
      assert.equal(await readyWithin(`http://127.0.0.1:${port}/ready`, 15_000), 200);
      scheduler.child.kill('SIGTERM');
      const exit = await scheduler.exited(15_000);
      assert.equal(exit.code, 0, scheduler.lines.slice(-20).join('\n'));
      assert.ok(exit.ms < 10_000, `scheduler took ${exit.ms} ms to exit`);
      assert.equal(await status(`http://127.0.0.1:${port}/ready`), 'closed');
      assert.ok(scheduler.lines.some((l) => l.includes('"shutdown complete"')));
    } finally {
      scheduler.kill();
      await e.close();
    }
  });
  test('api: /ready stops answering, the in-flight request completes, the process exits 0', async (t) => {
    const e = await setup(0);
    const org = await createOrganization(e.db.pool, { name: 'api-org', awsAccountId: '456789012345', selfIdentity: true });
    const password = 'correct horse battery staple';
    await createUser(e.db.pool, {
      organizationId: org.id,
      email: 'ops@example.com',
      passwordHash: await hashPassword(password, 4),
      role: 'admin',
    });
    const api = startRole(['api'], e.env({ PORT: '0', SHUTDOWN_GRACE_SECONDS: '15' }));
    const blocker = new pg.Client({ connectionString: e.db.url });
    try {
      const listening = await api.waitForLog((l) => l.msg === 'api listening', 30_000);
      const base = `http://127.0.0.1:${Number(listening.port)}`;
      assert.equal(await status(`${base}/ready`), 200);
      const login = await fetch(`${base}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'ops@example.com', password }),
      });
      assert.equal(login.status, 200);
      const { access_token: token } = (await login.json()) as { access_token: string };

      // Hold a lock the request's query needs, so the request is in flight when SIGTERM arrives.
      await blocker.connect();
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE cost_daily_service IN ACCESS EXCLUSIVE MODE');
      const inFlight = fetch(`${base}/api/v1/costs/daily?from=2026-01-01&to=2026-01-31`, {
        headers: { authorization: `Bearer ${token}` },
        signal: AbortSignal.timeout(30_000),
      }).then(async (r) => ({ status: r.status, body: await r.text() }));
      await waitUntil('the request waits on the lock', async () => {
        const { rows } = await blocker.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
        );
        return (rows[0]?.n ?? 0) > 0;
      });

      const signalledAt = Date.now();
      api.child.kill('SIGTERM');
      let readyAfterMs = -1;
      await waitUntil(
        '/ready is 503 or closed after SIGTERM',
        async () => {
          const s = await status(`${base}/ready`);
          if (s === 503 || s === 'closed') readyAfterMs = Date.now() - signalledAt;
          return readyAfterMs >= 0;
        },
        3_000,
        25,
      );
      await new Promise((r) => setTimeout(r, 500));
      assert.ok(
        !api.lines.some((l) => l.includes('"api stopped"')),
        'the api stopped with a request in flight',
      );
      await blocker.query('ROLLBACK');
      const response = await inFlight;
      assert.equal(response.status, 200, response.body);
      const exit = await api.exited(20_000);
      assert.equal(exit.code, 0, api.lines.slice(-20).join('\n'));
      t.diagnostic(
        `/ready not ready ${readyAfterMs} ms after SIGTERM; exited ${Date.now() - signalledAt} ms after SIGTERM`,
      );
    } finally {
      api.kill();
      await blocker.end().catch(() => undefined);
      await e.close();
    }
  });
});
