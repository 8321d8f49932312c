/**
 * The anomaly detector: a pure function of one daily cost series (one service, one linked account,
 * ...) and the organization's settings. No I/O, no clock: the caller hands it the days.
 *
 * Method (docs/ANOMALIES.md):
 * - Baseline of day d: the previous 28 days of the series (never before the key first appeared).
 *   When the weekdays differ (a weekly pattern: residuals against the same-weekday medians are less
 *   than half of those against the plain median) the same-weekday median, else the 28-day median.
 * - Scale: 1.4826 x the MAD of the baseline residuals, floored at 1% of the baseline and at $0.01,
 *   so a flat series cannot divide by zero.
 * - A day is flagged when the modified z-score (excess / scale) is at least 3.5 and the excess is at
 *   least both the absolute minimum ($10) and the relative minimum (20% of the baseline). A day that
 *   is no higher than the same day of one of the two previous months (relative to that day's own
 *   baseline, from at least 7 days of history: a monthly recurrence such as month-end jobs or
 *   fees on the 1st; with less, no comparison) by those minimums is seasonal.
 * - A key that first appears with under 14 days of history (after at least 14 loaded days of the
 *   organization without it) and spends at least the absolute minimum is `new_spend`.
 * - Flagged days with a gap of at most one day form one episode: start, end, impact = sum of the
 *   excess, max score. Spikes only unless drops are asked for.
 */

export interface DetectorSettings {
  /** Minimum excess of a flagged day, in the series' currency. */
  minImpactAbsolute: number;
  /** Minimum excess of a flagged day as a fraction of its baseline. */
  minImpactRelative: number;
  /** Minimum modified z-score of a flagged day. */
  zThreshold: number;
  /** Flag drops as well as spikes. */
  detectDrops: boolean;
}

export const DEFAULT_DETECTOR_SETTINGS: Readonly<DetectorSettings> = {
  minImpactAbsolute: 10,
  minImpactRelative: 0.2,
  zThreshold: 3.5,
  detectDrops: false,
};

/** Days of history the baseline uses. */
export const BASELINE_DAYS = 28;
/** A key with less history than this is new (new_spend), or not yet scored. */
export const MIN_HISTORY_DAYS = 14;
/** Flagged days at most this many days apart belong to one episode. */
export const MAX_GAP_DAYS = 1;
/** Months whose same day is compared with (the monthly recurrence). */
export const MONTHS_BACK = 2;
/** The same day MONTHS_BACK months ago is at most this many days back. */
export const MONTH_LOOKBACK_DAYS = 62;
/** History a month-ago day needs for its level to count in the monthly recurrence (a full week). */
export const RECURRENCE_MIN_HISTORY_DAYS = 7;
/** Days before the first evaluated day the caller must load: baseline, new-key check, month lookback. */
export const HISTORY_DAYS_NEEDED = MONTH_LOOKBACK_DAYS + BASELINE_DAYS;

const MAD_TO_SIGMA = 1.4826;
/**
 * Gaussian noise of scale 1 around a weekly pattern: 1.4826 x MAD of the same-weekday residuals
 * reads 1/1.36, 1/1.96 and 1/1.38 with 2, 3 and 4 values per weekday (measured, 3,000 series
 * each). Residuals of a weekday with n values are multiplied by the n-th factor.
 */
const WEEKLY_SCALE_CORRECTION: Record<number, number> = { 2: 1.36, 3: 1.96, 4: 1.38 };
const SCALE_FLOOR_RELATIVE = 0.01;
const SCALE_FLOOR_ABSOLUTE = 0.01;
/** Weekly pattern when same-weekday residuals are below this fraction of the plain ones. */
const WEEKLY_RESIDUAL_RATIO = 0.5;

/**
 * One day of a series. `amount` null: the organization has no data loaded for that day (not the
 * same as zero spend); 0: loaded, and this key spent nothing.
 */
export interface SeriesPoint {
  day: string;
  amount: number | null;
  estimated: boolean;
}

export type AnomalyKind = 'spike' | 'drop' | 'new_spend';

export interface DayScore {
  day: string;
  index: number;
  amount: number;
  baseline: number;
  /** amount - baseline. */
  excess: number;
  /** Modified z-score; null for new_spend and for days without enough history. */
  score: number | null;
  /** Which baseline was used. */
  method: 'weekday_median' | 'median' | 'new_key' | 'insufficient_history';
  flag: AnomalyKind | null;
  estimated: boolean;
}

export interface Episode {
  kind: AnomalyKind;
  start: string;
  end: string;
  /** Sum of the excess over the flagged days (positive for spikes and new spend, negative for drops). */
  impact: number;
  /** Max |score| of the flagged days; null when every day is new_spend. */
  maxScore: number | null;
  /** A flagged day is still Estimated. */
  provisional: boolean;
  days: DayScore[];
}

function median(values: number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

function meanAbs(values: number[]): number {
  let sum = 0;
  for (const v of values) sum += Math.abs(v);
  return values.length === 0 ? 0 : sum / values.length;
}

function weekdayOf(day: string): number {
  return new Date(`${day}T00:00:00Z`).getUTCDay();
}

const edgeCache = new Map<string, boolean>();

/** The first or last day of a month. */
function isMonthEdge(day: string): boolean {
  const cached = edgeCache.get(day);
  if (cached !== undefined) return cached;
  const d = new Date(`${day}T00:00:00Z`);
  const edge = d.getUTCDate() === 1 || new Date(d.getTime() + 86_400_000).getUTCDate() === 1;
  if (edgeCache.size > 20_000) edgeCache.clear();
  edgeCache.set(day, edge);
  return edge;
}

/** Same day of the previous month (the last day for a month-end), as a UTC day string. */
function sameDayPreviousMonth(day: string): string {
  const d = new Date(`${day}T00:00:00Z`);
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth();
  const dom = d.getUTCDate();
  const lastOfThis = new Date(Date.UTC(y, m + 1, 0)).getUTCDate();
  const lastOfPrev = new Date(Date.UTC(y, m, 0)).getUTCDate();
  const target = dom === lastOfThis ? lastOfPrev : Math.min(dom, lastOfPrev);
  return new Date(Date.UTC(y, m - 1, target)).toISOString().slice(0, 10);
}

interface Baseline {
  baseline: number;
  scale: number;
  method: 'weekday_median' | 'median';
}

/**
 * The baseline and robust scale of day `i` from the loaded days in [max(i - 28, first), i); null
 * with fewer than `minHistory` of them.
 */
export function baselineOf(
  points: readonly SeriesPoint[],
  i: number,
  first: number,
  minHistory: number = MIN_HISTORY_DAYS,
): Baseline | null {
  const values: number[] = [];
  const weekdays: number[] = [];
  const weekday0 = weekdayOf(points[i]?.day ?? '1970-01-01');
  for (let j = Math.max(i - BASELINE_DAYS, first); j < i; j++) {
    const amount = points[j]?.amount;
    if (amount === null || amount === undefined) continue;
    // The first and last days of a month carry monthly charges; the monthly recurrence check
    // compares them with their own kind, so they stay out of everyone else's baseline.
    if (isMonthEdge(points[j]?.day ?? '')) continue;
    values.push(amount);
    // Weekday of j from i's weekday: the points are consecutive days.
    weekdays.push((((weekday0 - (i - j)) % 7) + 7) % 7);
  }
  if (values.length < minHistory) return null;
  const overall = median(values);
  const byWeekday: number[][] = [[], [], [], [], [], [], []];
  values.forEach((v, k) => byWeekday[weekdays[k] ?? 0]?.push(v));
  const weekdayMedians = byWeekday.map((vs) => (vs.length >= 2 ? median(vs) : overall));
  const plain = values.map((v) => v - overall);
  const weekly = values.map((v, k) => v - (weekdayMedians[weekdays[k] ?? 0] ?? overall));
  const useWeekly =
    byWeekday.every((vs) => vs.length >= 2) && meanAbs(weekly) < WEEKLY_RESIDUAL_RATIO * meanAbs(plain);
  // Same-weekday medians of 2-4 values sit closer to their own samples than the truth does: the
  // residuals are scaled up by the measured small-sample factor (docs/ANOMALIES.md) so that the
  // scale estimates the noise, not the fit.
  const residuals = useWeekly
    ? weekly.map((r, k) => r * (WEEKLY_SCALE_CORRECTION[byWeekday[weekdays[k] ?? 0]?.length ?? 4] ?? 1.38))
    : plain;
  const baseline = useWeekly ? (weekdayMedians[weekday0] ?? overall) : overall;
  const center = median(residuals);
  const mad = median(residuals.map((r) => Math.abs(r - center)));
  const scale = Math.max(MAD_TO_SIGMA * mad, SCALE_FLOOR_RELATIVE * Math.abs(baseline), SCALE_FLOOR_ABSOLUTE);
  return { baseline, scale, method: useWeekly ? 'weekday_median' : 'median' };
}

/**
 * Scores the days of `points` from index `fromIndex` on. `points` are consecutive calendar days,
 * beginning at least HISTORY_DAYS_NEEDED days before `fromIndex` when that much data exists.
 */
export function scoreSeries(
  points: readonly SeriesPoint[],
  fromIndex: number,
  settings: DetectorSettings = DEFAULT_DETECTOR_SETTINGS,
): DayScore[] {
  const orgFirst = points.findIndex((p) => p.amount !== null);
  const keyFirst = points.findIndex((p) => p.amount !== null && p.amount !== 0);
  const byDay = new Map<string, number>();
  points.forEach((p, k) => byDay.set(p.day, k));
  const scores: DayScore[] = [];
  for (let i = Math.max(0, fromIndex); i < points.length; i++) {
    const point = points[i];
    if (!point || point.amount === null) continue;
    const amount = point.amount;
    const base = { day: point.day, index: i, amount, estimated: point.estimated };
    if (keyFirst < 0 || i < keyFirst) continue;
    const gates = (excess: number, baseline: number) =>
      Math.abs(excess) >= settings.minImpactAbsolute &&
      Math.abs(excess) >= settings.minImpactRelative * Math.abs(baseline);
    if (i - keyFirst < MIN_HISTORY_DAYS) {
      // A new key: new spend once the organization had data without it long enough to tell.
      const isNew = orgFirst >= 0 && keyFirst - orgFirst >= MIN_HISTORY_DAYS;
      const flagged = isNew && amount >= settings.minImpactAbsolute;
      scores.push({
        ...base,
        baseline: 0,
        excess: amount,
        score: null,
        method: isNew ? 'new_key' : 'insufficient_history',
        flag: flagged ? 'new_spend' : null,
      });
      continue;
    }
    const b = baselineOf(points, i, keyFirst);
    if (!b) {
      scores.push({
        ...base,
        baseline: 0,
        excess: 0,
        score: null,
        method: 'insufficient_history',
        flag: null,
      });
      continue;
    }
    const excess = amount - b.baseline;
    const score = excess / b.scale;
    let flag: AnomalyKind | null = null;
    if (score >= settings.zThreshold && gates(excess, b.baseline)) flag = 'spike';
    else if (settings.detectDrops && score <= -settings.zThreshold && gates(excess, b.baseline))
      flag = 'drop';
    if (flag !== null) {
      // Monthly recurrence: as high (or low) as the same day of one of the last two months,
      // each relative to its own baseline (so a month end on a weekend compares with one on a
      // weekday) -> seasonal.
      let seasonal: number | null = null;
      let monthDay = point.day;
      for (let k = 0; k < MONTHS_BACK; k++) {
        monthDay = sameDayPreviousMonth(monthDay);
        const previous = byDay.get(monthDay);
        const last = previous === undefined ? null : (points[previous]?.amount ?? null);
        if (last === null || previous === undefined || previous < keyFirst) continue;
        // Its own level from as little as a week of history (a new service's first fee); with
        // less, no comparison: its raw amount would compare across weekdays (a weekend spike
        // against last month's weekday level).
        const lastBase = baselineOf(points, previous, keyFirst, RECURRENCE_MIN_HISTORY_DAYS)?.baseline;
        if (lastBase === undefined) continue;
        const expected = lastBase > 0 ? b.baseline * (last / lastBase) : last;
        seasonal =
          seasonal === null
            ? expected
            : flag === 'spike'
              ? Math.max(seasonal, expected)
              : Math.min(seasonal, expected);
      }
      if (seasonal !== null) {
        const beyond =
          flag === 'spike'
            ? amount - Math.max(seasonal, b.baseline)
            : amount - Math.min(seasonal, b.baseline);
        // Beyond the seasonal level in the flagged direction, by both minimums.
        if ((flag === 'spike' ? beyond <= 0 : beyond >= 0) || !gates(beyond, Math.max(seasonal, b.baseline)))
          flag = null;
      }
    }
    scores.push({ ...base, baseline: b.baseline, excess, score, method: b.method, flag });
  }
  return scores;
}

/** Groups flagged days into episodes: same direction, at most MAX_GAP_DAYS unflagged days apart. */
export function episodesOf(scores: readonly DayScore[]): Episode[] {
  const episodes: Episode[] = [];
  let current: Episode | null = null;
  let lastIndex = -Infinity;
  const direction = (kind: AnomalyKind) => (kind === 'drop' ? -1 : 1);
  for (const s of scores) {
    if (s.flag === null) continue;
    if (current && direction(current.kind) === direction(s.flag) && s.index - lastIndex <= MAX_GAP_DAYS + 1) {
      current.end = s.day;
      current.impact += s.excess;
      if (s.score !== null)
        current.maxScore =
          current.maxScore === null ? Math.abs(s.score) : Math.max(current.maxScore, Math.abs(s.score));
      current.provisional ||= s.estimated;
      current.days.push(s);
    } else {
      current = {
        kind: s.flag,
        start: s.day,
        end: s.day,
        impact: s.excess,
        maxScore: s.score === null ? null : Math.abs(s.score),
        provisional: s.estimated,
        days: [s],
      };
      episodes.push(current);
    }
    lastIndex = s.index;
  }
  return episodes;
}

/** scoreSeries then episodesOf: the anomalies of one series from `fromIndex` on. */
export function detectEpisodes(
  points: readonly SeriesPoint[],
  fromIndex: number,
  settings: DetectorSettings = DEFAULT_DETECTOR_SETTINGS,
): Episode[] {
  return episodesOf(scoreSeries(points, fromIndex, settings));
}

/**
 * Builds consecutive points for [from, to) from sparse rows: a day the organization has data for
 * (`loadedDays`) but the key has no row is 0; a day it has no data for is null.
 */
export function densePoints(
  days: readonly string[],
  loadedDays: ReadonlySet<string>,
  rows: ReadonlyMap<string, { amount: number; estimated: boolean }>,
): SeriesPoint[] {
  return days.map((day) => {
    const row = rows.get(day);
    if (row) return { day, amount: row.amount, estimated: row.estimated };
    return { day, amount: loadedDays.has(day) ? 0 : null, estimated: false };
  });
}

export type AnomalyStatus = 'open' | 'provisional' | 'withdrawn' | 'closed';

/** What the store holds of an anomaly, for reconciliation with a fresh detection. */
export interface StoredEpisode {
  id: number;
  kind: AnomalyKind;
  start: string;
  end: string;
  status: AnomalyStatus;
}

export type ReconcileAction =
  | { action: 'insert'; episode: Episode }
  | { action: 'update'; id: number; episode: Episode }
  | { action: 'withdraw'; id: number; reason: 'restated' | 'merged' };

function dayNumber(day: string): number {
  return Math.round(Date.parse(`${day}T00:00:00Z`) / 86_400_000);
}

function touches(a: { start: string; end: string }, b: { start: string; end: string }): boolean {
  return (
    dayNumber(a.start) <= dayNumber(b.end) + MAX_GAP_DAYS &&
    dayNumber(b.start) <= dayNumber(a.end) + MAX_GAP_DAYS
  );
}

/**
 * Reconciles the episodes just detected over a span with the stored anomalies of the same series
 * that lie inside that span: a new episode is inserted, one that meets stored anomalies updates
 * the oldest of them (reopening it if it had been withdrawn) and withdraws the rest as merged, and
 * a stored anomaly no episode meets any more (a restatement moved it below the gates) is withdrawn,
 * never deleted.
 */
export function reconcileEpisodes(
  stored: readonly StoredEpisode[],
  found: readonly Episode[],
): ReconcileAction[] {
  const actions: ReconcileAction[] = [];
  const claimed = new Set<number>();
  const direction = (kind: AnomalyKind) => (kind === 'drop' ? -1 : 1);
  for (const episode of found) {
    const matches = stored
      .filter(
        (s) => !claimed.has(s.id) && direction(s.kind) === direction(episode.kind) && touches(s, episode),
      )
      .sort((a, b) => Number(a.status === 'withdrawn') - Number(b.status === 'withdrawn') || a.id - b.id);
    const [keep, ...rest] = matches;
    if (!keep) {
      actions.push({ action: 'insert', episode });
      continue;
    }
    claimed.add(keep.id);
    actions.push({ action: 'update', id: keep.id, episode });
    for (const other of rest) {
      claimed.add(other.id);
      if (other.status !== 'withdrawn') actions.push({ action: 'withdraw', id: other.id, reason: 'merged' });
    }
  }
  for (const s of stored)
    if (!claimed.has(s.id) && s.status !== 'withdrawn')
      actions.push({ action: 'withdraw', id: s.id, reason: 'restated' });
  return actions;
}

/**
 * Status of a detected episode: provisional while a flagged day is Estimated; closed once the
 * days after it that could still extend it are loaded and final; open otherwise.
 */
export function statusOf(episode: Episode, lastFinalDay: string | null): AnomalyStatus {
  if (episode.provisional) return 'provisional';
  if (lastFinalDay !== null && dayNumber(lastFinalDay) > dayNumber(episode.end) + MAX_GAP_DAYS)
    return 'closed';
  return 'open';
}
