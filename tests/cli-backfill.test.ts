/**
 * `costwatch backfill --wait`, the real CLI against real services: it gives up within seconds when
 * no worker consumes its queues under this QUEUE_PREFIX (the doctor's queue check), and a backfill
 * whose windows failed neither fills the bar nor ends silently: it prints the first error and its
 * remedy and exits 1.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { addDays } from '../lib/dates.js';
import { pinnedClockEnv, TEST_NOW } from './helpers/clock.js';
import {
  createOrganization,
  createPlatformOrganization,
} from '../database/repositories/organizations.repository.js';
import { enqueueBackfill } from '../producers/enqueue.js';
import { createQueues } from '../producers/queues.js';
import { startSimulator, type RunningSimulator } from '../sim/server.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { baseEnv, runCli, startRole, waitUntil, type RunningRole } from './ops-support.js';

const REDIS_URL = process.env.REDIS_URL ?? '';
// The CLI checks --to against its own today; one day a few days back is always one window per source.
const DAY = addDays(TEST_NOW.slice(0, 10), -3);

describe('costwatch backfill --wait', () => {
  let db: TestDatabase;
  let sim: RunningSimulator;
  const prefix = `bfcli_${randomBytes(4).toString('hex')}`;
  let env: Record<string, string>;
  const roles: RunningRole[] = [];

  before(async () => {
    db = await createTestDatabase();
    sim = await startSimulator({ port: 0, clockStart: TEST_NOW, clockFrozen: true });
    env = baseEnv({
      ...pinnedClockEnv(TEST_NOW),
      DATABASE_URL: db.url,
      REDIS_URL,
      QUEUE_PREFIX: prefix,
      AWS_ENDPOINT_URL: sim.url,
      ALLOW_INSECURE_AWS_ENDPOINT: 'true',
      AWS_REGION: 'us-east-1',
      LOG_LEVEL: 'info',
      JWT_SECRET_KEY: 'backfill-test-secret-backfill-test-secret-0123',
      METRICS_PORT: '0',
      // One attempt each, so a failing window fails for good at once.
      FETCH_ATTEMPTS: '1',
      AWS_MAX_ATTEMPTS: '1',
      RETRY_BACKOFF_MS: '100',
    });
  });

  after(async () => {
    for (const role of roles) role.kill();
    const redis = new Redis(REDIS_URL, { lazyConnect: true });
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
    await redis.quit();
    await sim.close();
    await db.drop();
  });

  test('no worker under this QUEUE_PREFIX: says so within seconds and exits 1', async () => {
    const org = await createOrganization(db.pool, {
      name: 'unserved',
      awsAccountId: '123456789012',
      roleArn: 'arn:aws:iam::123456789012:role/CostWatchRead',
    });
    const run = await runCli(
      ['backfill', '--org', String(org.id), '--from', DAY, '--to', DAY, '--wait'],
      env,
      60_000,
    );
    assert.equal(run.code, 1, run.stderr);
    assert.ok(run.ms < 30_000, `gave up after ${run.ms} ms`);
    assert.match(
      run.stderr,
      new RegExp(
        `queue fetch-(costs|metrics): 1 job\\(s\\) waiting and no worker is connected to this queue under prefix ${prefix}`,
      ),
    );
    assert.match(run.stderr, new RegExp(`same REDIS_URL and QUEUE_PREFIX \\(${prefix}\\): costwatch worker`));
    // Leave nothing queued for the worker of the next tests.
    const redis = new Redis(REDIS_URL);
    try {
      for (const queue of ['fetch-costs', 'fetch-metrics']) {
        const keys = await redis.keys(`${prefix}:${queue}:*`);
        if (keys.length > 0) await redis.del(...keys);
      }
    } finally {
      await redis.quit();
    }
  });

  test('every window failed: no full bar, the first error and its remedy, exit 1', async () => {
    const worker = startRole(['worker'], env);
    roles.push(worker);
    await worker.waitForLog((l) => l.msg === 'worker started', 60_000);

    // Permission error: the organization records a remedy; its other windows are skipped.
    const denied = await createOrganization(db.pool, {
      name: 'denied',
      awsAccountId: '222233334444',
      roleArn: 'arn:aws:iam::222233334444:role/CostWatchRead',
    });
    sim.control.setOptions({ accessDeniedAccounts: ['222233334444'] });
    const run = await runCli(
      ['backfill', '--org', String(denied.id), '--from', DAY, '--to', DAY, '--wait'],
      env,
      90_000,
    );
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /0\/2 windows loaded and rolled up/);
    assert.match(
      run.stderr,
      new RegExp(
        `first error: organization ${denied.id} \\(denied\\), (costs|metrics) ${DAY}\\.\\.${DAY}: AWS denied`,
      ),
    );
    assert.match(run.stderr, new RegExp(`remedy: .*costwatch org enable --id ${denied.id}`));
    assert.match(
      run.stderr,
      new RegExp(
        `run the backfill again: costwatch backfill --org ${denied.id} --from ${DAY} --to ${DAY} --wait`,
      ),
    );

    // A server error on every request: all windows fail, the bar stays at 0 of 2.
    sim.control.setOptions({ accessDeniedAccounts: [], errorRate: 1 });
    const broken = await createOrganization(db.pool, {
      name: 'broken',
      awsAccountId: '333344445555',
      roleArn: 'arn:aws:iam::333344445555:role/CostWatchRead',
    });
    const second = await runCli(
      ['backfill', '--org', String(broken.id), '--from', DAY, '--to', DAY, '--wait'],
      env,
      90_000,
    );
    sim.control.setOptions({ errorRate: 0 });
    assert.equal(second.code, 1, second.stderr);
    assert.match(second.stderr, /0\/2 windows loaded and rolled up, 0 rows, 2 failed/);
    assert.doesNotMatch(second.stderr, /\[█+\] 2\/2/, 'the bar is not full');
    assert.match(
      second.stderr,
      new RegExp(
        `first error: organization ${broken.id} \\(broken\\), (costs|metrics) ${DAY}\\.\\.${DAY}: \\S`,
      ),
    );
    assert.match(second.stderr, /remedy: fix the cause above/);
  });

  test('the platform organization is never fetched: --all leaves it out, --org is refused, a job is skipped', async () => {
    const platform = await createPlatformOrganization(db.pool, 'CostWatch operators');
    const refused = await runCli(
      ['backfill', '--org', String(platform.id), '--from', DAY, '--to', DAY],
      env,
      60_000,
    );
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(
      refused.stderr,
      new RegExp(`organization ${platform.id} is the platform organization .*nothing to backfill`),
    );
    const { rows } = await db.pool.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM organizations WHERE status = 'active' AND kind = 'customer'",
    );
    const all = await runCli(['backfill', '--all', '--from', DAY, '--to', DAY], env, 60_000);
    assert.equal(all.code, 0, all.stderr);
    assert.match(all.stderr, new RegExp(`windows for ${rows[0]?.n} organization\\(s\\)`));

    // A job for it anyway (queued by an older version): skipped, no run, its status untouched.
    const redis = new Redis(REDIS_URL);
    const queues = createQueues(redis, { prefix, attempts: 1, backoffMs: 100 });
    try {
      await enqueueBackfill(queues, [platform.id], { from: DAY, to: addDays(DAY, 1) }, 1, 'bf-platform');
      const jobs = [
        ...(await queues.fetchCosts.getJobs(['waiting', 'delayed', 'prioritized', 'active', 'completed'])),
        ...(await queues.fetchMetrics.getJobs(['waiting', 'delayed', 'prioritized', 'active', 'completed'])),
      ].filter((j) => j.data.orgId === platform.id);
      assert.equal(jobs.length, 2);
      for (const job of jobs) {
        await waitUntil(`job ${job.id} of the platform org finished`, () => job.isCompleted(), 60_000);
        const done = await (job.queueName === 'fetch-costs' ? queues.fetchCosts : queues.fetchMetrics).getJob(
          job.id ?? '',
        );
        assert.deepEqual(done?.returnvalue, {
          skipped: `organization ${platform.id} is the platform organization (no AWS account)`,
        });
      }
    } finally {
      await queues.close();
      redis.disconnect();
    }
    const { rows: after } = await db.pool.query<{ status: string; runs: number }>(
      `SELECT status, (SELECT count(*)::int FROM fetch_runs WHERE organization_id = $1) AS runs
         FROM organizations WHERE id = $1`,
      [platform.id],
    );
    assert.deepEqual(after[0], { status: 'active', runs: 0 });
  });
});
