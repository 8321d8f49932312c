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
 *  steady    the scheduler's daily refresh (enqueueDueFetches) of N orgs, RESTATEMENT_DAYS=3,
 *            REFETCH_CURRENT_MONTH=false, BILL_CLOSE_DAY=1: costs only, then costs + metrics, on
 *            the pinned mid-month day; then costs + metrics on the 1st of a month (its own row:
 *            the previous month is in the window).
 *
 * Every run is pinned to BENCH_NOW (bench/support.ts), the steady 1st-of-month row to
 * BENCH_MONTH_START_NOW: nothing here reads the real date.
 *
 *   npm run bench -- pipeline [--quick] [--scenario=backfill,latency,steady] [--orgs=N]
 *     [--in-process=false] [--steady-variants=metrics] [--steady-month-start=false] [--latency-orgs=N]
 *     [--latency-concurrency=8,32] [--steady-orgs=N] [--procs=1,2]
 */
import { addDays, splitWindows, todayUtc } from '../lib/dates.js';
import { enqueueBackfill, enqueueFetches } from '../producers/enqueue.js';
import { enqueueDueFetches } from '../producers/refresh-tick.js';
import { createLogger } from '../lib/logger.js';
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
// `--steady-variants=metrics` runs only costs + metrics (e.g. the real 10,000-org refresh).
const STEADY_VARIANTS = (['costs', 'costs + metrics'] as const).filter(
  (v) => args.flags.get('steady-variants') !== 'metrics' || v === 'costs + metrics',
);
// The 1st-of-month row (`--steady-month-start=false` skips it) refetches the previous month too:
// ~8x the rows of a mid-month refresh, so its timeout is 4 of the others'.
const STEADY_MONTH_START = args.flags.get('steady-month-start') !== 'false';
const STEADY_TIMEOUT_MS = Math.max((args.quick ? 3 : 6) * 60_000, STEADY_ORGS * 200);
hardTimeout(
  (args.quick ? 8 : 14) * 60_000 +
    (scenarios.includes('backfill') ? BACKFILL_TIMEOUT_MS * (PROCS.length + (IN_PROCESS ? 1 : 0)) : 0) +
    (scenarios.includes('steady')
      ? STEADY_TIMEOUT_MS * (STEADY_VARIANTS.length + (STEADY_MONTH_START ? 4 : 0))
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
       FROM fetch_runs WHERE source = ANY($1)`,
      [options.sources],
    );
    const p = rows[0] ?? { fetched: 0, rolled: 0, failed: 0 };
    if (!fetchDoneMs && p.fetched + p.failed >= expected) fetchDoneMs = performance.now() - started;
    if (p.rolled + p.failed >= expected) break;
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
     FROM fetch_runs GROUP BY source`,
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
  const settings = {
    RESTATEMENT_DAYS: 3,
    METRICS_REFRESH_DAYS: 1,
    REFETCH_CURRENT_MONTH: false,
    BILL_CLOSE_DAY: 1,
  };
  // The mid-month day of every run, then the 1st of a month (the previous month is refetched: a
  // row of its own, never mixed into the mid-month figures and projections).
  const days = [
    ...STEADY_VARIANTS.map((variant) => ({ variant, at: BENCH_NOW, label: `mid-month ${today}` })),
    ...(STEADY_MONTH_START
      ? [
          {
            variant: 'costs + metrics' as const,
            at: BENCH_MONTH_START_NOW,
            label: `1st of the month ${BENCH_MONTH_START_NOW.slice(0, 10)}`,
          },
        ]
      : []),
  ];
  const runs: RunResult[] = [];
  const monthStartRuns: RunResult[] = [];
  for (const { variant, at, label } of days) {
    const sources: Array<'costs' | 'metrics'> = variant === 'costs' ? ['costs'] : ['costs', 'metrics'];
    const queues: WorkerQueue[] =
      variant === 'costs' ? ['fetch-costs', 'rollups'] : ['fetch-costs', 'fetch-metrics', 'rollups'];
    const monthStart = at !== BENCH_NOW;
    const h = await startHarness({
      orgs: STEADY_ORGS,
      sim: { latencyMs: 0 },
      env: { ...FAST_ENV, RESTATEMENT_DAYS: '3', REFETCH_CURRENT_MONTH: 'false', BILL_CLOSE_DAY: '1' },
      at,
    });
    try {
      progress(`steady: daily refresh of ${STEADY_ORGS} orgs (${variant}) on the ${label}`);
      const run = await runPipeline(h, {
        scenario: `steady (${variant}, ${label})`,
        sources,
        workers: (hh) => workerProcesses(hh, 2, queues),
        enqueue: async (hh) => {
          const orgs = await enqueueDueFetches({
            db: hh.db.pool,
            queues: hh.queues,
            log: createLogger({ level: 'silent', name: 'bench' }),
            settings,
            now: hh.now,
          });
          if (variant === 'costs') await hh.queues.fetchMetrics.obliterate({ force: true });
          return orgs * sources.length;
        },
        timeoutMs: STEADY_TIMEOUT_MS * (monthStart ? 4 : 1),
      });
      (monthStart ? monthStartRuns : runs).push({ ...run, mode: `${run.mode}: ${variant}, ${label}` });
    } finally {
      await h.close();
    }
  }
  printTable(
    `Steady-state daily refresh of ${STEADY_ORGS} orgs (RESTATEMENT_DAYS=3, REFETCH_CURRENT_MONTH=false, BILL_CLOSE_DAY=1), zero latency`,
    HEADER,
    [...runs, ...monthStartRuns].map(describe),
  );
  const all = runs[runs.length - 1];
  for (const r of runs) {
    const projected = (r.wallMs * 10_000) / r.orgs;
    process.stdout.write(
      `steady ${r.mode}: ${fmt.s(r.wallMs)} for ${fmt.int(r.orgs)} orgs; projected for 10,000 orgs: ${fmt.s(projected)} ` +
        `(goal < 180 s: ${fmt.ratio(projected / 180_000)} of the goal)\n`,
    );
  }
  for (const r of runs) {
    // What CostWatch itself needs, without "AWS": its CPU (workers, Postgres, Redis) per org,
    // spread over this machine's 2 cores.
    const own = r.cpuMs.workers + r.cpuMs.postgres + r.cpuMs.redis;
    const ownProjected = ((own / 2) * 10_000) / r.orgs;
    process.stdout.write(
      `steady ${r.mode}: CostWatch's own CPU ${fmt.int(own / r.orgs)} ms per org (simulator ${fmt.int(r.cpuMs.simulator / r.orgs)} ms); ` +
        `10,000 orgs on 2 cores without the simulator: ${fmt.s(ownProjected)} (${fmt.ratio(ownProjected / 180_000)} of the goal)\n`,
    );
    if (r.statements)
      printTable(
        `Postgres execution time by statement, steady ${r.mode} (pg_stat_statements, top-level statements)`,
        ['statements', 'calls', 'total', 'per org'],
        r.statements.map((t) => [
          t.kind,
          fmt.int(t.calls),
          `${fmt.int(t.totalMs)} ms`,
          `${(t.totalMs / r.orgs).toFixed(2)} ms`,
        ]),
      );
  }
  if (all) results.steadyProjected10k = (all.wallMs * 10_000) / all.orgs;
  results.steady = runs;
  results.steadyMonthStart = monthStartRuns;
}

saveResults(`pipeline${args.quick ? '-quick' : ''}`, results);
export type { SimOptions };
