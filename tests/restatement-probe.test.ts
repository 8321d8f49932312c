/**
 * The restatement probe (workers/restatement-probe.ts) against the restating simulator: a refresh
 * with nothing restated costs one request; a new estimate slot costs the probe plus one grouped
 * read per grouping of the Estimated days; a retroactive credit of an older day is fetched alone;
 * the stored figures equal the simulator's truth after every refresh.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { manualClock } from '../lib/clock.js';
import { createLogger } from '../lib/logger.js';
import { enqueueBackfill, enqueueOrgRefresh } from '../producers/enqueue.js';
import { storedDayTotals } from '../database/repositories/restatement.repository.js';
import type { Organization } from '../database/repositories/organizations.repository.js';
import { startWorkers } from '../workers/main.js';
import { decimalUnits, fetchWindows } from '../workers/restatement-probe.js';
import { formatDay, parseDay } from '../sim/calendar.js';
import { reportedValue } from '../sim/cost-data.js';
import { formatFixed } from '../sim/money.js';
import { DEFAULT_RESTATEMENT, restatedDay, restatementEvents } from '../sim/restatement.js';
import { startTestPipeline, type TestPipeline } from './helpers/pipeline.js';

const ACCOUNT = '420000000001';
const RESTATEMENT = { ...DEFAULT_RESTATEMENT, enabled: true, retroCreditRate: 0.2 };
const settings = {
  RESTATEMENT_DAYS: 3,
  METRICS_REFRESH_DAYS: 1,
  REFETCH_CURRENT_MONTH: true,
  BILL_CLOSE_DAY: 5,
};
let p: TestPipeline;
let org: Organization;
const clock = manualClock('2026-11-20T06:00:00Z');

function at(iso: string): void {
  clock.set(iso);
  p.sim.control.setOptions({ clockStart: iso, clockFrozen: true });
}

/** Every cost, forecast and rollup job done (metrics fetches are not served here: dropped). */
async function idle(): Promise<void> {
  await p.queues.fetchMetrics.drain(true);
  await p.waitForIdle(60_000);
}

function ceRequests(): number {
  const ops = p.sim.control.requestCounts().byAccount[ACCOUNT] ?? {};
  return ops['ce:GetCostAndUsage'] ?? 0;
}

async function refresh(): Promise<number> {
  p.sim.control.resetCounts();
  await enqueueOrgRefresh(p.queues, org, clock.now().toISOString().slice(0, 10), settings, 'scheduled');
  await idle();
  return ceRequests();
}

async function assertExact(): Promise<void> {
  const nowSeconds = clock.now().getTime() / 1000;
  const today = Math.floor(nowSeconds / 86_400);
  const stored = await storedDayTotals(p.db.pool, org.id, { from: '2026-11-01', to: formatDay(today + 1) });
  for (let day = parseDay('2026-11-01') ?? 0; day <= today; day++) {
    const { lines, estimates } = restatedDay(
      ACCOUNT,
      day,
      { today, nowSeconds },
      { dataSeed: 'costwatch', restatement: RESTATEMENT },
    );
    let truth = 0n;
    lines.forEach((line, i) => (truth += reportedValue(line, estimates?.[i], 'UnblendedCost')));
    const have = stored.get(formatDay(day));
    assert.equal(
      decimalUnits(have?.unblendedCost ?? '0'),
      decimalUnits(formatFixed(truth)),
      `stored ${formatDay(day)} differs from the simulator at ${clock.now().toISOString()}`,
    );
  }
}

before(async () => {
  p = await startTestPipeline({
    workers: false,
    sim: { restatement: RESTATEMENT, clockStart: '2026-11-20T06:00:00Z', clockFrozen: true },
    env: { RESTATEMENT_PROBE: 'true' },
  });
  p.workers = await startWorkers(p.config, {
    // Every queue a cost refresh feeds (rollups set off anomaly detection and budget evaluation).
    queues: ['fetch-costs', 'fetch-forecast', 'rollups', 'anomalies', 'budgets', 'notifications'],
    log: createLogger({ level: 'silent', name: 'worker' }),
    now: clock.now,
  });
  org = await p.createOrg(ACCOUNT);
  await enqueueBackfill(p.queues, [org.id], { from: '2026-11-01', to: '2026-11-21' }, 7, 'probe-test');
  await idle();
});

after(async () => {
  await p.close();
});

test('decimal comparison and window merging', () => {
  assert.equal(decimalUnits('1.5'), decimalUnits('1.500000'));
  assert.equal(decimalUnits('-0.1E+1'), decimalUnits('-1'));
  assert.notEqual(decimalUnits('0.0000001'), decimalUnits('0'));
  // Three changed days, 100 groups a day: one window of 5 days is one page per grouping.
  assert.deepEqual(fetchWindows(['2026-11-01', '2026-11-02', '2026-11-05'], 100, 500), [
    { from: '2026-11-01', to: '2026-11-06' },
  ]);
  // At 400 groups a day the gap would cost pages: two windows.
  assert.deepEqual(fetchWindows(['2026-11-01', '2026-11-02', '2026-11-05'], 400, 500), [
    { from: '2026-11-01', to: '2026-11-03' },
    { from: '2026-11-05', to: '2026-11-06' },
  ]);
});

test('nothing restated: one probe request; a new estimate slot: probe + every grouping of the Estimated days', async () => {
  assert.equal(await refresh(), 1, 'the same estimate slot as the backfill: only the probe');
  await assertExact();
  at('2026-11-20T14:00:00Z');
  // The probe, then one page for each grouping every org loads (by account, by region, by record type).
  assert.equal(await refresh(), 1 + 3, 'probe + one page per grouping of the Estimated days');
  await assertExact();
});

test('a retroactive credit of an older day is fetched and shown by the next refresh', async () => {
  const from = clock.now().getTime() / 1000;
  const events = restatementEvents(
    ACCOUNT,
    {
      fromDay: parseDay('2026-11-01') ?? 0,
      toDay: parseDay('2026-11-17') ?? 0,
      fromSeconds: from,
      toSeconds: from + 86_400 * 8,
    },
    { dataSeed: 'costwatch', restatement: RESTATEMENT },
  ).filter((e) => e.kind === 'retro-credit' && e.postedAt > from);
  const event = events[0];
  assert.ok(event, 'the seeded simulator posts a retroactive credit in the next days');
  const when = new Date((event.postedAt + 60) * 1000).toISOString();
  at(when);
  const requests = await refresh();
  await assertExact();
  // The probe, the days that turned final up to today (a page or two per grouping) and the
  // credited day; a full re-read of the month so far would be 2 x 6 pages.
  assert.ok(requests <= 7, `probe + the new and Estimated days + the credited day, got ${requests} requests`);
});

test('net amortized cost is compared too: a change in it alone, or a day stored without it (before 0012), is re-read', async () => {
  await refresh();
  assert.equal(await refresh(), 1, 'settled: only the probe');
  const { rows } = await p.db.pool.query<{ day: string }>(
    `SELECT max(cost_date)::text AS day FROM cost_data
      WHERE organization_id = $1 AND cost_date >= '2026-11-01' AND NOT estimated`,
    [org.id],
  );
  const day = rows[0]?.day ?? '';
  const truthOf = async () =>
    (await storedDayTotals(p.db.pool, org.id, { from: day, to: nextDay(day) })).get(day);
  const before = await truthOf();
  assert.ok(before?.netAmortizedCost, 'stored by the backfill');
  // Only NetAmortizedCost differs from what AWS reports (the other metrics are the same).
  await p.db.pool.query(
    `UPDATE cost_data SET net_amortized_cost = net_amortized_cost + 0.01
      WHERE organization_id = $1 AND cost_date = $2::date AND grouping = 'account_service' AND service = (
        SELECT min(service) FROM cost_data WHERE organization_id = $1 AND cost_date = $2::date)`,
    [org.id, day],
  );
  assert.equal(await refresh(), 1 + 3, 'the probe and the changed day, every grouping');
  assert.equal((await truthOf())?.netAmortizedCost, before.netAmortizedCost, 'read again from AWS');
  // A day loaded before migration 0012 has no NetAmortizedCost: the next refresh fetches it.
  await p.db.pool.query(
    `UPDATE cost_data SET net_amortized_cost = NULL WHERE organization_id = $1 AND cost_date = $2::date`,
    [org.id, day],
  );
  assert.equal((await truthOf())?.netAmortizedCost, null, 'a day with a row without it has no total');
  assert.equal(await refresh(), 1 + 3, 'the probe and the day without it');
  assert.equal((await truthOf())?.netAmortizedCost, before.netAmortizedCost);
  assert.equal(await refresh(), 1, 'then settled again');
});

function nextDay(day: string): string {
  return formatDay((parseDay(day) ?? 0) + 1);
}

test('a probed refresh rolls up only the days it changed and still publishes its run', async () => {
  // The next estimate slot (8 hours on): the Estimated days change, the month's older days do not.
  at(new Date(clock.now().getTime() + 8 * 3_600_000).toISOString());
  await p.queues.rollups.clean(0, 10_000, 'completed');
  await refresh();
  const { rows: runs } = await p.db.pool.query<{ from: string; rolled: boolean }>(
    `SELECT window_start::text AS from, rolled_up_at IS NOT NULL AS rolled FROM fetch_runs
     WHERE organization_id = $1 AND source = 'costs' ORDER BY id DESC LIMIT 1`,
    [org.id],
  );
  assert.deepEqual(
    runs,
    [{ from: '2026-11-01', rolled: true }],
    "the refresh's run (the month so far) is published",
  );
  const rollups = (await p.queues.rollups.getCompleted()).filter((j) => j.data.source === 'costs');
  assert.equal(rollups.length, 1);
  // Only the Estimated days (and today) changed: the rollup rebuilt those, not the month so far
  // (before: the run's whole window, from the 1st).
  const today = clock.now().toISOString().slice(0, 10);
  const estimatedFrom = new Date(Date.parse(`${today}T00:00:00Z`) - 4 * 86_400_000)
    .toISOString()
    .slice(0, 10);
  assert.ok(rollups[0]?.data.from >= estimatedFrom, `rollup from ${String(rollups[0]?.data.from)}`);
  // Every day's service rollup still equals the stored rows.
  const { rows: differing } = await p.db.pool.query(
    `SELECT d.cost_date FROM (SELECT cost_date, sum(unblended_cost) AS total FROM cost_data
       WHERE organization_id = $1 AND grouping = 'account_service' GROUP BY cost_date) d
     FULL JOIN (SELECT day, sum(unblended_cost) AS total FROM cost_daily_service
       WHERE organization_id = $1 GROUP BY day) r ON r.day = d.cost_date
     WHERE r.total IS DISTINCT FROM d.total`,
    [org.id],
  );
  assert.deepEqual(differing, []);
  await assertExact();
});
