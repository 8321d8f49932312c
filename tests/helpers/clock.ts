/**
 * The tests' clocks. No test reads the calendar (house rule): in-process roles get a `Now`
 * (lib/clock.ts), spawned roles get CLOCK_START / CLOCK_FROZEN in their environment, the
 * simulator gets the same `Now` (`startSimulator(options, { now })`) or its clockStart option.
 */
import type { Now } from '../../lib/clock.js';

/** The instant integration tests pin by default: mid-month, away from BILL_CLOSE_DAY and month ends. */
export const TEST_NOW = '2026-11-18T06:00:00Z';

/** The environment that pins a spawned role's clock at `at`: frozen there, or running from there. */
export function pinnedClockEnv(
  at: Date | string,
  options: { running?: boolean } = {},
): { CLOCK_START: string; CLOCK_FROZEN: string } {
  return { CLOCK_START: new Date(at).toISOString(), CLOCK_FROZEN: options.running ? 'false' : 'true' };
}

/**
 * One clock shared by every in-process role of a test whose source the test swaps (a frozen
 * instant, a manual clock, a clock that moves with the simulator's requests).
 */
export interface SwitchableClock {
  now: Now;
  use(source: Now): void;
}

export function switchableClock(initial: Now): SwitchableClock {
  let source = initial;
  return {
    now: () => source(),
    use(next) {
      source = next;
    },
  };
}
