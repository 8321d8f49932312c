/**
 * Anomaly detection: quality and cost.
 *
 * Quality: 200 seeded synthetic org-years (bench/anomaly-data.ts: weekly patterns, trends, noise,
 * month-end effects; spikes, sustained increases and new services injected at known days). The
 * detector (lib/anomaly-detect.ts, default settings) scores each series day by day from day 60;
 * in the same run a naive detector (a fixed 20% day-over-day rise) scores the same series.
 * - precision: flagged episodes that meet an injected event / all flagged episodes;
 * - recall: injected events of at least +30% and $20/day that an episode meets (within a day
 *   before to three days after its start, or anywhere in a spike);
 * - pure seasonality: the same years without noise or events: anomalies found (goal 0).
 * Evaluation cost: the detector's CPU time per org per evaluated day.
 *
 * Postgres cost: `--db-orgs` of the org-years are loaded into cost_data and rolled up with the real
 * routine; then the real detection transaction (workers/anomaly-detection.ts) runs once over the
 * year per org (a backfill) and then as the daily refresh would (the last 3 days); Postgres time
 * per org per evaluated day from pg_stat_statements (client-side statement time without it).
 *
 *   npm run bench -- anomalies [--quick] [--orgs=200] [--db-orgs=40] [--seed=16]
 */
import {
  DEFAULT_DETECTOR_SETTINGS,
  episodesOf,
  scoreSeries,
  type DayScore,
  type Episode,
  type SeriesPoint,
} from '../lib/anomaly-detect.js';
import { addDays } from '../lib/dates.js';
import { detectOrgAnomalies } from '../workers/anomaly-detection.js';
import { createOrganization } from '../database/repositories/organizations.repository.js';
import { rebuildCostRollups } from '../database/repositories/rollups.repository.js';
import {
  qualifies,
  syntheticOrg,
  YEAR_DAYS,
  YEAR_START,
  type InjectedEvent,
  type SyntheticOrg,
} from './anomaly-data.js';
import { sampleStatements } from './harness.js';
import {
  createBenchDatabase,
  hardTimeout,
  machineNote,
  numberFlag,
  parseArgs,
  printMachine,
  printTable,
  progress,
  saveResults,
} from './support.js';

const args = parseArgs();
const ORGS = numberFlag(args, 'orgs', args.quick ? 50 : 200);
const DB_ORGS = numberFlag(args, 'db-orgs', args.quick ? 10 : 40);
const SEED = numberFlag(args, 'seed', 16);
/** Days before this are history only (the baseline and the month lookback need ~59). */
const FIRST_SCORED = 60;
hardTimeout((args.quick ? 5 : 15) * 60_000, 'anomalies');

const days = Array.from({ length: YEAR_DAYS }, (_, d) => addDays(YEAR_START, d));

function points(values: number[]): SeriesPoint[] {
  return values.map((amount, d) => ({ day: days[d] ?? '', amount, estimated: false }));
}

/** The naive detector: a day at least 20% above the day before (any amount), same episode rule. */
function naiveEpisodes(values: number[]): Episode[] {
  const scores: DayScore[] = [];
  for (let d = FIRST_SCORED; d < values.length; d++) {
    const today = values[d] ?? 0;
    const before = values[d - 1] ?? 0;
    const flagged = today > 0 && today >= before * 1.2;
    scores.push({
      day: days[d] ?? '',
      index: d,
      amount: today,
      baseline: before,
      excess: today - before,
      score: null,
      method: 'median',
      flag: flagged ? 'spike' : null,
      estimated: false,
    });
  }
  return episodesOf(scores);
}

interface Tally {
  episodes: number;
  truePositives: number;
  qualifying: number;
  caught: number;
  allEvents: number;
  allCaught: number;
}

const index = (day: string) => days.indexOf(day);

function meets(e: Episode, ev: InjectedEvent): boolean {
  const start = index(e.start);
  const end = index(e.end);
  // An episode belongs to an event when it overlaps the event's days (one day of slack each side).
  return start <= ev.end + 1 && end >= ev.start - 1;
}

function catches(e: Episode, ev: InjectedEvent): boolean {
  const start = index(e.start);
  const end = index(e.end);
  const lateBy = ev.kind === 'spike' ? ev.end - ev.start + 1 : 3;
  return start <= ev.start + lateBy && end >= ev.start - 1;
}

function tally(org: SyntheticOrg, detect: (values: number[]) => Episode[], t: Tally): void {
  for (const s of org.series) {
    const episodes = detect(s.values);
    const events = org.events.filter((ev) => ev.series === s.name && ev.start >= FIRST_SCORED);
    t.episodes += episodes.length;
    t.truePositives += episodes.filter((e) => events.some((ev) => meets(e, ev))).length;
    for (const ev of events) {
      const caught = episodes.some((e) => catches(e, ev));
      t.allEvents++;
      if (caught) t.allCaught++;
      if (qualifies(ev)) {
        t.qualifying++;
        if (caught) t.caught++;
      }
    }
  }
}

const empty = (): Tally => ({
  episodes: 0,
  truePositives: 0,
  qualifying: 0,
  caught: 0,
  allEvents: 0,
  allCaught: 0,
});
const detector = (values: number[]) =>
  episodesOf(scoreSeries(points(values), FIRST_SCORED, DEFAULT_DETECTOR_SETTINGS));

// ---- quality ----------------------------------------------------------------------------------
progress(`generating ${ORGS} org-years (seed ${SEED})`);
const orgs = Array.from({ length: ORGS }, (_, i) => syntheticOrg(i, { seed: SEED, injections: true }));
const seasonal = Array.from({ length: ORGS }, (_, i) =>
  syntheticOrg(i, { seed: SEED + 1, injections: false, noise: false }),
);
const ours = empty();
const naive = empty();
let seriesDays = 0;
const t0 = process.hrtime.bigint();
for (const org of orgs) tally(org, detector, ours);
const detectNs = Number(process.hrtime.bigint() - t0);
for (const org of orgs) {
  tally(org, naiveEpisodes, naive);
  for (const s of org.series) seriesDays += s.values.length - FIRST_SCORED;
}
let seasonalAnomalies = 0;
let seasonalNaive = 0;
for (const org of seasonal)
  for (const s of org.series) {
    seasonalAnomalies += detector(s.values).length;
    seasonalNaive += naiveEpisodes(s.values).length;
  }
const evaluatedOrgDays = ORGS * (YEAR_DAYS - FIRST_SCORED);
const msPerOrgDay = detectNs / 1e6 / evaluatedOrgDays;
const ratio = (a: number, b: number) => (b === 0 ? 1 : a / b);
const quality = {
  precision: ratio(ours.truePositives, ours.episodes),
  recall: ratio(ours.caught, ours.qualifying),
  recall_all_events: ratio(ours.allCaught, ours.allEvents),
  naive_precision: ratio(naive.truePositives, naive.episodes),
  naive_recall: ratio(naive.caught, naive.qualifying),
  naive_recall_all_events: ratio(naive.allCaught, naive.allEvents),
  episodes: ours.episodes,
  naive_episodes: naive.episodes,
  qualifying_events: ours.qualifying,
  events: ours.allEvents,
  seasonal_anomalies: seasonalAnomalies,
  seasonal_naive_anomalies: seasonalNaive,
  series_days: seriesDays,
  ms_per_org_day: msPerOrgDay,
};
printTable(
  `anomaly detection quality: ${ORGS} org-years, ${ours.allEvents} injected events (${ours.qualifying} of >= 30% and >= $20/day)`,
  [
    'detector',
    'precision',
    'recall (goal class)',
    'recall (all events)',
    'episodes',
    'anomalies on pure seasonality',
  ],
  [
    [
      'CostWatch (median/MAD, gates)',
      quality.precision.toFixed(3),
      quality.recall.toFixed(3),
      quality.recall_all_events.toFixed(3),
      ours.episodes,
      seasonalAnomalies,
    ],
    [
      'naive (+20% day over day)',
      quality.naive_precision.toFixed(3),
      quality.naive_recall.toFixed(3),
      quality.naive_recall_all_events.toFixed(3),
      naive.episodes,
      seasonalNaive,
    ],
  ],
);
process.stdout.write(
  `detector CPU: ${msPerOrgDay.toFixed(4)} ms per org per evaluated day (${seriesDays} series-days)\n`,
);

// ---- Postgres cost -----------------------------------------------------------------------------
const db = await createBenchDatabase(4);
const postgres: Record<string, number | string | null> = {};
try {
  const note = await machineNote(db.pool);
  printMachine(note);
  await db.pool.query(`SELECT ensure_monthly_partitions('cost_data', $1::date, $2::date)`, [
    YEAR_START,
    addDays(YEAR_START, YEAR_DAYS),
  ]);
  const ACCOUNTS = [
    ['111111111111', 0.65],
    ['222222222222', 0.35],
  ] as const;
  const REGIONS = [
    ['us-east-1', 0.7],
    ['eu-west-1', 0.3],
  ] as const;
  const orgIds: number[] = [];
  progress(`loading ${DB_ORGS} org-years into cost_data and rolling them up`);
  for (const org of orgs.slice(0, DB_ORGS)) {
    const created = await createOrganization(db.pool, {
      name: `bench-anomaly-${org.index}`,
      awsAccountId: '123456789012',
      roleArn: null,
      externalId: null,
    });
    orgIds.push(created.id);
    const cols: {
      day: string[];
      grouping: string[];
      service: string[];
      account: string[];
      region: string[];
      amount: string[];
    } = {
      day: [],
      grouping: [],
      service: [],
      account: [],
      region: [],
      amount: [],
    };
    for (const s of org.series)
      s.values.forEach((v, d) => {
        if (v === 0) return;
        for (const [acct, share] of ACCOUNTS) {
          cols.day.push(days[d] ?? '');
          cols.grouping.push('account_service');
          cols.service.push(s.name);
          cols.account.push(acct);
          cols.region.push('');
          cols.amount.push((v * share).toFixed(4));
        }
        for (const [region, share] of REGIONS) {
          cols.day.push(days[d] ?? '');
          cols.grouping.push('region_service');
          cols.service.push(s.name);
          cols.account.push('');
          cols.region.push(region);
          cols.amount.push((v * share).toFixed(4));
        }
      });
    await db.pool.query(
      `INSERT INTO cost_data (organization_id, cost_date, grouping, service, linked_account, region, unblended_cost,
                              amortized_cost, net_unblended_cost, usage_quantity)
       SELECT $1, d, g, s, a, r, x, x, x, 0
         FROM unnest($2::date[], $3::text[], $4::text[], $5::text[], $6::text[], $7::numeric[]) AS t(d, g, s, a, r, x)`,
      [created.id, cols.day, cols.grouping, cols.service, cols.account, cols.region, cols.amount],
    );
    await rebuildCostRollups(db.pool, created.id, YEAR_START, addDays(YEAR_START, YEAR_DAYS));
  }
  await db.pool.query('ANALYZE');
  const end = addDays(YEAR_START, YEAR_DAYS);
  const now = new Date(`${end}T06:00:00Z`);

  const measure = async (label: string, from: string) => {
    const statements = await sampleStatements(db);
    let evaluated = 0;
    let inserted = 0;
    const started = process.hrtime.bigint();
    for (const orgId of orgIds) {
      const r = await detectOrgAnomalies(db.pool, { orgId, from, to: end, now });
      evaluated += r.evaluatedDays;
      inserted += r.inserted;
    }
    const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
    const kinds = await statements.stop();
    const pgMs = kinds
      ? kinds.filter((k) => !/pg_stat/.test(k.kind)).reduce((a, k) => a + k.totalMs, 0)
      : null;
    return { label, evaluated, inserted, wallMs, pgMs };
  };
  progress('detection over the whole year, per org (backfill)');
  const backfill = await measure(
    'backfill (the whole year, one job per org)',
    addDays(YEAR_START, FIRST_SCORED),
  );
  progress('daily refresh: the last 3 days, per org');
  const daily = await measure('daily refresh (last 3 days)', addDays(end, -3));
  const perDay = (r: typeof daily, ms: number | null) => (ms === null ? null : ms / r.evaluated);
  printTable(
    `detection in Postgres: ${DB_ORGS} orgs`,
    ['run', 'org-days evaluated', 'anomalies opened', 'Postgres ms per org-day', 'wall ms per org-day'],
    [backfill, daily].map((r) => [
      r.label,
      r.evaluated,
      r.inserted,
      perDay(r, r.pgMs)?.toFixed(3) ?? 'n/a (no pg_stat_statements)',
      (r.wallMs / r.evaluated).toFixed(3),
    ]),
  );
  Object.assign(postgres, {
    pg_ms_per_org_day_backfill: perDay(backfill, backfill.pgMs),
    pg_ms_per_org_day_daily: perDay(daily, daily.pgMs),
    wall_ms_per_org_day_backfill: backfill.wallMs / backfill.evaluated,
    wall_ms_per_org_day_daily: daily.wallMs / daily.evaluated,
    pg_source: backfill.pgMs === null ? 'none' : 'pg_stat_statements',
    db_orgs: DB_ORGS,
  });
} finally {
  await db.drop();
}

const goals = {
  precision_at_least_0_9: quality.precision >= 0.9,
  recall_at_least_0_9: quality.recall >= 0.9,
  zero_on_pure_seasonality: seasonalAnomalies === 0,
  better_than_naive: quality.precision > quality.naive_precision && quality.recall >= quality.naive_recall,
  postgres_at_most_5ms_per_org_day:
    typeof postgres.pg_ms_per_org_day_daily === 'number' ? postgres.pg_ms_per_org_day_daily <= 5 : null,
};
const file = saveResults('anomalies', { seed: SEED, orgs: ORGS, ...quality, ...postgres, goals });
process.stdout.write(`\ngoals: ${JSON.stringify(goals)}\nresults: ${file}\n`);
