/**
 * UTC calendar arithmetic on day indexes (days since 1970-01-01). Cost Explorer speaks in
 * `YYYY-MM-DD` dates with exclusive ends; day indexes keep that arithmetic integer.
 */

const MS_PER_DAY = 86_400_000;

/** Parses a strict `YYYY-MM-DD` calendar date; undefined if malformed or not a real date. */
export function parseDay(text: string): number | undefined {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (!match) return undefined;
  const [, y, m, d] = match;
  const ms = Date.UTC(Number(y), Number(m) - 1, Number(d));
  const index = ms / MS_PER_DAY;
  return formatDay(index) === text ? index : undefined;
}

/** Formats a day index as `YYYY-MM-DD`. */
export function formatDay(index: number): string {
  return new Date(index * MS_PER_DAY).toISOString().slice(0, 10);
}

/** The UTC day index of an instant (the simulator's clock reading: SimulatorState.now()). */
export function dayIndexOf(instant: Date): number {
  return Math.floor(instant.getTime() / MS_PER_DAY);
}

/** Milliseconds into its UTC day of an instant. */
export function msIntoDay(instant: Date): number {
  const ms = instant.getTime() % MS_PER_DAY;
  return ms < 0 ? ms + MS_PER_DAY : ms;
}

/** 0 = Sunday ... 6 = Saturday. */
export function dayOfWeek(index: number): number {
  return (index + 4) % 7;
}

/** Day of month, 1-based. */
export function dayOfMonth(index: number): number {
  return new Date(index * MS_PER_DAY).getUTCDate();
}

/** Index of the first day of the month containing `index`, shifted by `months`. */
export function monthStart(index: number, months = 0): number {
  const date = new Date(index * MS_PER_DAY);
  return Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + months, 1) / MS_PER_DAY;
}

/** Seconds since the epoch at the start of the day. */
export function dayStartSeconds(index: number): number {
  return index * 86_400;
}
