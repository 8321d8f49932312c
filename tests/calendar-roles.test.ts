/**
 * Every role's main builds its one clock from CLOCK_START / CLOCK_FROZEN: `costwatch backfill`,
 * `scheduler`, `worker` and `api` processes pinned to a leap day years from the real calendar
 * decide that day's limits, windows, forecast and summary. The simulator runs in-process on the
 * same pinned instant (its clockStart option); `tests/calendar.test.ts` covers the dates in depth.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { hashPassword } from '../api/auth/passwords.js';
import { createOrganization } from '../database/repositories/organizations.repository.js';
import { createUser } from '../database/repositories/users.repository.js';
import { JOB_NAMES } from '../lib/jobs.js';
import { createRedis } from '../lib/redis.js';
import { createQueues } from '../producers/queues.js';
import { startSimulator } from '../sim/server.js';
import { pinnedClockEnv } from './helpers/clock.js';
import { createTestDatabase } from './helpers/db.js';
import { discardQueues } from './helpers/queues.js';
import { baseEnv, runCli, startRole, waitUntil, type RunningRole } from './ops-support.js';

const AT = '2028-02-29T06:00:00Z';
const ACCOUNT = '920000000001';
const PASSWORD = 'calendar roles password';

test(
  'spawned roles read CLOCK_START: backfill limits, the tick, the fetch, the forecast and the summary are of 2028-02-29',
  { timeout: 240_000 },
  async () => {
    const db = await createTestDatabase();
    const sim = await startSimulator({ port: 0, clockStart: AT, clockFrozen: true });
    const prefix = `cwclock${randomBytes(4).toString('hex')}`;
    const redis = createRedis(process.env.REDIS_URL ?? '', 'producer');
    const queues = createQueues(redis, { prefix, attempts: 3, backoffMs: 100 });
    const env = baseEnv({
      DATABASE_URL: db.url,
      REDIS_URL: process.env.REDIS_URL,
      JWT_SECRET_KEY: process.env.JWT_SECRET_KEY ?? 'calendar-test-secret-calendar-test-secret-01',
      QUEUE_PREFIX: prefix,
      AWS_ENDPOINT_URL: sim.url,
      ALLOW_INSECURE_AWS_ENDPOINT: 'true',
      METRICS_PORT: '0',
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      CE_RATE_PER_ORG: '100',
      CW_RATE_PER_ORG: '200',
      API_CACHE_TTL_SECONDS: '0',
      // Ticks come from the test; the Job Scheduler's own (Jan 1st) never does.
      REFRESH_CRON: '0 0 1 1 *',
      ...pinnedClockEnv(AT),
    });
    const roles: RunningRole[] = [];
    try {
      const org = await createOrganization(db.pool, {
        name: 'leap day',
        awsAccountId: ACCOUNT,
        roleArn: `arn:aws:iam::${ACCOUNT}:role/CostWatchRead`,
      });
      await createUser(db.pool, {
        organizationId: org.id,
        email: 'leap@calendar.example',
        passwordHash: await hashPassword(PASSWORD, 4),
        role: 'viewer',
      });

      // costwatch backfill: its "future" and its 13 months are the pinned clock's.
      const future = await runCli(
        ['backfill', '--org', String(org.id), '--from', '2028-02-01', '--to', '2028-03-01'],
        env,
      );
      assert.notEqual(future.code, 0);
      assert.match(future.stderr, /--to: 2028-03-01 is in the future \(today is 2028-02-29 UTC\)/);
      const tooOld = await runCli(
        ['backfill', '--org', String(org.id), '--from', '2026-12-31', '--to', '2027-01-31'],
        env,
      );
      assert.notEqual(tooOld.code, 0);
      assert.match(
        tooOld.stderr,
        /--from: Cost Explorer serves 13 months of history; the earliest date is 2027-01-01 \(got 2026-12-31\)/,
      );
      const history = await runCli(
        ['backfill', '--org', String(org.id), '--from', '2028-01-01', '--to', '2028-01-31'],
        env,
      );
      assert.equal(history.code, 0, history.stderr);

      const worker = startRole(['worker'], env);
      const scheduler = startRole(['scheduler'], env);
      const api = startRole(['api'], env);
      roles.push(worker, scheduler, api);
      await worker.waitForLog((l) => l.msg === 'worker started', 60_000);
      await scheduler.waitForLog((l) => l.msg === 'scheduler started', 60_000);
      const base = `http://127.0.0.1:${Number((await api.waitForLog((l) => l.msg === 'api listening', 60_000)).port)}`;

      // A tick, processed by the scheduler process.
      await queues.scheduler.add(JOB_NAMES.refreshTick, {});
      const scheduledRuns = async () =>
        (
          await db.pool.query<{ source: string; window_start: string; window_end: string; status: string }>(
            `SELECT source, window_start, window_end, status FROM fetch_runs
           WHERE organization_id = $1 AND trigger = 'scheduled' AND rolled_up_at IS NOT NULL ORDER BY source`,
            [org.id],
          )
        ).rows;
      await waitUntil(
        'the scheduled refresh is loaded and rolled up',
        async () => (await scheduledRuns()).length === 2,
        120_000,
        200,
      );
      assert.deepEqual(
        (await scheduledRuns()).map((r) => [r.source, r.window_start, r.window_end, r.status]),
        [
          ['costs', '2028-02-01', '2028-03-01', 'succeeded'],
          ['metrics', '2028-02-28', '2028-03-01', 'succeeded'],
        ],
      );

      const login = await fetch(`${base}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'leap@calendar.example', password: PASSWORD }),
      });
      assert.equal(login.status, 200);
      const { access_token: token } = (await login.json()) as { access_token: string };
      const summary = async () => {
        const res = await fetch(`${base}/api/v1/costs/summary`, {
          headers: { authorization: `Bearer ${token}` },
        });
        assert.equal(res.status, 200);
        return (await res.json()) as {
          as_of: string;
          month_to_date: { from: string; to: string };
          previous_period: { from: string; to: string };
          forecast: { month: string } | null;
        };
      };
      await waitUntil(
        'the forecast of February 2028 is served',
        async () => (await summary()).forecast !== null,
        60_000,
        250,
      );
      const s = await summary();
      assert.equal(s.as_of, '2028-02-29');
      assert.deepEqual([s.month_to_date.from, s.month_to_date.to], ['2028-02-01', '2028-02-29']);
      assert.deepEqual([s.previous_period.from, s.previous_period.to], ['2028-01-01', '2028-01-29']);
      assert.equal(s.forecast?.month, '2028-02-01');

      for (const role of roles) role.child.kill('SIGTERM');
      for (const role of roles) assert.equal((await role.exited(30_000)).code, 0);
    } finally {
      for (const role of roles) role.kill();
      await discardQueues(queues);
      redis.disconnect();
      await sim.close();
      await db.drop();
    }
  },
);
