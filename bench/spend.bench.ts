/**
 * `npm run bench -- spend`: what CostWatch spends on Cost Explorer in a simulated month.
 *
 * For each design (today's design as the baseline, and the defaults), in the same run: N orgs,
 * the month before backfilled, then every REFRESH_CRON tick of the month driven by an injected
 * clock (lib/clock.ts manualClock; the simulator's clock pinned to the same instant with
 * clockStart/clockFrozen), each tick's jobs run to completion by the real workers against the
 * simulator, which restates like AWS (sim/restatement.ts: Estimated days move 3 times a day,
 * retroactive credits, final adjustments of the previous month until the bill closes).
 * Reports CE requests per org per day (mean, worst day), $/org/month, the lag between a
 * restatement posting and the stored figures showing it, days still stale right after a refresh,
 * and exactness at the end (every org, day and grouping against the simulator's final truth).
 *
 * Flags: --orgs=N (2), --days=D (30: the whole of November 2026), --designs=a,b (baseline,probe-4x,default).
 */
import { randomBytes } from 'node:crypto';
import { CronExpressionParser } from 'cron-parser';
import { parseConfig, asServiceConfig } from '../lib/config.js';
import { manualClock } from '../lib/clock.js';
import { createLogger } from '../lib/logger.js';
import { createRedis } from '../lib/redis.js';
import { createQueues, type Queues } from '../producers/queues.js';
import { enqueueBackfill } from '../producers/enqueue.js';
import { enqueueDueFetches } from '../producers/refresh-tick.js';
import { createOrganization } from '../database/repositories/organizations.repository.js';
import { storedDayTotals } from '../database/repositories/restatement.repository.js';
import { startWorkers } from '../workers/main.js';
import { decimalUnits } from '../workers/restatement-probe.js';
import { startSimulator } from '../sim/server.js';
import { formatDay, parseDay } from '../sim/calendar.js';
import { reportedValue, type CostMetric } from '../sim/cost-data.js';
import { formatFixed } from '../sim/money.js';
import { DEFAULT_RESTATEMENT, restatedDay, restatementEvents } from '../sim/restatement.js';
import { testEnv } from '../tests/helpers/pipeline.js';
import { discardQueues } from '../tests/helpers/queues.js';
import {
  createBenchDatabase,
  hardTimeout,
  machineNote,
  numberFlag,
  parseArgs,
  printMachine,
  printTable,
  progress,
  redisUrl,
  saveResults,
} from './support.js';

const PRICE = 0.01;
const MONTH_START = '2026-11-01';
const HISTORY_START = '2026-10-01';
const DATA_SEED = 'costwatch';
const RESTATEMENT = { ...DEFAULT_RESTATEMENT, enabled: true };
const METRICS: Array<
  [CostMetric, 'unblended_cost' | 'amortized_cost' | 'net_unblended_cost' | 'usage_quantity']
> = [
  ['UnblendedCost', 'unblended_cost'],
  ['AmortizedCost', 'amortized_cost'],
  ['NetUnblendedCost', 'net_unblended_cost'],
  ['UsageQuantity', 'usage_quantity'],
];

interface Design {
  name: string;
  describe: string;
  env: Record<string, string>;
}

const DESIGNS: Record<string, Design> = {
  baseline: {
    name: 'baseline',
    describe: "today's design: REFRESH_CRON 0 */6 * * *, REFETCH_CURRENT_MONTH=true, no probe",
    env: { REFRESH_CRON: '0 */6 * * *', REFETCH_CURRENT_MONTH: 'true', RESTATEMENT_PROBE: 'false' },
  },
  'probe-4x': {
    name: 'probe-4x',
    describe: 'restatement probe, REFRESH_CRON 0 */6 * * * (4 refreshes a day)',
    env: { REFRESH_CRON: '0 */6 * * *', REFETCH_CURRENT_MONTH: 'true', RESTATEMENT_PROBE: 'true' },
  },
  default: { name: 'default', describe: 'the defaults of lib/config.ts', env: {} },
};

interface DesignResult {
  design: string;
  describe: string;
  refreshCron: string;
  ticks: number;
  ceRequests: number;
  byOperation: Record<string, number>;
  ceRequestsPerOrgDay: number;
  worstDayCeRequestsPerOrg: number;
  dollarsPerOrgMonth: number;
  restatements: number;
  maxRestatementLagHours: number;
  meanRestatementLagHours: number;
  refreshIntervalHours: number;
  staleDaysAfterRefresh: number;
  exact: boolean;
  mismatches: string[];
  seconds: number;
}

function accountOf(i: number): string {
  return String(300_000_000_000 + i * 7919);
}

/** Truth at an instant: per (day) account_service UnblendedCost total, and grouped rows. */
function truthDay(account: string, day: number, nowSeconds: number) {
  return restatedDay(
    account,
    day,
    { today: Math.floor(nowSeconds / 86_400), nowSeconds },
    { dataSeed: DATA_SEED, restatement: RESTATEMENT },
  );
}

function truthTotal(account: string, day: number, nowSeconds: number): bigint {
  const { lines, estimates } = truthDay(account, day, nowSeconds);
  let total = 0n;
  lines.forEach((line, i) => (total += reportedValue(line, estimates?.[i], 'UnblendedCost')));
  return total;
}

function truthGroups(
  account: string,
  day: number,
  nowSeconds: number,
  grouping: string,
): Map<string, string[]> {
  const { lines, estimates } = truthDay(account, day, nowSeconds);
  const sums = new Map<string, bigint[]>();
  lines.forEach((line, i) => {
    const key = `${line.service}|${grouping === 'account_service' ? line.linkedAccount : line.region}`;
    const row = sums.get(key) ?? METRICS.map(() => 0n);
    METRICS.forEach(([metric], m) => (row[m] = (row[m] ?? 0n) + reportedValue(line, estimates?.[i], metric)));
    sums.set(key, row);
  });
  return new Map([...sums].map(([k, v]) => [k, v.map(formatFixed)]));
}

async function idle(queues: Queues, timeoutMs = 300_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await queues.fetchMetrics.drain(true);
    const counts = await Promise.all(
      [queues.fetchCosts, queues.fetchForecast, queues.rollups].map((q) =>
        q.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'waiting-children'),
      ),
    );
    if (counts.every((c) => Object.values(c).every((n) => n === 0))) return;
    if (Date.now() > deadline) throw new Error(`queues not idle: ${JSON.stringify(counts)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function ceCounts(
  byAccount: Record<string, Record<string, number>>,
  account: string,
): Record<string, number> {
  return Object.fromEntries(Object.entries(byAccount[account] ?? {}).filter(([op]) => op.startsWith('ce:')));
}

async function runDesign(design: Design, orgCount: number, days: number): Promise<DesignResult> {
  const started = Date.now();
  const db = await createBenchDatabase(10);
  const monthStart = parseDay(MONTH_START) ?? 0;
  const startSeconds = monthStart * 86_400;
  const endSeconds = (monthStart + days) * 86_400;
  const sim = await startSimulator({
    port: 0,
    dataSeed: DATA_SEED,
    restatement: RESTATEMENT,
    clockStart: new Date((startSeconds - 3600) * 1000).toISOString(),
    clockFrozen: true,
  });
  const prefix = `cwspend${randomBytes(4).toString('hex')}`;
  const env = testEnv({
    DATABASE_URL: db.url,
    REDIS_URL: redisUrl(),
    QUEUE_PREFIX: prefix,
    AWS_ENDPOINT_URL: sim.url,
    // The in-process simulator answers on http://127.0.0.1 (config refuses http:// without this).
    ALLOW_INSECURE_AWS_ENDPOINT: 'true',
    CE_RATE_PER_ORG: '1000',
    CW_RATE_PER_ORG: '1000',
    AWS_RATE_GLOBAL: '10000',
    WORKER_CONCURRENCY: '8',
    RETRY_BACKOFF_MS: '50',
    ...design.env,
  });
  const config = asServiceConfig(parseConfig('worker', env));
  const clock = manualClock(new Date((startSeconds - 3600) * 1000));
  const redis = createRedis(config.REDIS_URL, 'producer');
  const queues = createQueues(redis, {
    prefix,
    attempts: config.FETCH_ATTEMPTS,
    backoffMs: config.RETRY_BACKOFF_MS,
  });
  const log = createLogger({ level: 'silent', name: 'bench-spend' });
  const workers = await startWorkers(config, {
    queues: ['fetch-costs', 'fetch-forecast', 'rollups'],
    log,
    now: clock.now,
  });
  const orgs = [];
  for (let i = 0; i < orgCount; i++) {
    const account = accountOf(i);
    orgs.push({
      account,
      org: await createOrganization(db.pool, {
        name: `spend-${i}`,
        awsAccountId: account,
        roleArn: `arn:aws:iam::${account}:role/CostWatchRead`,
      }),
    });
  }
  try {
    // The month before, as a backfill would have loaded it (not counted).
    await enqueueBackfill(
      queues,
      orgs.map((o) => o.org.id),
      { from: HISTORY_START, to: MONTH_START },
      7,
      'spend',
    );
    await idle(queues);
    sim.control.resetCounts();

    const settings = {
      RESTATEMENT_DAYS: config.RESTATEMENT_DAYS,
      METRICS_REFRESH_DAYS: config.METRICS_REFRESH_DAYS,
      REFETCH_CURRENT_MONTH: config.REFETCH_CURRENT_MONTH,
      BILL_CLOSE_DAY: config.BILL_CLOSE_DAY,
    };
    const ticks: number[] = [];
    const cron = CronExpressionParser.parse(config.REFRESH_CRON, {
      currentDate: new Date(startSeconds * 1000 - 1),
      endDate: new Date(endSeconds * 1000 - 1),
      tz: 'UTC',
    });
    while (cron.hasNext()) ticks.push(cron.next().getTime() / 1000);
    const perOrgDay = new Map<string, number>();
    const byOperation: Record<string, number> = {};
    const historyStart = parseDay(HISTORY_START) ?? 0;
    const pending: Array<{ account: string; orgId: number; day: number; postedAt: number }> = [];
    const lags: number[] = [];
    let stale = 0;
    let before = sim.control.requestCounts().byAccount;
    let previous = startSeconds - 3600;
    for (const [n, t] of ticks.entries()) {
      const iso = new Date(t * 1000).toISOString();
      clock.set(iso);
      sim.control.setOptions({ clockStart: iso, clockFrozen: true });
      await enqueueDueFetches({ db: db.pool, queues, log, settings, now: clock.now });
      await idle(queues);
      const after = sim.control.requestCounts().byAccount;
      const today = Math.floor(t / 86_400);
      for (const { account, org } of orgs) {
        const now = ceCounts(after, account);
        const was = ceCounts(before, account);
        let spent = 0;
        for (const [op, count] of Object.entries(now)) {
          const delta = count - (was[op] ?? 0);
          spent += delta;
          byOperation[op] = (byOperation[op] ?? 0) + delta;
        }
        const key = `${org.id}|${formatDay(today)}`;
        perOrgDay.set(key, (perOrgDay.get(key) ?? 0) + spent);
        // Restatements posted since the last tick, and what is stored now.
        for (const e of restatementEvents(
          account,
          { fromDay: historyStart, toDay: today + 1, fromSeconds: previous, toSeconds: t },
          { dataSeed: DATA_SEED, restatement: RESTATEMENT },
        ))
          pending.push({ account, orgId: org.id, day: e.day, postedAt: e.postedAt });
        const stored = await storedDayTotals(db.pool, org.id, {
          from: HISTORY_START,
          to: formatDay(today + 1),
        });
        for (let day = historyStart; day <= today; day++) {
          const have = stored.get(formatDay(day));
          const storedUnits = have ? decimalUnits(have.unblendedCost) : 0n;
          if (storedUnits !== decimalUnits(formatFixed(truthTotal(account, day, t)))) stale++;
        }
        for (let i = pending.length - 1; i >= 0; i--) {
          const p = pending[i];
          if (!p || p.orgId !== org.id) continue;
          const have = stored.get(formatDay(p.day));
          if (
            have &&
            decimalUnits(have.unblendedCost) === decimalUnits(formatFixed(truthTotal(account, p.day, t)))
          ) {
            lags.push((t - p.postedAt) / 3600);
            pending.splice(i, 1);
          }
        }
      }
      before = after;
      previous = t;
      if (n % 20 === 0) progress(`${design.name}: tick ${n + 1}/${ticks.length} ${iso}`);
    }
    // Exactness: every (org, day, grouping) against the simulator's truth at the last tick.
    const final = ticks[ticks.length - 1] ?? endSeconds;
    const lastDay = Math.floor(final / 86_400);
    const mismatches: string[] = [];
    for (const { account, org } of orgs) {
      const { rows } = await db.pool.query<Record<string, string>>(
        `SELECT cost_date::text AS day, grouping, service, linked_account, region,
                unblended_cost::text, amortized_cost::text, net_unblended_cost::text, usage_quantity::text
           FROM cost_data WHERE organization_id = $1`,
        [org.id],
      );
      const stored = new Map<string, Map<string, string[]>>();
      for (const r of rows) {
        const k = `${r.day}|${r.grouping}`;
        const m = stored.get(k) ?? new Map<string, string[]>();
        m.set(
          `${r.service}|${r.grouping === 'account_service' ? r.linked_account : r.region}`,
          METRICS.map(([, c]) => r[c] ?? ''),
        );
        stored.set(k, m);
      }
      for (let day = historyStart; day <= lastDay; day++) {
        for (const grouping of ['account_service', 'region_service']) {
          const truth = truthGroups(account, day, final, grouping);
          const have = stored.get(`${formatDay(day)}|${grouping}`) ?? new Map<string, string[]>();
          const same =
            truth.size === have.size &&
            [...truth].every(([k, v]) => {
              const h = have.get(k);
              return h !== undefined && v.every((x, i) => decimalUnits(x) === decimalUnits(h[i] ?? 'x'));
            });
          if (!same && mismatches.length < 10) mismatches.push(`org ${org.id} ${formatDay(day)} ${grouping}`);
          else if (!same) mismatches.push('');
        }
      }
    }
    const total = [...perOrgDay.values()].reduce((a, b) => a + b, 0);
    const perDay = total / (orgCount * days);
    const interval = ticks.length > 1 ? (days * 24) / ticks.length : 24;
    return {
      design: design.name,
      describe: design.describe,
      refreshCron: config.REFRESH_CRON,
      ticks: ticks.length,
      ceRequests: total,
      byOperation,
      ceRequestsPerOrgDay: perDay,
      worstDayCeRequestsPerOrg: Math.max(0, ...perOrgDay.values()),
      dollarsPerOrgMonth: perDay * 30 * PRICE,
      restatements: lags.length + pending.length,
      maxRestatementLagHours: pending.length > 0 ? Infinity : Math.max(0, ...lags),
      meanRestatementLagHours: lags.length ? lags.reduce((a, b) => a + b, 0) / lags.length : 0,
      refreshIntervalHours: interval,
      staleDaysAfterRefresh: stale,
      exact: mismatches.length === 0,
      mismatches: mismatches.filter(Boolean),
      seconds: (Date.now() - started) / 1000,
    };
  } finally {
    await workers.stop();
    await discardQueues(queues);
    redis.disconnect();
    await sim.close();
    await db.drop();
  }
}

async function main(): Promise<void> {
  const args = parseArgs();
  const orgCount = numberFlag(args, 'orgs', 2);
  const days = numberFlag(args, 'days', args.quick ? 10 : 30);
  const names = (args.flags.get('designs') ?? 'baseline,probe-4x,default').split(',');
  const timer = hardTimeout(30 * 60_000, 'spend');
  const results: DesignResult[] = [];
  for (const name of names) {
    const design = DESIGNS[name];
    if (!design)
      throw new Error(`--designs: unknown design ${name} (have ${Object.keys(DESIGNS).join(', ')})`);
    progress(`${name}: ${design.describe}, ${orgCount} orgs, ${days} days from ${MONTH_START}`);
    results.push(await runDesign(design, orgCount, days));
  }
  const probeDb = await createBenchDatabase(1);
  const machine = await machineNote(probeDb.pool);
  await probeDb.drop();
  printMachine(machine);
  printTable(
    `Cost Explorer spend, ${orgCount} orgs, ${days} simulated days from ${MONTH_START} (restating simulator)`,
    [
      'design',
      'cron',
      'CE req/org/day',
      'worst day',
      '$/org/month',
      'max lag h',
      'stale after refresh',
      'exact',
    ],
    results.map((r) => [
      r.design,
      r.refreshCron,
      r.ceRequestsPerOrgDay.toFixed(2),
      r.worstDayCeRequestsPerOrg,
      `$${r.dollarsPerOrgMonth.toFixed(2)}`,
      r.maxRestatementLagHours.toFixed(1),
      r.staleDaysAfterRefresh,
      r.exact ? 'yes' : `NO (${r.mismatches.join('; ')})`,
    ]),
  );
  const baseline = results.find((r) => r.design === 'baseline');
  const chosen = results.find((r) => r.design === 'default') ?? results[results.length - 1];
  const goals = chosen
    ? {
        meanAtMost6: chosen.ceRequestsPerOrgDay <= 6,
        dollarsAtMost2: chosen.dollarsPerOrgMonth <= 2,
        lagWithinOneRefresh: chosen.maxRestatementLagHours <= chosen.refreshIntervalHours,
        exact: chosen.exact,
      }
    : {};
  process.stdout.write(`goals (${chosen?.design}): ${JSON.stringify(goals)}\n`);
  const file = saveResults('spend', {
    machine,
    orgs: orgCount,
    days,
    month: MONTH_START,
    restatement: RESTATEMENT,
    ce_requests_per_org_day: chosen?.ceRequestsPerOrgDay,
    baseline_ce_requests_per_org_day: baseline?.ceRequestsPerOrgDay,
    worst_day_ce_requests_per_org: chosen?.worstDayCeRequestsPerOrg,
    dollars_per_org_month: chosen?.dollarsPerOrgMonth,
    baseline_dollars_per_org_month: baseline?.dollarsPerOrgMonth,
    exact: results.every((r) => r.exact),
    max_restatement_lag_hours: chosen?.maxRestatementLagHours,
    refresh_interval_hours: chosen?.refreshIntervalHours,
    goals,
    designs: results,
  });
  process.stdout.write(`results: ${file}\n`);
  clearTimeout(timer);
  const failed = results.some((r) => !r.exact) || Object.values(goals).some((ok) => !ok);
  process.exit(failed ? 1 : 0);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
