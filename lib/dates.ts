/** Calendar-date helpers on 'YYYY-MM-DD' strings, in UTC (AWS's billing days are UTC days). */

export type IsoDate = string;

export function toIsoDate(date: Date): IsoDate {
  return date.toISOString().slice(0, 10);
}

export function parseIsoDate(day: IsoDate): Date {
  return new Date(`${day}T00:00:00.000Z`);
}

export function addDays(day: IsoDate, days: number): IsoDate {
  const d = parseIsoDate(day);
  d.setUTCDate(d.getUTCDate() + days);
  return toIsoDate(d);
}

export function addMonths(day: IsoDate, months: number): IsoDate {
  const d = parseIsoDate(day);
  return toIsoDate(new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + months, 1)));
}

export function startOfMonth(day: IsoDate): IsoDate {
  return `${day.slice(0, 7)}-01`;
}

/** The UTC day of `now`: pass the injected clock's reading (lib/clock.ts), never the wall clock. */
export function todayUtc(now: Date): IsoDate {
  return toIsoDate(now);
}

/** Whole days from a to b (b exclusive): daysBetween('2026-01-01', '2026-01-03') = 2. */
export function daysBetween(from: IsoDate, to: IsoDate): number {
  return Math.round((parseIsoDate(to).getTime() - parseIsoDate(from).getTime()) / 86_400_000);
}

/** Every day of [from, to). */
export function eachDay(from: IsoDate, to: IsoDate): IsoDate[] {
  const days: IsoDate[] = [];
  for (let d = from; d < to; d = addDays(d, 1)) days.push(d);
  return days;
}

export interface DateWindow {
  from: IsoDate;
  /** Exclusive. */
  to: IsoDate;
}

/**
 * Splits [from, to) into windows of at most `days` days that never cross a month boundary, so a
 * window's rows live in one partition and closed months stay whole.
 */
export function splitWindows(from: IsoDate, to: IsoDate, days: number): DateWindow[] {
  const windows: DateWindow[] = [];
  let start = from;
  while (start < to) {
    const monthEnd = addMonths(start, 1);
    let end = addDays(start, days);
    if (end > monthEnd) end = monthEnd;
    if (end > to) end = to;
    windows.push({ from: start, to: end });
    start = end;
  }
  return windows;
}

/** True when `s` is a real calendar date written YYYY-MM-DD. */
export function isIsoDate(s: string): boolean {
  return (
    /^\d{4}-\d{2}-\d{2}$/.test(s) &&
    !Number.isNaN(Date.parse(`${s}T00:00:00Z`)) &&
    toIsoDate(parseIsoDate(s)) === s
  );
}
