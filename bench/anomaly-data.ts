/**
 * Synthetic org-years for the anomaly benchmark: per organization a handful of daily service
 * series with a level, a weekly pattern, a trend, noise and month-end effects, and injected events
 * at known days (spikes, sustained increases, new services). Seeded: the same seed gives the same
 * year, so the precision and recall of two runs are comparable.
 *
 * Two mixes of events (`mix`):
 * - `steps` (the first benchmark's): every sustained increase is a step, full size from its
 *   first day;
 * - `ramps` (the default): the same year and the same events, but half of the sustained
 *   increases are phased in over 2-7 days (a rollout, a migration, a scaling change), each day's
 *   rise a fraction of the total. The ramps are drawn from their own PRNG, so everything else
 *   (series, noise, which events, their days and sizes) is identical in both mixes.
 */

export const YEAR_START = '2025-01-01';
export const YEAR_DAYS = 365;

/** mulberry32. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gaussian(rand: () => number): number {
  const u = Math.max(rand(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

export interface InjectedEvent {
  kind: 'spike' | 'increase' | 'new_service';
  series: string;
  /** Day index of the first affected day. */
  start: number;
  /** Day index of the last affected day. */
  end: number;
  /** Relative size (spike, increase); null for a new service. */
  relative: number | null;
  /** Mean extra spend per affected day, from the noise-free model. */
  dailyExcess: number;
  /**
   * Days until the event is at full size: 1 for a step (and a spike, a new service); 2-7 for an
   * increase phased in, whose day `start + k` carries (k + 1) / rampDays of `relative`.
   */
  rampDays: number;
}

export interface SyntheticSeries {
  name: string;
  /** One value per day of the year (0 before a new service starts). */
  values: number[];
  /** The noise-free, event-free model (for the size of an event). */
  expected: number[];
  /**
   * For a series carrying an injected event: its values without the event (same noise; zeros for
   * a new service). The benchmark scores it to tell whether a flag came from the event.
   */
  clean?: number[];
}

export type EventMix = 'steps' | 'ramps';

/** Share of the sustained increases phased in (mix `ramps`), and the range of their ramp. */
export const RAMP_SHARE = 0.5;
export const RAMP_DAYS_MIN = 2;
export const RAMP_DAYS_MAX = 7;

export interface SyntheticOrg {
  index: number;
  series: SyntheticSeries[];
  events: InjectedEvent[];
}

function dayOfWeek(day: number): number {
  // 2025-01-01 is a Wednesday (3).
  return (3 + day) % 7;
}

function monthPosition(day: number): { first: boolean; last: boolean } {
  const d = new Date(Date.UTC(2025, 0, 1 + day));
  const next = new Date(Date.UTC(2025, 0, 2 + day));
  return { first: d.getUTCDate() === 1, last: next.getUTCDate() === 1 };
}

interface Shape {
  level: number;
  weekend: number;
  growth: number;
  noise: number;
  monthEnd: number;
  monthStart: number;
}

function shape(rand: () => number, levelMin: number, levelMax: number): Shape {
  const pattern = rand();
  return {
    level: Math.exp(Math.log(levelMin) + rand() * (Math.log(levelMax) - Math.log(levelMin))),
    // 45% flat, 55% with lower weekends (a weekly pattern).
    weekend: pattern < 0.45 ? 1 : 0.35 + rand() * 0.45,
    growth: -0.1 + rand() * 0.7,
    noise: 0.02 + rand() * 0.04,
    monthEnd: rand() < 0.2 ? 1.5 + rand() * 1.5 : 1,
    monthStart: rand() < 0.1 ? 2 + rand() * 3 : 1,
  };
}

function modelValue(s: Shape, day: number): number {
  const dow = dayOfWeek(day);
  const weekly = dow === 0 || dow === 6 ? s.weekend : 1;
  const { first, last } = monthPosition(day);
  const month = (last ? s.monthEnd : 1) * (first ? s.monthStart : 1);
  return s.level * (1 + (s.growth * day) / YEAR_DAYS) * weekly * month;
}

/**
 * One organization's year. `injections: false` gives pure seasonality (weekly, monthly, trend;
 * no noise, no events): the detector must find nothing in it.
 */
export function syntheticOrg(
  index: number,
  options: { seed: number; injections: boolean; noise?: boolean; mix?: EventMix },
): SyntheticOrg {
  const rand = prng(options.seed * 1_000_003 + index);
  // The ramps' own stream: the steps mix draws exactly what it drew before ramps existed.
  const rampRand = prng(options.seed * 1_000_003 + index + 0x5eed_0000);
  const mix = options.mix ?? 'ramps';
  const count = 5 + Math.floor(rand() * 5);
  const shapes = Array.from({ length: count }, () => shape(rand, 15, 600));
  const series: SyntheticSeries[] = shapes.map((s, k) => {
    const expected = Array.from({ length: YEAR_DAYS }, (_, d) => modelValue(s, d));
    const values = expected.map((v) =>
      options.noise === false ? v : Math.max(0, v * (1 + s.noise * gaussian(rand))),
    );
    return { name: `service-${k}`, values, expected };
  });
  const events: InjectedEvent[] = [];
  if (options.injections) {
    const n = Math.floor(rand() * 5);
    const free = series.map((_, k) => k);
    for (let e = 0; e < n && free.length > 0; e++) {
      const pick = rand();
      if (pick < 0.2) {
        const s = shape(rand, 5, 200);
        const start = 70 + Math.floor(rand() * 270);
        const expected = Array.from({ length: YEAR_DAYS }, (_, d) => (d >= start ? modelValue(s, d) : 0));
        const values = expected.map((v) => Math.max(0, v * (1 + s.noise * gaussian(rand))));
        const name = `new-service-${e}`;
        series.push({ name, values, expected, clean: expected.map(() => 0) });
        const firstDays = expected.slice(start, start + 14);
        events.push({
          kind: 'new_service',
          series: name,
          start,
          end: start + 13,
          relative: null,
          dailyExcess: firstDays.reduce((a, b) => a + b, 0) / firstDays.length,
          rampDays: 1,
        });
        continue;
      }
      const slot = free.splice(Math.floor(rand() * free.length), 1)[0] ?? 0;
      const target = series[slot];
      if (!target) continue;
      const spike = pick < 0.6;
      const relative = spike ? 0.1 + rand() * 2.9 : 0.1 + rand() * 1.4;
      const start = 70 + Math.floor(rand() * (spike ? 285 : 260));
      const length = spike
        ? 1 + Math.floor(rand() * 3)
        : rand() < 0.3
          ? YEAR_DAYS - start
          : 14 + Math.floor(rand() * 76);
      const end = Math.min(YEAR_DAYS - 1, start + length - 1);
      // Drawn for every increase in both mixes, so the ramps mix phases in the same ones whatever
      // else changes.
      const ramped = rampRand() < RAMP_SHARE;
      const ramp = RAMP_DAYS_MIN + Math.floor(rampRand() * (RAMP_DAYS_MAX - RAMP_DAYS_MIN + 1));
      const rampDays = !spike && mix === 'ramps' && ramped ? ramp : 1;
      target.clean = [...target.values];
      let excess = 0;
      for (let d = start; d <= end; d++) {
        const share = relative * Math.min(1, (d - start + 1) / rampDays);
        target.values[d] = (target.values[d] ?? 0) * (1 + share);
        excess += (target.expected[d] ?? 0) * share;
      }
      events.push({
        kind: spike ? 'spike' : 'increase',
        series: target.name,
        start,
        end,
        relative,
        dailyExcess: excess / (end - start + 1),
        rampDays,
      });
    }
  }
  return { index, series, events };
}

/**
 * The goal class: increases of at least 30% and $20/day (new services of at least $20/day).
 * For a ramp, 30% is its full size and $20 the mean over all its days, ramp included.
 */
export function qualifies(event: InjectedEvent): boolean {
  return event.dailyExcess >= 20 && (event.relative === null || event.relative >= 0.3);
}
