/**
 * Pipeline acceptance under real conditions: restatement, throttling of one organization,
 * revoked permissions, kill -9 of a worker mid-load, two worker processes. Real Postgres, Redis,
 * BullMQ and the AWS SDK against the simulator. Every clock is pinned (tests/helpers/clock.ts):
 * these tests pass on any day of the real calendar.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { expectedDailyTotal } from '../sim/data.js';
import { manualClock } from '../lib/clock.js';
import { addDays, eachDay, todayUtc } from '../lib/dates.js';
import { createLogger } from '../lib/logger.js';
import { enqueueBackfill } from '../producers/enqueue.js';
import { enqueueDueFetches } from '../producers/refresh-tick.js';
import { roleProcessEnv, startTestPipeline, type TestPipeline } from './helpers/pipeline.js';
import { spawnRole } from './helpers/processes.js';
import { normDecimal } from './helpers/decimal.js';
import { TEST_NOW } from './helpers/clock.js';

const silent = createLogger({ level: 'silent', name: 'test' });

async function dailyTotals(
  p: TestPipeline,
  orgId: number,
  grouping = 'account_service',
): Promise<Map<string, string>> {
  const { rows } = await p.db.pool.query<{ day: string; total: string }>(
    `SELECT cost_date AS day, sum(unblended_cost)::text AS total FROM cost_data WHERE organization_id = $1 AND grouping = $2 GROUP BY 1`,
    [orgId, grouping],
  );
  return new Map(rows.map((r) => [r.day, normDecimal(r.total)]));
}

async function assertMatchesTruth(
  p: TestPipeline,
  org: { id: number; awsAccountId: string },
  days: string[],
): Promise<void> {
  for (const grouping of ['account_service', 'region_service']) {
    const totals = await dailyTotals(p, org.id, grouping);
    for (const day of days)
      assert.equal(
        totals.get(day),
        normDecimal(expectedDailyTotal(org.awsAccountId, day)),
        `${org.awsAccountId} ${grouping} ${day}`,
      );
  }
  const rollup = await p.db.pool.query<{ day: string; total: string }>(
    `SELECT day, sum(unblended_cost)::text AS total FROM cost_daily_service WHERE organization_id = $1 GROUP BY day`,
    [org.id],
  );
  const byDay = new Map(rollup.rows.map((r) => [r.day, normDecimal(r.total)]));
  for (const day of days)
    assert.equal(byDay.get(day), normDecimal(expectedDailyTotal(org.awsAccountId, day)), `rollup ${day}`);
}

const settings = {
  RESTATEMENT_DAYS: 3,
  METRICS_REFRESH_DAYS: 1,
  REFETCH_CURRENT_MONTH: false,
  BILL_CLOSE_DAY: 1,
};

test('a restated day is updated by the next scheduled refresh; closed days are never requested again', async () => {
  // Mid-month (TEST_NOW), so the previous month (re-fetched until BILL_CLOSE_DAY) does not widen
  // the window: only the restatement days and the remembered Estimated day decide it. On the 1st
  // of a real month this test used to fail; the calendar matrix (tests/calendar.test.ts) covers
  // the month's edges.
  const today = todayUtc(new Date(TEST_NOW));
  const earlier = addDays(today, -4);
  const clock = manualClock(`${earlier}T12:00:00Z`);
  // One clock for the simulator, the workers and the scheduler tick.
  const p = await startTestPipeline({ now: clock.now });
  try {
    const org = await p.createOrg('567890123456');
    // History first, as a backfill would leave it.
    const history = await p.backfill([org.id], addDays(earlier, -40), addDays(earlier, -3));
    assert.equal(history.failed, 0);

    const tick = () =>
      enqueueDueFetches({ db: p.db.pool, queues: p.queues, log: silent, settings, now: clock.now });
    await tick();
    await p.waitForIdle();
    const estimatedDay = addDays(earlier, -1);
    const flagged = await p.db.pool.query<{ estimated: boolean }>(
      `SELECT bool_and(estimated) AS estimated FROM cost_data WHERE organization_id = $1 AND cost_date = $2`,
      [org.id, estimatedDay],
    );
    assert.equal(flagged.rows[0]?.estimated, true, 'the simulator flags the last days Estimated');
    const before = (await dailyTotals(p, org.id)).get(estimatedDay);
    assert.notEqual(
      before,
      normDecimal(expectedDailyTotal(org.awsAccountId, estimatedDay)),
      'an estimate differs from the final value',
    );
    const orgRow = await p.db.pool.query<{ estimated_from: string }>(
      'SELECT estimated_from FROM organizations WHERE id = $1',
      [org.id],
    );
    assert.ok(orgRow.rows[0]?.estimated_from, 'the earliest Estimated day is remembered');

    // Days pass: the simulator's estimates become final; the next refresh re-fetches from the remembered day.
    clock.set(`${today}T12:00:00Z`);
    p.sim.control.resetCounts();
    const runsBefore =
      (await p.db.pool.query<{ id: number }>('SELECT coalesce(max(id), 0) AS id FROM fetch_runs')).rows[0]
        ?.id ?? 0;
    await tick();
    await p.waitForIdle();
    const after = (await dailyTotals(p, org.id)).get(estimatedDay);
    assert.equal(
      after,
      normDecimal(expectedDailyTotal(org.awsAccountId, estimatedDay)),
      'restated day now holds the final amount',
    );
    const finalFlag = await p.db.pool.query<{ estimated: boolean }>(
      `SELECT bool_or(estimated) AS estimated FROM cost_data WHERE organization_id = $1 AND cost_date = $2`,
      [org.id, estimatedDay],
    );
    assert.equal(finalFlag.rows[0]?.estimated, false);

    // The refresh asked only for the restatement window: no run touches the closed history.
    const runs = await p.db.pool.query<{ window_start: string; aws: string }>(
      `SELECT window_start, (aws_requests_by_operation->>'GetCostAndUsage') AS aws FROM fetch_runs
       WHERE id > $1 AND source = 'costs' AND organization_id = $2`,
      [runsBefore, org.id],
    );
    assert.equal(runs.rows.length, 1);
    const remembered = orgRow.rows[0]!.estimated_from;
    const expectedStart = [remembered, addDays(today, -settings.RESTATEMENT_DAYS)].sort()[0];
    assert.equal(
      runs.rows[0]!.window_start,
      expectedStart,
      'the window starts at the earliest Estimated day or the restatement days',
    );
    const counted = p.sim.control.requestCounts().byAccount[org.awsAccountId] ?? {};
    assert.equal(
      counted['ce:GetCostAndUsage'],
      Number(runs.rows[0]!.aws),
      'the simulator saw exactly the requests of the restatement window',
    );
    // The restatement probe (one request), then at most two pages for each of the three groupings
    // an organization always loads (service by account, by region, by record type).
    assert.ok(
      (counted['ce:GetCostAndUsage'] ?? 0) <= 1 + 3 * 2,
      `a few-day window needs a handful of pages, saw ${counted['ce:GetCostAndUsage']}`,
    );
  } finally {
    await p.close();
  }
});

test('one organization throttled hard: the other finishes first, the throttled one later, no job fails', async () => {
  const throttled = '678901234567';
  const healthy = '789012345678';
  const p = await startTestPipeline({ sim: { accountThrottleRates: { [throttled]: 0.5 } } });
  try {
    const a = await p.createOrg(throttled);
    const b = await p.createOrg(healthy);
    const to = addDays(todayUtc(p.now()), -3);
    const from = addDays(to, -14);
    const result = await p.backfill([a.id, b.id], from, to, 240_000);
    assert.equal(result.failed, 0);
    const finished = await p.db.pool.query<{ organization_id: number; last: Date; throttled: number }>(
      `SELECT organization_id, max(finished_at) AS last, count(*) FILTER (WHERE status = 'throttled')::int AS throttled
       FROM fetch_runs GROUP BY organization_id`,
    );
    const byOrg = new Map(finished.rows.map((r) => [r.organization_id, r]));
    const counts = p.sim.control.requestCounts();
    const throttledRequests = Object.values(counts.throttled[throttled] ?? {}).reduce((x, y) => x + y, 0);
    assert.ok(throttledRequests > 0, 'AWS throttled the first org');
    assert.deepEqual(counts.throttled[healthy] ?? {}, {}, 'the healthy org was never throttled');
    assert.equal(byOrg.get(b.id)?.throttled ?? 0, 0, 'no job of the healthy org was delayed');
    assert.ok(
      byOrg.get(b.id)!.last < byOrg.get(a.id)!.last,
      'the healthy org finished before the throttled one',
    );
    await assertMatchesTruth(p, a, eachDay(from, to));
    await assertMatchesTruth(p, b, eachDay(from, to));
  } finally {
    await p.close();
  }
});

test('an organization whose access is denied is stopped with a remedy, without a retry storm; others are fine', async () => {
  const denied = '890123456789';
  const fine = '901234567890';
  const p = await startTestPipeline({ sim: { accessDeniedAccounts: [denied] } });
  try {
    const bad = await p.createOrg(denied);
    const good = await p.createOrg(fine);
    const to = addDays(todayUtc(p.now()), -3);
    const from = addDays(to, -60);
    await enqueueBackfill(p.queues, [bad.id, good.id], { from, to }, 7, 'bf-denied');
    await p.waitForIdle(120_000);
    const org = await p.db.pool.query<{ status: string; last_error: string; last_error_remedy: string }>(
      'SELECT status, last_error, last_error_remedy FROM organizations WHERE id = $1',
      [bad.id],
    );
    assert.equal(org.rows[0]?.status, 'access_denied');
    assert.match(org.rows[0]?.last_error ?? '', /denied AssumeRole|AccessDenied/);
    assert.match(org.rows[0]?.last_error_remedy ?? '', /sts:AssumeRole|trust policy/);
    assert.match(org.rows[0]?.last_error_remedy ?? '', /costwatch org enable --id/);
    const seen = p.sim.control.requestCounts().byAccount[denied] ?? {};
    const total = Object.values(seen).reduce((s, n) => s + n, 0);
    // 18 jobs were queued for it; only those already running when the first denial landed may ask AWS.
    assert.ok(
      total <= 2 * Number(p.config.WORKER_CONCURRENCY),
      `no retry storm: ${total} requests for the denied org`,
    );
    const failedJobs = await p.queues.fetchCosts.getJobCounts('failed');
    assert.ok((failedJobs.failed ?? 0) <= Number(p.config.WORKER_CONCURRENCY));
    await assertMatchesTruth(p, good, eachDay(from, to));
  } finally {
    await p.close();
  }
});

test('kill -9 of a worker in the middle of loads, two worker processes: every window complete once, same rows as one worker', async () => {
  const account = '112233445566';
  const to = addDays(todayUtc(new Date(TEST_NOW)), -3);
  const from = addDays(to, -84);
  // Reference: one in-process worker.
  const reference = await startTestPipeline();
  let referenceDigest: unknown;
  try {
    const org = await reference.createOrg(account);
    assert.equal((await reference.backfill([org.id], from, to)).failed, 0);
    referenceDigest = (await digest(reference)).rows[0];
  } finally {
    await reference.close();
  }

  const p = await startTestPipeline({ workers: false, sim: { latencyMs: 40 } });
  try {
    const org = await p.createOrg(account);
    const env = roleProcessEnv(p, {
      JOB_LOCK_SECONDS: '5',
      RETRY_BACKOFF_MS: '50',
      WORKER_CONCURRENCY: '3',
      CE_RATE_PER_ORG: '100',
      CW_RATE_PER_ORG: '200',
      ...p.clockEnv(),
    });
    const first = await spawnRole(['worker'], env, 'worker started');
    const second = await spawnRole(['worker'], env, 'worker started');
    const done = p.backfill([org.id], from, to, 240_000);
    // Wait until loads are under way, then kill one worker without warning.
    for (let i = 0; i < 200; i++) {
      const running = await p.db.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM fetch_runs WHERE status IN ('running', 'succeeded')`,
      );
      if ((running.rows[0]?.n ?? 0) >= 3) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    first.child.kill('SIGKILL');
    assert.equal((await first.exited).signal, 'SIGKILL');
    const restarted = await spawnRole(['worker'], env, 'worker started');
    const result = await done;
    assert.equal(result.failed, 0);
    await assertMatchesTruth(p, org, eachDay(from, to));
    assert.deepEqual((await digest(p)).rows[0], referenceDigest, 'same rows as one worker');
    second.child.kill('SIGTERM');
    restarted.child.kill('SIGTERM');
    assert.equal((await second.exited).code, 0);
    assert.equal((await restarted.exited).code, 0);
  } finally {
    await p.close();
  }
});

function digest(p: TestPipeline) {
  return p.db.pool.query<{ digest: string; n: number }>(
    `SELECT md5(string_agg(concat_ws('|', cost_date, grouping, service, linked_account, region, dim_value, unblended_cost, amortized_cost, net_unblended_cost, usage_quantity, estimated), ','
       ORDER BY cost_date, grouping, service, linked_account, region, dim_value)) AS digest, count(*)::int AS n FROM cost_data`,
  );
}
