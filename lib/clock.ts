/**
 * The one source of "now" (SPEC: Time). Every date decision (refresh windows, the scheduler tick,
 * backfill limits, summary periods, partitions, forecasts, budget periods, anomaly windows, the
 * simulator's "today") takes a `Now` by injection; nothing else reads the wall clock for a date.
 * Durations and timestamps (timeouts, backoff, log times) may still use `Date.now()`.
 */

/** Returns the current instant (UTC). */
export type Now = () => Date;

/** The real wall clock. */
export const systemNow: Now = () => new Date();

export interface ClockOptions {
  /** The instant the clock reads when it is created; it then advances with real time. */
  startAt?: Date | undefined;
  /** When true the clock never advances: every call returns `startAt`. */
  frozen?: boolean | undefined;
}

/**
 * A clock pinned to `startAt` that runs at real speed from there (or stands still when `frozen`).
 * Without `startAt` it is the wall clock. Tests and benchmarks pin it; a pinned process crosses
 * midnight exactly when the pinned clock does.
 */
export function createClock(options: ClockOptions = {}): Now {
  const { startAt, frozen = false } = options;
  if (startAt === undefined) return systemNow;
  const pinned = startAt.getTime();
  if (frozen) return () => new Date(pinned);
  const offset = pinned - Date.now();
  return () => new Date(Date.now() + offset);
}

/** A clock whose instant the caller moves by hand (tests that step through days). */
export interface ManualClock {
  now: Now;
  set(instant: Date | string): void;
  advance(ms: number): void;
}

export function manualClock(start: Date | string): ManualClock {
  let current = new Date(start).getTime();
  return {
    now: () => new Date(current),
    set(instant) {
      current = new Date(instant).getTime();
    },
    advance(ms) {
      current += ms;
    },
  };
}

const INSTANT = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2}))?$/;

/**
 * Parses an ISO-8601 instant: `2026-11-15T06:00:00Z`, with an offset (`+01:00`), optional seconds
 * and milliseconds, or a bare date `2026-11-15` (that day's midnight UTC). A date-time needs its
 * zone, so no process reads it in its local time. Undefined when malformed or not a real date.
 */
export function parseInstant(text: string): Date | undefined {
  const match = INSTANT.exec(text.trim());
  if (!match) return undefined;
  const [, y, mo, d, h = '00', mi = '00', s = '00'] = match;
  const day = Date.UTC(Number(y), Number(mo) - 1, Number(d));
  if (new Date(day).toISOString().slice(0, 10) !== `${y}-${mo}-${d}`) return undefined;
  if (Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) return undefined;
  const ms = match[4] === undefined ? day : Date.parse(text.trim());
  return Number.isNaN(ms) ? undefined : new Date(ms);
}

/** The clock settings of lib/config.ts (CLOCK_START, CLOCK_FROZEN). */
export interface ClockSettings {
  CLOCK_START?: Date | undefined;
  CLOCK_FROZEN: boolean;
}

/**
 * The one `now` of a process, built by each role's main from its config: the wall clock, or
 * pinned to CLOCK_START (running at real speed from the moment it is built, or standing still
 * with CLOCK_FROZEN).
 */
export function clockFromConfig(config: ClockSettings): Now {
  return createClock({ startAt: config.CLOCK_START, frozen: config.CLOCK_FROZEN });
}
