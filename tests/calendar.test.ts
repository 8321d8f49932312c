/**
 * The calendar matrix: the date logic end to end on the days that break it. For each pinned
 * "today" one clock is shared by the scheduler role (a real refresh tick through its queue), the
 * fetch workers (real AWS SDK against the simulator), the simulator (whose today it is too), the
 * rollup workers and the API. Asserted per day: the windows the tick enqueued, the loaded rows
 * against the simulator's truth (final days exactly, Estimated days within the simulator's
 * estimate bounds), the rollups, and the API's month to date, last month and daily answers.
 *
 * Expected windows and periods are written out by hand (not computed with the code under test),
 * with the defaults RESTATEMENT_DAYS=3, REFETCH_CURRENT_MONTH=true, BILL_CLOSE_DAY=5,
 * METRICS_REFRESH_DAYS=1.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Now } from '../lib/clock.js';
import { addDays, eachDay, splitWindows, startOfMonth } from '../lib/dates.js';
import { JOB_NAMES } from '../lib/jobs.js';
import { createLogger } from '../lib/logger.js';
import { setOrganizationStatus } from '../database/repositories/organizations.repository.js';
import { enqueueFetches } from '../producers/enqueue.js';
import { startScheduler, type RunningScheduler } from '../producers/scheduler.js';
import { finalCostLines, formatFixed, parseFixed } from '../sim/data.js';
import { parseDay } from '../sim/calendar.js';
import { get, login, seedUser, startTestApi, type TestApi } from './helpers/api.js';
import { startTestPipeline, type TestPipeline } from './helpers/pipeline.js';
import { switchableClock } from './helpers/clock.js';
import { normDecimal } from './helpers/decimal.js';

type Window = readonly [from: string, to: string];

interface Step {
  /** The clock when the tick runs. */
  at: string;
  /** Enqueued windows, `to` exclusive. */
  costs: Window;
  metrics: Window;
  /** The API's summary periods, inclusive. */
  monthToDate: Window;
  previous: Window;
  /** Days before this one are final when fetched (default today - 2). */
  finalBefore?: string;
  /** Days from this one on are still Estimated when fetched (default today - 2). */
  estimatedFrom?: string;
  /** The clock the workers, the simulator and the API read during and after the refresh (default: `at`, frozen). */
  clock?: (step: Step) => Now;
  /** The API's today after the refresh (default: the day of `at`). */
  apiToday?: string;
  /** A forecast of the API's month is expected (default true). */
  forecast?: boolean;
}

interface Case {
  name: string;
  account: string;
  steps: Step[];
}

const frozen =
  (at: string): Now =>
  () =>
    new Date(at);

let p: TestPipeline;
let scheduler: RunningScheduler;
let api: TestApi;
const clock = switchableClock(frozen('2026-11-18T06:00:00Z'));

/** GetCostAndUsage requests the simulator has seen from an account. */
const ceRequests = (account: string): number =>
  p.sim.control.requestCounts().byAccount[account]?.['ce:GetCostAndUsage'] ?? 0;

/**
 * A refresh that starts at 23:59:59 and ends after midnight, deterministically: the clock reads
 * `before` until the simulator has answered the refresh's first GetCostAndUsage request, `after`
 * from its second on (a cost fetch sends at least two: one per grouping), so the first page is
 * read on one day and the rest, the commit and the API's answers on the next.
 */
function crossingMidnight(before: string, after: string, account: string): (step: Step) => Now {
  return () => {
    const base = ceRequests(account);
    return () => new Date(ceRequests(account) - base >= 2 ? after : before);
  };
}

const CASES: Case[] = [
  {
    name: 'the 1st of a month: the previous month is refreshed whole',
    account: '910000000001',
    steps: [
      {
        at: '2026-12-01T06:00:00Z',
        costs: ['2026-11-01', '2026-12-02'],
        metrics: ['2026-11-30', '2026-12-02'],
        monthToDate: ['2026-12-01', '2026-12-01'],
        previous: ['2026-11-01', '2026-11-01'],
      },
    ],
  },
  {
    name: 'day BILL_CLOSE_DAY (the 5th): still the previous month, across a year',
    account: '910000000002',
    steps: [
      {
        at: '2027-01-05T06:00:00Z',
        costs: ['2026-12-01', '2027-01-06'],
        metrics: ['2027-01-04', '2027-01-06'],
        monthToDate: ['2027-01-01', '2027-01-05'],
        previous: ['2026-12-01', '2026-12-05'],
      },
    ],
  },
  {
    name: 'the day after BILL_CLOSE_DAY: the current month only',
    account: '910000000003',
    steps: [
      {
        at: '2027-01-06T06:00:00Z',
        costs: ['2027-01-01', '2027-01-07'],
        metrics: ['2027-01-05', '2027-01-07'],
        monthToDate: ['2027-01-01', '2027-01-06'],
        previous: ['2026-12-01', '2026-12-06'],
      },
    ],
  },
  {
    name: 'the last day of a 31-day month',
    account: '910000000004',
    steps: [
      {
        at: '2027-01-31T06:00:00Z',
        costs: ['2027-01-01', '2027-02-01'],
        metrics: ['2027-01-30', '2027-02-01'],
        monthToDate: ['2027-01-01', '2027-01-31'],
        previous: ['2026-12-01', '2026-12-31'],
      },
    ],
  },
  {
    name: 'the last day of a 30-day month (last month has 31: the same days, not 31)',
    account: '910000000005',
    steps: [
      {
        at: '2026-11-30T06:00:00Z',
        costs: ['2026-11-01', '2026-12-01'],
        metrics: ['2026-11-29', '2026-12-01'],
        monthToDate: ['2026-11-01', '2026-11-30'],
        previous: ['2026-10-01', '2026-10-30'],
      },
    ],
  },
  {
    name: 'the last day of a 28-day month',
    account: '910000000006',
    steps: [
      {
        at: '2027-02-28T06:00:00Z',
        costs: ['2027-02-01', '2027-03-01'],
        metrics: ['2027-02-27', '2027-03-01'],
        monthToDate: ['2027-02-01', '2027-02-28'],
        previous: ['2027-01-01', '2027-01-28'],
      },
    ],
  },
  {
    name: 'the leap day 2028-02-29',
    account: '910000000007',
    steps: [
      {
        at: '2028-02-29T06:00:00Z',
        costs: ['2028-02-01', '2028-03-01'],
        metrics: ['2028-02-28', '2028-03-01'],
        monthToDate: ['2028-02-01', '2028-02-29'],
        previous: ['2028-01-01', '2028-01-29'],
      },
    ],
  },
  {
    name: '2026-12-31, then 2027-01-01: the year turns, December is refreshed and its restated days become final',
    account: '910000000008',
    steps: [
      {
        at: '2026-12-31T06:00:00Z',
        costs: ['2026-12-01', '2027-01-01'],
        metrics: ['2026-12-30', '2027-01-01'],
        monthToDate: ['2026-12-01', '2026-12-31'],
        previous: ['2026-11-01', '2026-11-30'],
      },
      {
        at: '2027-01-01T06:00:00Z',
        costs: ['2026-12-01', '2027-01-02'],
        metrics: ['2026-12-31', '2027-01-02'],
        monthToDate: ['2027-01-01', '2027-01-01'],
        previous: ['2026-12-01', '2026-12-01'],
      },
    ],
  },
  {
    name: 'a refresh that starts at 23:59:59 UTC on 2027-03-31 and ends after midnight, then the next tick',
    account: '910000000009',
    steps: [
      {
        at: '2027-03-31T23:59:59Z',
        // The tick's today is the 31st; the fetch finishes on April 1st.
        costs: ['2027-03-01', '2027-04-01'],
        metrics: ['2027-03-30', '2027-04-01'],
        clock: crossingMidnight('2027-03-31T23:59:59Z', '2027-04-01T00:00:01Z', '910000000009'),
        apiToday: '2027-04-01',
        monthToDate: ['2027-04-01', '2027-04-01'],
        previous: ['2027-03-01', '2027-03-01'],
        // The 29th is Estimated on the 31st and final on the 1st: either, depending on its page.
        finalBefore: '2027-03-29',
        estimatedFrom: '2027-03-30',
        // The window ends before the new today: nothing to forecast for April yet.
        forecast: false,
      },
      {
        at: '2027-04-01T00:00:01Z',
        costs: ['2027-03-01', '2027-04-02'],
        metrics: ['2027-03-31', '2027-04-02'],
        monthToDate: ['2027-04-01', '2027-04-01'],
        previous: ['2027-03-01', '2027-03-01'],
      },
    ],
  },
];

interface DayTotal {
  total: string;
  allEstimated: boolean;
  anyEstimated: boolean;
}

async function loadedTotals(
  orgId: number,
  grouping: string,
  from: string,
  to: string,
): Promise<Map<string, DayTotal>> {
  const { rows } = await p.db.pool.query<{
    day: string;
    total: string;
    all_estimated: boolean;
    any_estimated: boolean;
  }>(
    `SELECT cost_date AS day, sum(unblended_cost)::text AS total, bool_and(estimated) AS all_estimated, bool_or(estimated) AS any_estimated
     FROM cost_data WHERE organization_id = $1 AND grouping = $2 AND cost_date >= $3 AND cost_date < $4 GROUP BY 1`,
    [orgId, grouping, from, to],
  );
  return new Map(
    rows.map((r) => [
      r.day,
      { total: r.total, allEstimated: r.all_estimated, anyEstimated: r.any_estimated },
    ]),
  );
}

/** The simulator's truth of a day: its final total, and the range its estimates fall in (0-4 % below each line, rounding). */
function truthOf(account: string, day: string): { final: bigint; low: bigint; high: bigint } {
  const lines = finalCostLines(account, parseDay(day) ?? assert.fail(day));
  let final = 0n;
  let low = 0n;
  let high = 0n;
  for (const line of lines) {
    const value = line.values.UnblendedCost;
    const estimate = (value * 96n) / 100n;
    final += value;
    low += value < estimate ? value : estimate;
    high += value > estimate ? value : estimate;
  }
  const slack = BigInt(lines.length);
  return { final, low: low - slack, high: high + slack };
}

/** Exact sum of decimal strings, as normDecimal prints it. */
function sum(values: Iterable<string>): string {
  let total = 0n;
  for (const v of values) total += parseFixed(normDecimal(v));
  return normDecimal(formatFixed(total));
}

async function tick(): Promise<number> {
  const job = await p.queues.scheduler.add(JOB_NAMES.refreshTick, {});
  for (let i = 0; ; i++) {
    const state = await job.getState();
    if (state === 'completed') break;
    if (state === 'failed')
      assert.fail(
        `the refresh tick failed: ${(await p.queues.scheduler.getJob(job.id ?? ''))?.failedReason}`,
      );
    if (i > 600) assert.fail(`the refresh tick is still ${state} after 30 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const done = await p.queues.scheduler.getJob(job.id ?? '');
  return (done?.returnvalue as { organizations: number } | undefined)?.organizations ?? -1;
}

async function queuedWindows(
  queue: 'fetchCosts' | 'fetchMetrics',
): Promise<Array<{ orgId: number; from: string; to: string; trigger: string }>> {
  const jobs = await p.queues[queue].getJobs(['waiting', 'prioritized', 'delayed']);
  return jobs.map((j) => {
    const d = j.data as { orgId: number; from: string; to: string; trigger: string };
    return { orgId: d.orgId, from: d.from, to: d.to, trigger: d.trigger };
  });
}

before(async () => {
  p = await startTestPipeline({
    now: clock.now,
    env: {
      RESTATEMENT_DAYS: '3',
      REFETCH_CURRENT_MONTH: 'true',
      BILL_CLOSE_DAY: '5',
      METRICS_REFRESH_DAYS: '1',
      // The test sends the ticks itself: the Job Scheduler's own (Jan 1st, 00:00) never comes.
      REFRESH_CRON: '0 0 1 1 *',
      WORKER_CONCURRENCY: '6',
    },
  });
  scheduler = await startScheduler(p.config, {
    now: clock.now,
    log: createLogger({ level: 'silent', name: 'scheduler' }),
  });
  api = await startTestApi({
    db: p.db,
    env: { QUEUE_PREFIX: p.config.QUEUE_PREFIX },
    options: { now: clock.now },
  });
});

after(async () => {
  await scheduler?.stop();
  await api?.close();
  await p?.close();
});

describe(
  'calendar matrix: scheduler tick -> fetch -> rollup -> API, with today pinned',
  { timeout: 240_000 },
  () => {
    let previousOrg: number | null = null;
    for (const c of CASES) {
      test(c.name, async () => {
        // Only this case's organization is active, so each tick refreshes it alone.
        if (previousOrg !== null) await setOrganizationStatus(p.db.pool, previousOrg, 'disabled');
        const first = c.steps[0] ?? assert.fail('a case has steps');
        clock.use(frozen(first.at));
        const org = await p.createOrg(c.account);
        previousOrg = org.id;
        await seedUser(p.db, org.id, `viewer-${c.account}@calendar.example`, 'viewer');
        const token = await login(api, `viewer-${c.account}@calendar.example`);

        // Cost history as a backfill leaves it: the previous month up to the refresh window (final
        // days), one window per month (the matrix is about the refresh, not about backfill windows).
        const firstToday = first.at.slice(0, 10);
        const historyFrom = startOfMonth(addDays(startOfMonth(firstToday), -1));
        if (historyFrom < first.costs[0]) {
          const windows = splitWindows(historyFrom, first.costs[0], 31);
          await enqueueFetches(
            p.queues,
            'costs',
            windows.map((w) => ({
              orgId: org.id,
              ...w,
              trigger: 'backfill' as const,
              backfillId: `bf-${c.account}`,
            })),
          );
          await p.waitForIdle(90_000);
          const loaded = await p.db.pool.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM fetch_runs WHERE organization_id = $1 AND status = 'succeeded' AND rolled_up_at IS NOT NULL`,
            [org.id],
          );
          assert.equal(loaded.rows[0]?.n, windows.length, 'the history loaded and rolled up');
        }

        for (const step of c.steps) {
          const tickToday = step.at.slice(0, 10);
          const apiToday = step.apiToday ?? tickToday;
          clock.use(frozen(step.at));
          const runsBefore =
            (await p.db.pool.query<{ id: number }>('SELECT coalesce(max(id), 0) AS id FROM fetch_runs'))
              .rows[0]?.id ?? 0;

          // The tick, through the scheduler role's queue, with the fetch queues paused to see what it enqueued.
          await Promise.all([p.queues.fetchCosts.pause(), p.queues.fetchMetrics.pause()]);
          assert.equal(await tick(), 1, 'the tick refreshed the one active organization');
          assert.deepEqual(
            await queuedWindows('fetchCosts'),
            [{ orgId: org.id, from: step.costs[0], to: step.costs[1], trigger: 'scheduled' }],
            `${tickToday}: cost window`,
          );
          assert.deepEqual(
            await queuedWindows('fetchMetrics'),
            [{ orgId: org.id, from: step.metrics[0], to: step.metrics[1], trigger: 'scheduled' }],
            `${tickToday}: metrics window`,
          );
          if (step.clock) clock.use(step.clock(step));
          await Promise.all([p.queues.fetchCosts.resume(), p.queues.fetchMetrics.resume()]);
          await p.waitForIdle(90_000);
          assert.equal(p.sim.control.today(), apiToday, "the simulator's today is the pipeline's");

          const runs = await p.db.pool.query<{
            source: string;
            window_start: string;
            window_end: string;
            status: string;
            ce: string | null;
            error: string | null;
          }>(
            `SELECT source, window_start, window_end, status, aws_requests_by_operation->>'GetCostAndUsage' AS ce, error FROM fetch_runs
           WHERE id > $1 AND organization_id = $2 ORDER BY source`,
            [runsBefore, org.id],
          );
          assert.deepEqual(
            runs.rows.map((r) => [r.source, r.window_start, r.window_end, r.status]),
            [
              ['costs', step.costs[0], step.costs[1], 'succeeded'],
              ['metrics', step.metrics[0], step.metrics[1], 'succeeded'],
            ],
            `one run of each window, succeeded: ${JSON.stringify(runs.rows.map((r) => r.error).filter(Boolean))}`,
          );
          if (step.clock)
            assert.ok(Number(runs.rows[0]?.ce) >= 2, 'the refresh read pages on both sides of midnight');

          // Loaded rows against the simulator's truth, from the 1st of last month through today.
          const from = startOfMonth(addDays(startOfMonth(apiToday), -1));
          const finalBefore = step.finalBefore ?? addDays(tickToday, -2);
          const estimatedFrom = step.estimatedFrom ?? addDays(tickToday, -2);
          const days = eachDay(from, addDays(apiToday, 1));
          const lastLoaded = addDays(step.costs[1], -1);
          for (const grouping of ['account_service', 'region_service']) {
            const loaded = await loadedTotals(org.id, grouping, from, addDays(apiToday, 2));
            for (const day of days) {
              const row = loaded.get(day);
              if (day > lastLoaded) {
                assert.equal(
                  row,
                  undefined,
                  `${grouping} ${day}: after the refreshed window, nothing loaded`,
                );
                continue;
              }
              assert.ok(row, `${grouping} ${day}: loaded`);
              const truth = truthOf(c.account, day);
              const amount = parseFixed(normDecimal(row.total));
              if (day < finalBefore || (day < estimatedFrom && !row.anyEstimated)) {
                assert.equal(row.anyEstimated, false, `${grouping} ${day}: final`);
                assert.equal(amount, truth.final, `${grouping} ${day}: the final total`);
              } else {
                if (day >= estimatedFrom)
                  assert.equal(row.allEstimated, true, `${grouping} ${day}: Estimated`);
                assert.ok(
                  amount >= truth.low && amount <= truth.high,
                  `${grouping} ${day}: estimate ${row.total} within [${formatFixed(truth.low)}, ${formatFixed(truth.high)}]`,
                );
              }
            }
            assert.equal(loaded.get(addDays(apiToday, 1)), undefined, 'nothing after today');
          }

          // Rollups and the API over exactly those rows.
          const costData = await loadedTotals(org.id, 'account_service', from, addDays(apiToday, 1));
          const rollups = await p.db.pool.query<{ day: string; total: string }>(
            `SELECT day, sum(unblended_cost)::text AS total FROM cost_daily_service WHERE organization_id = $1 AND day >= $2 AND day <= $3 GROUP BY day ORDER BY day`,
            [org.id, from, apiToday],
          );
          assert.deepEqual(
            rollups.rows.map((r) => [r.day, normDecimal(r.total)]),
            [...costData].sort(([a], [b]) => (a < b ? -1 : 1)).map(([day, t]) => [day, normDecimal(t.total)]),
            'the rollups hold every loaded day',
          );

          const daily = await get(
            api,
            `/api/v1/costs/daily?from=${from}&to=${addDays(apiToday, 1)}&group_by=none&limit=100`,
            token,
          );
          assert.equal(daily.status, 200, daily.text);
          const items = (
            daily.json as {
              items: Array<{ date: string; unblended_cost: { amount: string }; estimated: boolean }>;
            }
          ).items;
          assert.deepEqual(
            items.map((i) => [i.date, normDecimal(i.unblended_cost.amount), i.estimated]),
            [...costData]
              .sort(([a], [b]) => (a < b ? -1 : 1))
              .map(([day, t]) => [day, normDecimal(t.total), t.anyEstimated]),
            'daily: every loaded day, its amount and Estimated flag, nothing after today',
          );

          const totalOf = (window: Window) =>
            sum(eachDay(window[0], addDays(window[1], 1)).map((d) => costData.get(d)?.total ?? '0'));
          const summary = await get(api, '/api/v1/costs/summary', token);
          assert.equal(summary.status, 200, summary.text);
          const s = summary.json as {
            as_of: string;
            month_to_date: { from: string; to: string; total: { amount: string } };
            previous_period: { from: string; to: string; total: { amount: string } };
            forecast: { month: string } | null;
          };
          assert.equal(s.as_of, apiToday);
          assert.deepEqual(
            [s.month_to_date.from, s.month_to_date.to, normDecimal(s.month_to_date.total.amount)],
            [...step.monthToDate, totalOf(step.monthToDate)],
            'month to date',
          );
          assert.deepEqual(
            [s.previous_period.from, s.previous_period.to, normDecimal(s.previous_period.total.amount)],
            [...step.previous, totalOf(step.previous)],
            'the same days of last month',
          );
          if (step.forecast ?? true)
            assert.equal(s.forecast?.month, startOfMonth(apiToday), "the forecast is this month's");

          const lastMonth = [startOfMonth(from), addDays(startOfMonth(apiToday), -1)] as const;
          const monthly = await get(
            api,
            `/api/v1/costs/monthly?from=${lastMonth[0]}&to=${lastMonth[1]}&group_by=none`,
            token,
          );
          assert.equal(monthly.status, 200, monthly.text);
          const months = (
            monthly.json as { items: Array<{ month: string; unblended_cost: { amount: string } }> }
          ).items;
          assert.deepEqual(
            months.map((m) => [m.month, normDecimal(m.unblended_cost.amount)]),
            [[lastMonth[0], totalOf(lastMonth)]],
            'last month, whole',
          );
        }
      });
    }
  },
);
