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
