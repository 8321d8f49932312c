/**
 * Anomaly detection: quality and cost.
 *
 * Quality: 200 seeded synthetic org-years (bench/anomaly-data.ts: weekly patterns, trends, noise,
 * month-end effects; spikes, sustained increases and new services injected at known days), in two
 * mixes: `ramps` (half the sustained increases phased in over 2-7 days; the headline figures) and
 * `steps` (every increase a step, the first benchmark's year). The detector (lib/anomaly-detect.ts,
 * default settings) scores each series day by day from day 60; in the same run a naive detector (a
 * fixed 20% day-over-day rise) scores the same series.
 * - precision: flagged episodes that meet an injected event / all flagged episodes;
 * - recall: injected events of at least +30% and $20/day that the detector saw: it flagged a day
 *   of the catch window (a spike: its days and the day after; an increase: up to 3 days after it
 *   is at full size) that it does not flag on the same series without the event (docs/ANOMALIES.md).
 *   The first benchmark's rule (any episode meeting the window) is reported next to it;
 * - pure seasonality: the same years without noise or events: anomalies found (goal 0).
 * Evaluation cost: the detector's CPU time per org per evaluated day.
 *
 * Postgres cost: `--db-orgs` of the org-years are loaded into cost_data and rolled up with the real
 * routine; then the real detection transaction (workers/anomaly-detection.ts) runs once over the
 * year per org (a backfill) and then as the daily refresh would (the last 3 days); Postgres time
 * per org per evaluated day from pg_stat_statements (client-side statement time without it).
 *
 *   npm run bench -- anomalies [--quick] [--orgs=200] [--db-orgs=40] [--seed=16] [--mix=both|ramps|steps] [--quality-only]
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
  type EventMix,
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
const mixFlag = args.flags.get('mix') ?? 'both';
/** Only the detector's quality (no database): for tuning; writes bench/results/anomalies-quality.json. */
const QUALITY_ONLY = args.flags.get('quality-only') === 'true';
if (mixFlag !== 'both' && mixFlag !== 'ramps' && mixFlag !== 'steps')
  throw new Error(`--mix: must be ramps, steps or both (got ${JSON.stringify(mixFlag)})`);
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

type Category = 'spike' | 'increase (step)' | 'increase (ramp)' | 'new service';
const CATEGORIES: Category[] = ['spike', 'increase (step)', 'increase (ramp)', 'new service'];

function categoryOf(ev: InjectedEvent): Category {
  if (ev.kind === 'spike') return 'spike';
  if (ev.kind === 'new_service') return 'new service';
  return ev.rampDays > 1 ? 'increase (ramp)' : 'increase (step)';
}

interface Tally {
  episodes: number;
  /** Episodes meeting an event (the precision rule). */
  truePositives: number;
  /** ... of which at least one flagged day is not flagged on the event-free series too. */
  truePositivesAttributed: number;
  qualifying: number;
  /** Goal-class events caught by a flag the event caused (the recall rule). */
  caught: number;
  /** Goal-class events met by an episode in the catch window (the first benchmark's rule). */
  caughtWindow: number;
  allEvents: number;
  allCaught: number;
  allCaughtWindow: number;
  byCategory: Map<Category, { qualifying: number; caught: number; caughtWindow: number }>;
  /** Time in the detector on the series themselves (not on the event-free copies). */
  detectNs: number;
}

const index = (day: string) => days.indexOf(day);

function meets(e: Episode, ev: InjectedEvent): boolean {
  const start = index(e.start);
  const end = index(e.end);
  // An episode belongs to an event when it overlaps the event's days (one day of slack each side).
  return start <= ev.end + 1 && end >= ev.start - 1;
}

/**
 * The last day of an event's catch window: a spike anywhere in its days (and the day after), an
 * increase or a new service at most 3 days after it is at full size (a step: its first day; a
 * ramp: its last ramp day).
 */
function lastCatchDay(ev: InjectedEvent): number {
  return ev.kind === 'spike' ? ev.end + 1 : ev.start + ev.rampDays - 1 + 3;
}

/** The first benchmark's rule: an episode that meets the catch window. */
function catches(e: Episode, ev: InjectedEvent): boolean {
  return index(e.start) <= lastCatchDay(ev) && index(e.end) >= ev.start - 1;
}

/**
 * The recall rule: a flagged day in the catch window that the same detector does not flag on the
 * same series without the event (same noise, same seasonality). A flag the detector raises anyway
 * (the naive detector's every Monday and month start) did not see the event.
 */
function sees(flagged: ReadonlySet<number>, withoutEvent: ReadonlySet<number>, ev: InjectedEvent): boolean {
  for (let d = ev.start - 1; d <= lastCatchDay(ev); d++)
    if (flagged.has(d) && !withoutEvent.has(d)) return true;
  return false;
}

const flaggedDays = (episodes: readonly Episode[]) =>
  new Set(episodes.flatMap((e) => e.days.map((s) => s.index)));

function tally(org: SyntheticOrg, detect: (values: number[]) => Episode[], t: Tally): void {
  for (const s of org.series) {
    const t0 = process.hrtime.bigint();
    const episodes = detect(s.values);
    t.detectNs += Number(process.hrtime.bigint() - t0);
    const events = org.events.filter((ev) => ev.series === s.name && ev.start >= FIRST_SCORED);
    const flagged = flaggedDays(episodes);
    const withoutEvent = s.clean && events.length > 0 ? flaggedDays(detect(s.clean)) : flagged;
    t.episodes += episodes.length;
    for (const e of episodes) {
      if (!events.some((ev) => meets(e, ev))) continue;
      t.truePositives++;
      if (e.days.some((d) => !withoutEvent.has(d.index))) t.truePositivesAttributed++;
    }
    for (const ev of events) {
      const caughtWindow = episodes.some((e) => catches(e, ev));
      const caught = sees(flagged, withoutEvent, ev);
      t.allEvents++;
      if (caught) t.allCaught++;
      if (caughtWindow) t.allCaughtWindow++;
      if (qualifies(ev)) {
        t.qualifying++;
        if (caught) t.caught++;
        if (caughtWindow) t.caughtWindow++;
        const c = t.byCategory.get(categoryOf(ev)) ?? { qualifying: 0, caught: 0, caughtWindow: 0 };
        c.qualifying++;
        if (caught) c.caught++;
        if (caughtWindow) c.caughtWindow++;
        t.byCategory.set(categoryOf(ev), c);
      }
    }
  }
}

const empty = (): Tally => ({
  episodes: 0,
  truePositives: 0,
  truePositivesAttributed: 0,
  qualifying: 0,
  caught: 0,
  caughtWindow: 0,
  allEvents: 0,
  allCaught: 0,
  allCaughtWindow: 0,
  byCategory: new Map(),
  detectNs: 0,
});
const detector = (values: number[]) =>
  episodesOf(scoreSeries(points(values), FIRST_SCORED, DEFAULT_DETECTOR_SETTINGS));
const ratio = (a: number, b: number) => (b === 0 ? 1 : a / b);
const evaluatedOrgDays = ORGS * (YEAR_DAYS - FIRST_SCORED);

function measures(t: Tally) {
  return {
    precision: ratio(t.truePositives, t.episodes),
    recall: ratio(t.caught, t.qualifying),
    recallAll: ratio(t.allCaught, t.allEvents),
    precisionAttributed: ratio(t.truePositivesAttributed, t.episodes),
    recallWindow: ratio(t.caughtWindow, t.qualifying),
    recallAllWindow: ratio(t.allCaughtWindow, t.allEvents),
  };
}

/** Scores both detectors on one mix of the 200 org-years; prints its tables. */
function measureMix(mix: EventMix) {
  progress(`generating ${ORGS} org-years (seed ${SEED}, mix ${mix})`);
  const orgs = Array.from({ length: ORGS }, (_, i) => syntheticOrg(i, { seed: SEED, injections: true, mix }));
  const ours = empty();
  const naive = empty();
  for (const org of orgs) tally(org, detector, ours);
  for (const org of orgs) tally(org, naiveEpisodes, naive);
  const weekdays = [0, 0, 0, 0, 0, 0, 0];
  for (const org of orgs)
    for (const ev of org.events)
      if (ev.start >= FIRST_SCORED) {
        const dow = (3 + ev.start) % 7; // 2025-01-01 is a Wednesday
        weekdays[dow] = (weekdays[dow] ?? 0) + 1;
      }
  const o = measures(ours);
  const n = measures(naive);
  const quality = {
    precision: o.precision,
    recall: o.recall,
    recall_all_events: o.recallAll,
    naive_precision: n.precision,
    naive_recall: n.recall,
    naive_recall_all_events: n.recallAll,
    precision_attributed: o.precisionAttributed,
    naive_precision_attributed: n.precisionAttributed,
    recall_window_rule: o.recallWindow,
    naive_recall_window_rule: n.recallWindow,
    recall_all_events_window_rule: o.recallAllWindow,
    naive_recall_all_events_window_rule: n.recallAllWindow,
    episodes: ours.episodes,
    naive_episodes: naive.episodes,
    qualifying_events: ours.qualifying,
    events: ours.allEvents,
    ramped_increases: orgs.reduce((a, org) => a + org.events.filter((ev) => ev.rampDays > 1).length, 0),
    event_start_weekdays_sun_to_sat: weekdays,
    by_category: Object.fromEntries(
      CATEGORIES.map((c) => [
        c,
        {
          qualifying: ours.byCategory.get(c)?.qualifying ?? 0,
          recall: ratio(ours.byCategory.get(c)?.caught ?? 0, ours.byCategory.get(c)?.qualifying ?? 0),
          naive_recall: ratio(naive.byCategory.get(c)?.caught ?? 0, naive.byCategory.get(c)?.qualifying ?? 0),
        },
      ]),
    ),
    ms_per_org_day: ours.detectNs / 1e6 / evaluatedOrgDays,
  };
  const row = (label: string, m: ReturnType<typeof measures>, t: Tally) => [
    label,
    ...[m.precision, m.recall, m.recallAll, m.recallWindow, m.precisionAttributed].map((x) => x.toFixed(3)),
    t.episodes,
  ];
  printTable(
    `anomaly detection quality, mix ${mix}: ${ORGS} org-years, ${ours.allEvents} injected events (${ours.qualifying} of >= 30% and >= $20/day, ${quality.ramped_increases} increases phased in)`,
    [
      'detector',
      'precision',
      'recall (goal class)',
      'recall (all events)',
      'recall (goal class), window rule',
      'precision, attributed',
      'episodes',
    ],
    [row('CostWatch (median/MAD, gates)', o, ours), row('naive (+20% day over day)', n, naive)],
  );
  printTable(
    `recall on the goal class by kind of event, mix ${mix}`,
    ['event', 'events', 'CostWatch', 'naive', 'CostWatch, window rule', 'naive, window rule'],
    CATEGORIES.map((c) => {
      const oc = ours.byCategory.get(c) ?? { qualifying: 0, caught: 0, caughtWindow: 0 };
      const nc = naive.byCategory.get(c) ?? { qualifying: 0, caught: 0, caughtWindow: 0 };
      return [
        c,
        oc.qualifying,
        ratio(oc.caught, oc.qualifying).toFixed(3),
        ratio(nc.caught, nc.qualifying).toFixed(3),
        ratio(oc.caughtWindow, oc.qualifying).toFixed(3),
        ratio(nc.caughtWindow, nc.qualifying).toFixed(3),
      ];
    }),
  );
  process.stdout.write(
    `event start weekdays (Sun..Sat): ${weekdays.join(', ')}; detector CPU: ${quality.ms_per_org_day.toFixed(4)} ms per org per evaluated day\n`,
  );
  return { orgs, quality };
}

// ---- quality ----------------------------------------------------------------------------------
const MIXES: EventMix[] = mixFlag === 'both' ? ['ramps', 'steps'] : [mixFlag];
const measured = MIXES.map((mix) => ({ mix, ...measureMix(mix) }));
const [main] = measured;
if (!main) throw new Error('--mix: no mix measured');
const { orgs, quality, mix: mainMix } = main;
const otherMixes = Object.fromEntries(measured.slice(1).map((m) => [`mix_${m.mix}`, m.quality]));
const seasonal = Array.from({ length: ORGS }, (_, i) =>
  syntheticOrg(i, { seed: SEED + 1, injections: false, noise: false }),
);
let seasonalAnomalies = 0;
let seasonalNaive = 0;
let seriesDays = 0;
for (const org of seasonal)
  for (const s of org.series) {
    seasonalAnomalies += detector(s.values).length;
    seasonalNaive += naiveEpisodes(s.values).length;
  }
for (const org of orgs) for (const s of org.series) seriesDays += s.values.length - FIRST_SCORED;
process.stdout.write(
  `pure seasonality (${ORGS} org-years, no noise, no events): CostWatch ${seasonalAnomalies} anomalies, naive ${seasonalNaive}\n`,
);

/** The goals, then the results file (`postgres` empty with --quality-only). */
function finish(postgres: Record<string, number | string | null>): void {
  const goals = {
    precision_at_least_0_9: quality.precision >= 0.9,
    recall_at_least_0_9: quality.recall >= 0.9,
    zero_on_pure_seasonality: seasonalAnomalies === 0,
    better_than_naive: quality.precision > quality.naive_precision && quality.recall > quality.naive_recall,
    postgres_at_most_5ms_per_org_day:
      typeof postgres.pg_ms_per_org_day_daily === 'number' ? postgres.pg_ms_per_org_day_daily <= 5 : null,
  };
  const file = saveResults(QUALITY_ONLY ? 'anomalies-quality' : 'anomalies', {
    seed: SEED,
    orgs: ORGS,
    mix: mainMix,
    ...quality,
    seasonal_anomalies: seasonalAnomalies,
    seasonal_naive_anomalies: seasonalNaive,
    series_days: seriesDays,
    ...otherMixes,
    ...postgres,
    goals,
  });
  process.stdout.write(`\ngoals: ${JSON.stringify(goals)}\nresults: ${file}\n`);
}

if (QUALITY_ONLY) {
  finish({});
  process.exit(0);
}

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
      roleArn: 'arn:aws:iam::123456789012:role/CostWatchRead',
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

finish(postgres);
