/**
 * Pipeline: organizations -> real enqueue functions -> BullMQ -> fetch workers (AWS SDK against the
 * simulator, COPY into Postgres) -> rollup workers, measured end to end (until every fetch run is
 * rolled up). Three scenarios, each on its own database, queue prefix and simulator process:
 *
 *  backfill  N orgs x 30 days (enqueueBackfill), zero latency, rate limits raised: in-process
 *            workers, then 1 and 2 `costwatch worker` processes. jobs/s, rows/s, total time.
 *  latency   200 ms simulated latency, CE_RATE_PER_ORG=2, cost fetches only, WORKER_CONCURRENCY 8
 *            and 32: wall time against the lower bound the per-org rate, the latency and the
 *            worker concurrency allow.
 *  steady    the scheduler's daily refresh (enqueueDueFetches) of N orgs at the production
 *            defaults (restatement probe, REFETCH_CURRENT_MONTH, BILL_CLOSE_DAY=5, the daily
 *            forecast, anomaly detection and budget evaluation after each cost rollup), the day
 *            before refreshed (untimed) and the simulator restating like AWS; on the pinned
 *            mid-month day, then on the 1st of a month (its own row). Next to CostWatch's CPU per
 *            org, the floor of the same run (bench/steady-floor.ts: psql \copy of the same rows +
 *            the minimum statements).
 *
 * Every run is pinned to BENCH_NOW (bench/support.ts), the steady 1st-of-month row to
 * BENCH_MONTH_START_NOW: nothing here reads the real date.
 *
 *   npm run bench -- pipeline [--quick] [--scenario=backfill,latency,steady] [--orgs=N]
 *     [--in-process=false] [--steady-month-start=false] [--steady-month-start-orgs=N] [--latency-orgs=N]
 *     [--latency-concurrency=8,32] [--steady-orgs=N] [--procs=1,2]
 */
import { addDays, splitWindows, todayUtc } from '../lib/dates.js';
import { enqueueBackfill, enqueueFetches } from '../producers/enqueue.js';
import { enqueueDueFetches } from '../producers/refresh-tick.js';
import { createLogger } from '../lib/logger.js';
import { createClock, type Now } from '../lib/clock.js';
import { DEFAULT_RESTATEMENT } from '../sim/restatement.js';
import { COMPLETED_JOBS_KEPT } from '../lib/jobs.js';
import { measureFloor, type FloorResult } from './steady-floor.js';
import type { WorkerQueue } from '../workers/main.js';
import type { SimOptions } from '../sim/server.js';
import type { SimStats } from './sim-child.js';
import {
  inProcessWorkers,
  samplePostgresCpu,
  sampleStatements,
  startHarness,
  workerProcesses,
  type Harness,
  type StatementTime,
  type WorkerSet,
} from './harness.js';
import {
  fmt,
  hardTimeout,
  machineNote,
  numberFlag,
  parseArgs,
  printMachine,
  printTable,
  progress,
  saveResults,
  sleep,
  createBenchDatabase,
  BENCH_MONTH_START_NOW,
  BENCH_NOW,
} from './support.js';

const args = parseArgs();
const scenarios = (args.flags.get('scenario') ?? 'backfill,latency,steady').split(',');
const BACKFILL_ORGS = numberFlag(args, 'orgs', args.quick ? 15 : 60);
const LATENCY_ORGS = numberFlag(args, 'latency-orgs', args.quick ? 8 : 24);
const STEADY_ORGS = numberFlag(args, 'steady-orgs', args.quick ? 60 : 300);
const LATENCY_CONCURRENCY = (args.flags.get('latency-concurrency') ?? '8,32')
  .split(',')
  .map(Number)
  .filter((n) => n > 0);
const PROCS = (args.flags.get('procs') ?? '1,2')
  .split(',')
  .map(Number)
  .filter((n) => n > 0);
const BACKFILL_DAYS = 30;
// The 1,000-org backfill (`--scenario=backfill --orgs=1000 --procs=1 --in-process=false`)
// runs for tens of minutes: the timeouts grow with the organizations.
const IN_PROCESS = args.flags.get('in-process') !== 'false';
const BACKFILL_TIMEOUT_MS = Math.max((args.quick ? 3 : 5) * 60_000, BACKFILL_ORGS * 3_000);
// The 1st-of-month row (`--steady-month-start=false` skips it): its day before stores a whole
// month per org, so it runs at most --steady-month-start-orgs (default 1,000) orgs; figures are per org.
const STEADY_MONTH_START = args.flags.get('steady-month-start') !== 'false';
const MONTH_START_ORGS = Math.min(STEADY_ORGS, numberFlag(args, 'steady-month-start-orgs', 1000));
const STEADY_TIMEOUT_MS = Math.max((args.quick ? 3 : 6) * 60_000, STEADY_ORGS * 400);
// The day before's refresh loads the month so far (up to a month per org on the 1st's day before).
// (A loaded 2-core machine seeded 300 orgs' half month in 170 s and not 300 orgs' whole month in 480 s.)
const seedTimeoutMs = (orgs: number, wholeMonth: boolean) =>
  Math.max((args.quick ? 4 : 8) * 60_000, orgs * (wholeMonth ? 2_000 : 1_000));
const STEADY_SEED_TIMEOUT_MS =
  seedTimeoutMs(STEADY_ORGS, false) + (STEADY_MONTH_START ? seedTimeoutMs(MONTH_START_ORGS, true) : 0);
hardTimeout(
  (args.quick ? 8 : 14) * 60_000 +
    (scenarios.includes('backfill') ? BACKFILL_TIMEOUT_MS * (PROCS.length + (IN_PROCESS ? 1 : 0)) : 0) +
    (scenarios.includes('steady')
      ? STEADY_TIMEOUT_MS * 2 * (STEADY_MONTH_START ? 2 : 1) + STEADY_SEED_TIMEOUT_MS
      : 0),
  'pipeline',
);

/** Zero latency: limits out of the way, the pipeline's own speed is measured. */
const FAST_ENV = { CE_RATE_PER_ORG: '1000', CW_RATE_PER_ORG: '1000', AWS_RATE_GLOBAL: '100000' };

interface RunResult {
  scenario: string;
  mode: string;
  orgs: number;
  wallMs: number;
  enqueueMs: number;
  /** From the first enqueue to the last fetch finished. */
  fetchDoneMs: number;
  fetchJobs: number;
  rollupJobs: number;
  failed: number;
  retried: number;
  costRows: number;
  metricRows: number;
  fetchJobMs: { costs: number; metrics: number };
  aws: SimStats;
  cpuMs: { workers: number; simulator: number; postgres: number; redis: number; driver: number };
  /** Postgres execution time by kind of statement (null without pg_stat_statements). */
  statements: StatementTime[] | null;
}

interface RunOptions {
  scenario: string;
  sources: Array<'costs' | 'metrics'>;
  workers: (h: Harness) => Promise<WorkerSet>;
  enqueue: (h: Harness) => Promise<number>;
  timeoutMs: number;
  /** Count only the fetch runs after this id (runs of an untimed earlier refresh are older). */
  sinceRunId?: number;
  /** Done once the follow-up jobs (forecast, anomalies, budgets, notifications) drained too. */
  followUps?: boolean;
}

async function runPipeline(h: Harness, options: RunOptions): Promise<RunResult> {
  const workers = await options.workers(h);
  await h.sim.reset();
  const pg = samplePostgresCpu(h.db);
  const statementTimes = await sampleStatements(h.db);
  const redisBase = await redisCpuMs(h);
  const driverBase = process.cpuUsage();
  const workerBase = workers.cpuMs();
  const started = performance.now();
  const expected = await options.enqueue(h);
  const enqueueMs = performance.now() - started;
  const deadline = Date.now() + options.timeoutMs;
  let lastReport = 0;
  let fetchDoneMs = 0;
  for (;;) {
    const { rows } = await h.db.pool.query<{ fetched: number; rolled: number; failed: number }>(
      `SELECT count(*) FILTER (WHERE status = 'succeeded')::int AS fetched,
              count(*) FILTER (WHERE status = 'succeeded' AND rolled_up_at IS NOT NULL)::int AS rolled,
              count(*) FILTER (WHERE status = 'failed')::int AS failed
       FROM fetch_runs WHERE source = ANY($1) AND id > $2`,
      [options.sources, options.sinceRunId ?? 0],
    );
    const p = rows[0] ?? { fetched: 0, rolled: 0, failed: 0 };
    if (!fetchDoneMs && p.fetched + p.failed >= expected) fetchDoneMs = performance.now() - started;
    if (p.rolled + p.failed >= expected) {
      if (options.followUps) await drainQueues(h, Math.max(1_000, deadline - Date.now()));
      break;
    }
    if (Date.now() > deadline)
      throw new Error(
        `${options.scenario} (${workers.mode}) not done after ${options.timeoutMs / 1000} s: ${JSON.stringify(p)} of ${expected}`,
      );
    if (Date.now() - lastReport > 10_000) {
      lastReport = Date.now();
      progress(
        `${options.scenario} (${workers.mode}): fetched ${p.fetched}/${expected}, rolled up ${p.rolled}, failed ${p.failed}`,
      );
    }
    await sleep(250);
  }
  const wallMs = performance.now() - started;
  const driver = process.cpuUsage(driverBase);
  const workerCpu = workers.cpuMs() - workerBase;
  const aws = await h.sim.stats();
  const postgres = await pg.stop();
  const statements = await statementTimes.stop();
  const redisCpu = (await redisCpuMs(h)) - redisBase;
  await workers.stop();
  const { rows } = await h.db.pool.query<{
    source: 'costs' | 'metrics';
    ok: number;
    failed: number;
    retried: number;
    rows: number;
    avg_ms: number;
  }>(
    `SELECT source, count(*) FILTER (WHERE status = 'succeeded')::int AS ok, count(*) FILTER (WHERE status = 'failed')::int AS failed,
            count(*) FILTER (WHERE status IN ('retrying', 'throttled'))::int AS retried,
            coalesce(sum(rows_loaded) FILTER (WHERE status = 'succeeded'), 0)::bigint AS rows,
            coalesce(avg(duration_ms) FILTER (WHERE status = 'succeeded'), 0)::float8 AS avg_ms
     FROM fetch_runs WHERE id > $1 GROUP BY source`,
    [options.sinceRunId ?? 0],
  );
  const by = (s: 'costs' | 'metrics') => rows.find((r) => r.source === s);
  const inProcess = workers.mode.startsWith('in-process');
  return {
    scenario: options.scenario,
    mode: workers.mode,
    orgs: h.orgIds.length,
    wallMs,
    enqueueMs,
    fetchDoneMs,
    fetchJobs: (by('costs')?.ok ?? 0) + (by('metrics')?.ok ?? 0),
    rollupJobs: (by('costs')?.ok ?? 0) + (by('metrics')?.ok ?? 0),
    failed: (by('costs')?.failed ?? 0) + (by('metrics')?.failed ?? 0),
    retried: (by('costs')?.retried ?? 0) + (by('metrics')?.retried ?? 0),
    costRows: by('costs')?.rows ?? 0,
    metricRows: by('metrics')?.rows ?? 0,
    fetchJobMs: { costs: by('costs')?.avg_ms ?? 0, metrics: by('metrics')?.avg_ms ?? 0 },
    aws,
    statements,
    cpuMs: {
      workers: workerCpu,
      simulator: aws.cpuMs,
      postgres,
      redis: redisCpu,
      driver: inProcess ? 0 : (driver.user + driver.system) / 1000,
    },
  };
}

/** CPU time of the Redis server so far (INFO cpu; Redis is shared, so other clients count too). */
async function redisCpuMs(h: Harness): Promise<number> {
  const info = await h.redis.info('cpu');
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
  return (field('used_cpu_user') + field('used_cpu_sys')) * 1000;
}

/** Jobs not yet finished in any queue (waiting, active, delayed, prioritized, children). */
async function pendingJobs(h: Harness): Promise<number> {
  let pending = 0;
  for (const queue of h.queues.all) {
    // The notifications sweep is a repeatable job: its next run is always delayed.
    const counts = await queue.getJobCounts('waiting', 'active', 'prioritized', 'waiting-children');
    pending += Object.values(counts).reduce((a, b) => a + b, 0);
    if (queue.name !== 'notifications') pending += (await queue.getJobCounts('delayed')).delayed ?? 0;
  }
  return pending;
}

/** Waits until every queue is empty twice in a row 200 ms apart (a rollup enqueues its follow-ups last). */
async function drainQueues(h: Harness, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let empty = 0;
  while (empty < 2) {
    empty = (await pendingJobs(h)) === 0 ? empty + 1 : 0;
    if (Date.now() > deadline) throw new Error(`queues not drained after ${timeoutMs / 1000} s`);
    await sleep(200);
  }
}

/** Waits for `expected` fetch runs after `sinceRunId` to be rolled up (or failed), then for every queue to drain. */
async function waitForRefresh(
  h: Harness,
  options: { sinceRunId: number; expected: number; timeoutMs: number; what: string },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let lastReport = Date.now();
  for (;;) {
    const { rows } = await h.db.pool.query<{ rolled: number; failed: number }>(
      `SELECT count(*) FILTER (WHERE status = 'succeeded' AND rolled_up_at IS NOT NULL)::int AS rolled,
              count(*) FILTER (WHERE status = 'failed')::int AS failed
       FROM fetch_runs WHERE id > $1`,
      [options.sinceRunId],
    );
    const p = rows[0] ?? { rolled: 0, failed: 0 };
    if (p.failed > 0) throw new Error(`${options.what}: ${p.failed} fetch runs failed`);
    if (p.rolled >= options.expected) break;
    if (Date.now() > deadline)
      throw new Error(`${options.what}: not done after ${options.timeoutMs / 1000} s`);
    if (Date.now() - lastReport > 10_000) {
      lastReport = Date.now();
      progress(`${options.what}: rolled up ${p.rolled}/${options.expected}`);
    }
    await sleep(250);
  }
  await drainQueues(h, Math.max(1_000, deadline - Date.now()));
}

interface RefreshDetail {
  /** How the cost fetches went: probed (changed days only), full re-reads, unchanged. */
  probe: string;
  /**
   * Jobs that ran per queue (BullMQ's completed counts); null where the queue reached
   * COMPLETED_JOBS_KEPT, so older completed jobs were removed and the count is only a lower bound.
   */
  jobs: Record<string, number | null>;
}

/** Completed jobs per queue so far (BullMQ keeps the last 5,000 of each: removeOnComplete). */
async function completedJobs(h: Harness): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const queue of h.queues.all) out[queue.name] = (await queue.getJobCounts('completed')).completed ?? 0;
  return out;
}

async function refreshDetail(
  h: Harness,
  sinceRunId: number,
  completedBefore: Record<string, number>,
): Promise<RefreshDetail> {
  const { rows } = await h.db.pool.query<{ n: number; days: number; full: number; none: number }>(
    `SELECT count(*)::int AS n,
            coalesce(avg(CASE WHEN rows_loaded > 0 THEN 1 ELSE 0 END), 0)::float8 AS days,
            count(*) FILTER (WHERE (aws_requests_by_operation->>'GetCostAndUsage')::int <= 1)::int AS none,
            count(*) FILTER (WHERE (aws_requests_by_operation->>'GetCostAndUsage')::int > 3)::int AS full
     FROM fetch_runs WHERE id > $1 AND source = 'costs' AND status = 'succeeded'`,
    [sinceRunId],
  );
  const r = rows[0] ?? { n: 0, days: 0, full: 0, none: 0 };
  const { rows: loaded } = await h.db.pool.query<{ days: number }>(
    `SELECT coalesce(avg(d), 0)::float8 AS days FROM (
       SELECT count(DISTINCT cost_date) AS d FROM cost_data
       WHERE created_at >= (SELECT min(started_at) FROM fetch_runs WHERE id > $1) GROUP BY organization_id) x`,
    [sinceRunId],
  );
  const jobs: Record<string, number | null> = {};
  for (const [queue, completed] of Object.entries(await completedJobs(h))) {
    const n = completed - (completedBefore[queue] ?? 0);
    if (completed >= COMPLETED_JOBS_KEPT) jobs[queue] = null;
    else if (n > 0) jobs[queue] = n;
  }
  return {
    probe: `${fmt.int(r.n)} cost fetches: ${fmt.int(r.none)} with nothing changed, ${fmt.int(r.full)} with more than 3 CE requests; ${(loaded[0]?.days ?? 0).toFixed(1)} days loaded per org`,
    jobs,
  };
}

interface SteadyRun {
  label: string;
  run: RunResult;
  detail: RefreshDetail;
  floor: FloorResult;
}

function describe(r: RunResult): Array<string | number> {
  const jobs = r.fetchJobs + r.rollupJobs;
  const rows = r.costRows + r.metricRows;
  const s = r.wallMs / 1000;
  return [
    r.mode,
    fmt.int(r.orgs),
    fmt.s(r.wallMs),
    `${fmt.int(r.fetchJobs)} + ${fmt.int(r.rollupJobs)}`,
    fmt.int(jobs / s),
    `${fmt.int(r.costRows)} + ${fmt.int(r.metricRows)}`,
    fmt.int(rows / s),
    fmt.int(r.aws.total),
    fmt.int(r.aws.total / s),
    `${fmt.int(r.fetchJobMs.costs)} / ${fmt.int(r.fetchJobMs.metrics)} ms`,
    `w ${fmt.s(r.cpuMs.workers)}, sim ${fmt.s(r.cpuMs.simulator)}, pg ${fmt.s(r.cpuMs.postgres)}, redis ${fmt.s(r.cpuMs.redis)}`,
    r.failed,
  ];
}

const HEADER = [
  'workers',
  'orgs',
  'wall',
  'jobs (fetch + rollup)',
  'jobs/s',
  'rows (cost + metric)',
  'rows/s',
  'AWS requests',
  'req/s',
  'avg fetch job (cost / metrics)',
  'CPU (workers, simulator, postgres backends, redis)',
  'failed',
];

const results: Record<string, unknown> = {};
const setupDb = await createBenchDatabase(1);
const note = await machineNote(setupDb.pool);
await setupDb.drop();
printMachine(note);
results.machine = note;
const today = todayUtc(new Date(BENCH_NOW));

if (scenarios.includes('backfill')) {
  const range = { from: addDays(today, -(BACKFILL_DAYS + 2)), to: addDays(today, -2) };
  const runs: RunResult[] = [];
  const modes: Array<(h: Harness) => Promise<WorkerSet>> = [
    ...(IN_PROCESS ? [(h: Harness) => inProcessWorkers(h)] : []),
    ...PROCS.map((n) => (h: Harness) => workerProcesses(h, n)),
  ];
  for (const start of modes) {
    const h = await startHarness({ orgs: BACKFILL_ORGS, sim: { latencyMs: 0 }, env: { ...FAST_ENV } });
    try {
      progress(`backfill: ${BACKFILL_ORGS} orgs x ${BACKFILL_DAYS} days (${range.from}..${range.to})`);
      runs.push(
        await runPipeline(h, {
          scenario: 'backfill',
          sources: ['costs', 'metrics'],
          workers: start,
          enqueue: async (hh) =>
            (
              await enqueueBackfill(
                hh.queues,
                hh.orgIds,
                range,
                hh.config.BACKFILL_WINDOW_DAYS,
                'bench-backfill',
              )
            ).windows * 2,
          timeoutMs: BACKFILL_TIMEOUT_MS,
        }),
      );
    } finally {
      await h.close();
    }
  }
  printTable(
    `Backfill: ${BACKFILL_ORGS} orgs x ${BACKFILL_DAYS} days, zero latency, limits raised`,
    HEADER,
    runs.map(describe),
  );
  for (const r of runs)
    process.stdout.write(
      `backfill ${r.mode}: projected for 1,000 orgs at this throughput: ${fmt.s((r.wallMs * 1000) / r.orgs)}\n`,
    );
  results.backfill = runs;
}

if (scenarios.includes('latency')) {
  const LATENCY = 200;
  const RATE = 2;
  const range = { from: addDays(today, -(BACKFILL_DAYS + 2)), to: addDays(today, -2) };
  const queues: WorkerQueue[] = ['fetch-costs', 'rollups'];
  const latencyRuns: Array<{
    concurrency: number;
    run: RunResult;
    ceTotal: number;
    rateBoundMs: number;
    concurrencyBoundMs: number;
    bound: number;
  }> = [];
  // The default WORKER_CONCURRENCY, then enough slots for every org to have a job in flight: a job
  // waiting for its org's rate-limit slot holds a worker slot, so with fewer slots than orgs the
  // slots, not the per-org limits, set the pace.
  for (const concurrency of LATENCY_CONCURRENCY) {
    const h = await startHarness({
      orgs: LATENCY_ORGS,
      sim: { latencyMs: LATENCY },
      env: { CE_RATE_PER_ORG: String(RATE), WORKER_CONCURRENCY: String(concurrency) },
    });
    try {
      const windows = splitWindows(range.from, range.to, h.config.BACKFILL_WINDOW_DAYS);
      progress(
        `latency: ${LATENCY_ORGS} orgs x ${windows.length} cost windows, ${LATENCY} ms latency, CE_RATE_PER_ORG=${RATE}, WORKER_CONCURRENCY=${concurrency}`,
      );
      const run = await runPipeline(h, {
        scenario: `latency, concurrency ${concurrency}`,
        sources: ['costs'],
        workers: (x) => inProcessWorkers(x, queues),
        // enqueueBackfill's jobs (window-major), cost fetches only.
        enqueue: async (hh) =>
          enqueueFetches(
            hh.queues,
            'costs',
            windows.flatMap((w) =>
              hh.orgIds.map((orgId) => ({
                orgId,
                ...w,
                trigger: 'backfill' as const,
                backfillId: 'bench-latency',
              })),
            ),
          ),
        timeoutMs: 4 * 60_000,
      });
      // Lower bound: no org can go faster than its CE requests at RATE a second, and no more
      // than WORKER_CONCURRENCY jobs run at once (counted as if each sent its requests one
      // after another; both groupings' first pages actually go out together, so this is generous).
      const perOrg = Object.values(run.aws.byAccount).map((ops) => ops['ce:GetCostAndUsage'] ?? 0);
      const ceTotal = perOrg.reduce((a, b) => a + b, 0);
      const rateBoundMs = (Math.max(...perOrg) / RATE) * 1000;
      const concurrencyBoundMs = (ceTotal * LATENCY) / concurrency;
      latencyRuns.push({
        concurrency,
        run,
        ceTotal,
        rateBoundMs,
        concurrencyBoundMs,
        bound: Math.max(rateBoundMs, concurrencyBoundMs),
      });
    } finally {
      await h.close();
    }
  }
  printTable(
    `Latency ${LATENCY} ms, CE_RATE_PER_ORG=${RATE} (1 process): ${LATENCY_ORGS} orgs x 30 days of cost windows`,
    [
      'WORKER_CONCURRENCY',
      'wall',
      'avg cost job',
      'CE requests',
      'bound: per-org rate',
      'bound: concurrency x latency',
      'lower bound',
      'wall / bound',
      'goal',
    ],
    latencyRuns.map((l) => [
      String(l.concurrency),
      fmt.s(l.run.wallMs),
      `${fmt.int(l.run.fetchJobMs.costs)} ms`,
      fmt.int(l.ceTotal),
      fmt.s(l.rateBoundMs),
      fmt.s(l.concurrencyBoundMs),
      fmt.s(l.bound),
      fmt.ratio(l.run.wallMs / l.bound),
      `<= 1.10x: ${l.run.wallMs / l.bound <= 1.1 ? 'PASS' : 'FAIL'}`,
    ]),
  );
  results.latency = latencyRuns;
}

if (scenarios.includes('steady')) {
  // The mid-month day, then the 1st of a month: rows of their own, never mixed.
  const days = [
    { at: BENCH_NOW, label: `mid-month ${today}`, orgs: STEADY_ORGS },
    ...(STEADY_MONTH_START
      ? [
          {
            at: BENCH_MONTH_START_NOW,
            label: `1st of the month ${BENCH_MONTH_START_NOW.slice(0, 10)}`,
            orgs: MONTH_START_ORGS,
          },
        ]
      : []),
  ];
  const steadyRuns: SteadyRun[] = [];
  for (const { at, label, orgs } of days) {
    const h = await startHarness({
      orgs,
      // The simulator restates like AWS (sim/restatement.ts): the Estimated days' estimates change
      // 3 times a day, retroactive credits and the previous month's final adjustments post.
      sim: { latencyMs: 0, restatement: { ...DEFAULT_RESTATEMENT, enabled: true } },
      // Production defaults (RESTATEMENT_PROBE, REFETCH_CURRENT_MONTH, RESTATEMENT_DAYS, BILL_CLOSE_DAY,
      // METRICS_REFRESH_DAYS, CE_DAILY_REQUEST_CAP, AWS_RATE_ORG_SHARE, ...); only the rate limits are
      // raised out of the way.
      env: { ...FAST_ENV },
      at,
    });
    try {
      const settings = {
        RESTATEMENT_DAYS: h.config.RESTATEMENT_DAYS,
        METRICS_REFRESH_DAYS: h.config.METRICS_REFRESH_DAYS,
        REFETCH_CURRENT_MONTH: h.config.REFETCH_CURRENT_MONTH,
        BILL_CLOSE_DAY: h.config.BILL_CLOSE_DAY,
      };
      const tick = (now: Now) =>
        enqueueDueFetches({
          db: h.db.pool,
          queues: h.queues,
          log: createLogger({ level: 'silent', name: 'bench' }),
          settings,
          now,
        });
      // Untimed: the day before, the same refresh ran (in-process workers, every queue, the
      // simulator's clock a day earlier), so today's refresh finds what production finds.
      const dayBefore = new Date(Date.parse(at) - 86_400_000).toISOString();
      const seedNow = createClock({ startAt: new Date(dayBefore), frozen: true });
      progress(`steady (${label}): the day before's refresh of ${orgs} orgs (${dayBefore}), untimed`);
      await h.sim.setOptions({ clockStart: dayBefore, clockFrozen: true });
      const seedStarted = performance.now();
      const seedWorkers = await inProcessWorkers(h, undefined, seedNow);
      const seeded = (await tick(seedNow)) * 2;
      await waitForRefresh(h, {
        sinceRunId: 0,
        expected: seeded,
        timeoutMs: seedTimeoutMs(orgs, at !== BENCH_NOW),
        what: 'seed',
      });
      await seedWorkers.stop();
      await drainQueues(h, seedTimeoutMs(orgs, at !== BENCH_NOW));
      progress(`steady (${label}): seeded in ${fmt.s(performance.now() - seedStarted)}`);
      await h.sim.setOptions({ clockStart: at, clockFrozen: true });
      const { rows: marks } = await h.db.pool.query<{ id: number; since: string }>(
        `SELECT coalesce(max(id), 0)::int AS id, now()::text AS since FROM fetch_runs`,
      );
      const mark = marks[0] ?? { id: 0, since: '-infinity' };
      const completedBefore = await completedJobs(h);
      progress(`steady: daily refresh of ${orgs} orgs on the ${label}`);
      const run = await runPipeline(h, {
        scenario: `steady (${label})`,
        sources: ['costs', 'metrics'],
        sinceRunId: mark.id,
        followUps: true,
        // Every queue a default `costwatch worker` serves: fetches, forecast, rollups, anomalies,
        // budgets, notifications.
        workers: (hh) => workerProcesses(hh, 2),
        enqueue: async () => (await tick(h.now)) * 2,
        timeoutMs: STEADY_TIMEOUT_MS,
      });
      const detail = await refreshDetail(h, mark.id, completedBefore);
      progress(`steady (${label}): the floor (psql \\copy of the same rows + the minimum statements)`);
      const floor = await measureFloor(h.db, mark.since);
      steadyRuns.push({ label, run: { ...run, mode: `${run.mode}: ${label}` }, detail, floor });
      // Each row as soon as it is measured (a long 10,000-org run keeps what it measured).
      saveResults('pipeline-steady-partial', steadyRuns);
      const own = run.cpuMs.workers + run.cpuMs.postgres + run.cpuMs.redis;
      const floorMs =
        floor.loads.psqlCpuMs +
        floor.loads.postgresCpuMs +
        floor.rollups.psqlCpuMs +
        floor.rollups.postgresCpuMs;
      progress(
        `steady (${label}): ${fmt.s(run.wallMs)} for ${orgs} orgs; CostWatch CPU ${(own / orgs).toFixed(1)} ms/org ` +
          `(simulator ${(run.cpuMs.simulator / orgs).toFixed(1)} ms apart), floor ${(floorMs / orgs).toFixed(1)} ms/org`,
      );
    } finally {
      await h.close();
    }
  }
  printTable(
    'Steady-state daily refresh (production defaults: RESTATEMENT_PROBE, REFETCH_CURRENT_MONTH, BILL_CLOSE_DAY=5; the day before refreshed; the simulator restating), zero latency',
    HEADER,
    steadyRuns.map((s) => describe(s.run)),
  );
  printTable(
    'What the refresh did per org',
    [
      'day',
      'orgs',
      'AWS requests per org',
      'probe',
      'cost rows per org',
      'metric rows per org',
      'jobs per org',
    ],
    steadyRuns.map(({ label, run, detail }) => [
      label,
      fmt.int(run.orgs),
      Object.entries(run.aws.byOperation)
        .sort()
        .map(([op, n]) => `${op.replace(/^[a-z]+:/, '')} ${(n / run.orgs).toFixed(2)}`)
        .join(', '),
      detail.probe,
      fmt.int(run.costRows / run.orgs),
      fmt.int(run.metricRows / run.orgs),
      Object.entries(detail.jobs)
        .map(([q, n]) =>
          n === null
            ? `${q} not counted (BullMQ keeps only the last ${fmt.int(COMPLETED_JOBS_KEPT)} completed jobs)`
            : `${q} ${(n / run.orgs).toFixed(2)}`,
        )
        .join(', '),
    ]),
  );
  const perOrg = (ms: number, orgs: number) => `${(ms / orgs).toFixed(1)} ms`;
  printTable(
    'CostWatch CPU per org against the floor (psql \\copy of the same rows + the minimum statements, same run), and 10,000 orgs on 2 cores',
    [
      'day',
      'CostWatch CPU per org (workers + postgres + redis)',
      'simulator CPU per org (apart)',
      'floor CPU per org: loads (psql + backend)',
      'floor: + rollups',
      'floor total',
      'CostWatch / floor',
      'wall for 10,000 (projected)',
      'CostWatch CPU for 10,000 on 2 cores',
      'floor for 10,000 on 2 cores',
    ],
    steadyRuns.map(({ label, run, floor }) => {
      const own = run.cpuMs.workers + run.cpuMs.postgres + run.cpuMs.redis;
      const floorLoads = floor.loads.psqlCpuMs + floor.loads.postgresCpuMs;
      const floorRollups = floor.rollups.psqlCpuMs + floor.rollups.postgresCpuMs;
      const floorTotal = floorLoads + floorRollups;
      const tenK = (ms: number) => (ms / 2) * (10_000 / run.orgs);
      return [
        label,
        `${perOrg(own, run.orgs)} (${perOrg(run.cpuMs.workers, run.orgs)} + ${perOrg(run.cpuMs.postgres, run.orgs)} + ${perOrg(run.cpuMs.redis, run.orgs)})`,
        perOrg(run.cpuMs.simulator, run.orgs),
        `${perOrg(floorLoads, run.orgs)} (${perOrg(floor.loads.psqlCpuMs, run.orgs)} + ${perOrg(floor.loads.postgresCpuMs, run.orgs)})`,
        perOrg(floorRollups, run.orgs),
        perOrg(floorTotal, run.orgs),
        fmt.ratio(own / floorTotal),
        `${fmt.s((run.wallMs * 10_000) / run.orgs)} (${fmt.ratio((run.wallMs * 10_000) / run.orgs / 180_000)} of 180 s)`,
        `${fmt.s(tenK(own))} (${fmt.ratio(tenK(own) / 180_000)} of 180 s)`,
        `${fmt.s(tenK(floorTotal))}; one psql session: ${fmt.s(((floor.loads.wallMs + floor.rollups.wallMs) * 10_000) / run.orgs)} wall`,
      ];
    }),
  );
  for (const { label, run } of steadyRuns)
    if (run.statements)
      printTable(
        `Postgres execution time by statement, steady ${label} (pg_stat_statements, top-level statements)`,
        ['statements', 'calls', 'total', 'per org'],
        run.statements.map((t) => [
          t.kind,
          fmt.int(t.calls),
          `${fmt.int(t.totalMs)} ms`,
          `${(t.totalMs / run.orgs).toFixed(2)} ms`,
        ]),
      );
  const mid = steadyRuns[0];
  if (mid) results.steadyProjected10k = (mid.run.wallMs * 10_000) / mid.run.orgs;
  results.steady = steadyRuns;
}

saveResults(`pipeline${args.quick ? '-quick' : ''}`, results);
export type { SimOptions };
