/**
 * How Cost Explorer restates a bill over time (the `restatement` simulator option). Off by default:
 * then Estimated days move on every call (sim/cost-data.ts `reportedDay`) and final days never
 * change. On, the bill a call sees depends on the simulator's clock (`nowSeconds`), like AWS:
 *   - Estimated days (the last ESTIMATED_DAYS and today) change `estimateUpdatesPerDay` times a day
 *     (every read within one update slot sees the same estimate, so the two groupings and an
 *     ungrouped probe agree);
 *   - an older day of the month occasionally gets a retroactive credit (`retroCreditRate` per day),
 *     posted 3-14 days after the day;
 *   - days of the previous month get final adjustments (`finalAdjustmentRate` per day), posted
 *     during the first `finalAdjustmentsUntilDay` days of the next month, before the bill closes.
 * Every value is a pure function of (data seed, account, day, instant), so a benchmark computes the
 * truth at any instant without HTTP (`restatedDay`) and lists the postings (`restatementEvents`).
 */
import { monthStart } from './calendar.js';
import {
  COST_METRICS,
  finalCostLines,
  reportedDay,
  type CostLine,
  type CostMetric,
  type ReportedDay,
} from './cost-data.js';
import { scale } from './money.js';
import { hashInt } from './prng.js';

export interface RestatementOptions {
  /** Restate by the simulator's clock as described above; false: legacy per-call estimates. */
  enabled: boolean;
  /** How many times a day the estimates of Estimated days change (1..96). */
  estimateUpdatesPerDay: number;
  /** Chance 0..1 that a day gets a retroactive credit 3-14 days later (within its month's bill). */
  retroCreditRate: number;
  /** Chance 0..1 that a day of a month gets a final adjustment early in the next month. */
  finalAdjustmentRate: number;
  /** Final adjustments of the previous month post before this day of the month (1..28). */
  finalAdjustmentsUntilDay: number;
}

export const DEFAULT_RESTATEMENT: Readonly<RestatementOptions> = {
  enabled: false,
  estimateUpdatesPerDay: 3,
  retroCreditRate: 0.03,
  finalAdjustmentRate: 0.1,
  finalAdjustmentsUntilDay: 4,
};

/** Merges a partial `restatement` option; returns the problem as a string when invalid. */
export function mergeRestatement(base: RestatementOptions, value: unknown): RestatementOptions | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return 'restatement: must be an object';
  const out = { ...base };
  for (const [key, v] of Object.entries(value)) {
    if (key === 'enabled') {
      if (typeof v !== 'boolean') return 'restatement.enabled: must be true or false';
      out.enabled = v;
    } else if (key === 'retroCreditRate' || key === 'finalAdjustmentRate') {
      if (typeof v !== 'number' || !(v >= 0 && v <= 1))
        return `restatement.${key}: must be a number between 0 and 1`;
      out[key] = v;
    } else if (key === 'estimateUpdatesPerDay') {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 96)
        return 'restatement.estimateUpdatesPerDay: must be an integer 1..96';
      out.estimateUpdatesPerDay = v;
    } else if (key === 'finalAdjustmentsUntilDay') {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 28)
        return 'restatement.finalAdjustmentsUntilDay: must be an integer 1..28';
      out.finalAdjustmentsUntilDay = v;
    } else return `restatement.${key}: unknown option`;
  }
  return out;
}

export interface RestatementEvent {
  accountId: string;
  /** Day index whose bill changes. */
  day: number;
  /** Epoch seconds at which the change shows in Cost Explorer. */
  postedAt: number;
  kind: 'retro-credit' | 'final-adjustment';
}

interface Adjustment extends RestatementEvent {
  line: CostLine;
}

/** Same signed amount on every cost metric, no usage (credits, refunds). */
function flat(amount: bigint): Record<CostMetric, bigint> {
  const values = {} as Record<CostMetric, bigint>;
  for (const metric of COST_METRICS)
    values[metric] = metric === 'UsageQuantity' || metric === 'NormalizedUsageAmount' ? 0n : amount;
  return values;
}

/** The adjustments of one day (whenever they post), deterministic per (seed, account, day). */
function adjustmentsOf(
  accountId: string,
  day: number,
  seed: string,
  options: RestatementOptions,
): Adjustment[] {
  const lines = finalCostLines(accountId, day, { dataSeed: seed }).filter((l) => l.values.UnblendedCost > 0n);
  if (lines.length === 0) return [];
  const out: Adjustment[] = [];
  const closeAt = (monthStart(day, 1) + options.finalAdjustmentsUntilDay - 1) * 86_400;
  const pick = (kind: string): CostLine =>
    lines[hashInt(0, lines.length - 1, seed, accountId, day, kind, 'line')] ?? (lines[0] as CostLine);
  if (hashInt(0, 9999, seed, accountId, day, 'retro') < options.retroCreditRate * 10_000) {
    const base = pick('retro');
    const postedAt =
      (day + 3 + hashInt(0, 11, seed, accountId, day, 'retro-delay')) * 86_400 +
      hashInt(0, 86_399, seed, accountId, day, 'retro-second');
    const amount = -scale(
      base.values.UnblendedCost,
      BigInt(hashInt(100, 500, seed, accountId, day, 'retro-size')),
      1000n,
    );
    if (postedAt < closeAt)
      out.push({
        accountId,
        day,
        postedAt,
        kind: 'retro-credit',
        line: { ...base, recordType: 'Credit', operation: 'None', unit: 'N/A', values: flat(amount) },
      });
  }
  if (hashInt(0, 9999, seed, accountId, day, 'final') < options.finalAdjustmentRate * 10_000) {
    const base = pick('final');
    const postedAt =
      monthStart(day, 1) * 86_400 +
      hashInt(
        0,
        (options.finalAdjustmentsUntilDay - 1) * 86_400 - 1 || 86_399,
        seed,
        accountId,
        day,
        'final-at',
      );
    const pm = hashInt(-100, 100, seed, accountId, day, 'final-size') || 10;
    const amount = scale(base.values.UnblendedCost, BigInt(pm), 1000n);
    out.push({
      accountId,
      day,
      postedAt,
      kind: 'final-adjustment',
      line: { ...base, recordType: 'Refund', operation: 'None', unit: 'N/A', values: flat(amount) },
    });
  }
  return out;
}

/**
 * A day's bill as Cost Explorer reports it at `nowSeconds` (today = `today`): the final lines,
 * the adjustments posted by then, and while the day is Estimated the estimate of the current
 * update slot. Read values with `reportedValue`.
 */
export function restatedDay(
  accountId: string,
  day: number,
  at: { today: number; nowSeconds: number },
  options: { dataSeed: string; restatement: RestatementOptions },
): ReportedDay {
  const slotSeconds = 86_400 / options.restatement.estimateUpdatesPerDay;
  const revision = Math.floor(at.nowSeconds / slotSeconds);
  const reported = reportedDay(accountId, day, { today: at.today, revision, dataSeed: options.dataSeed });
  if (reported.lines.length === 0) return reported;
  const posted = adjustmentsOf(accountId, day, options.dataSeed, options.restatement).filter(
    (a) => a.postedAt <= at.nowSeconds,
  );
  if (posted.length === 0) return reported;
  return {
    lines: [...reported.lines, ...posted.map((a) => a.line)],
    estimates: reported.estimates ? [...reported.estimates, ...posted.map(() => 1_000_000n)] : undefined,
  };
}

/** Adjustments of days [fromDay, toDay) of an account posted in (fromSeconds, toSeconds]. */
export function restatementEvents(
  accountId: string,
  range: { fromDay: number; toDay: number; fromSeconds: number; toSeconds: number },
  options: { dataSeed: string; restatement: RestatementOptions },
): RestatementEvent[] {
  const out: RestatementEvent[] = [];
  for (let day = range.fromDay; day < range.toDay; day++) {
    for (const a of adjustmentsOf(accountId, day, options.dataSeed, options.restatement)) {
      if (a.postedAt > range.fromSeconds && a.postedAt <= range.toSeconds)
        out.push({ accountId, day, postedAt: a.postedAt, kind: a.kind });
    }
  }
  return out;
}
