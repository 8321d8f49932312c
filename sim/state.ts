/**
 * The simulator's mutable state: current options, counters, rate limiter and the sequence
 * numbers that make injected faults reproducible. `SimulatorControl` is the in-process
 * handle with the same powers as the HTTP control API.
 */
import { createClock, parseInstant, systemNow, type Now } from '../lib/clock.js';
import { dayIndexOf, formatDay, msIntoDay, parseDay } from './calendar.js';
import { DEFAULT_OPTIONS, mergeOptions, type SimOptions } from './options.js';
import { RateLimiter } from './rate-limiter.js';
import { RequestLog, type RequestCounts } from './request-log.js';

/** In-process control of a running simulator (same powers as `/_sim/...`). */
export interface SimulatorControl {
  /** Current options (a copy). */
  options(): SimOptions;
  /** Merges and applies a partial update; throws listing every invalid field. */
  setOptions(partial: Partial<SimOptions>): SimOptions;
  /** Request counters; `timestamps` adds recent arrival times per account. */
  requestCounts(opts?: { timestamps?: boolean }): RequestCounts;
  resetCounts(): void;
  /** Requires `externalId` on AssumeRole into roles of `accountId`. */
  registerExternalId(accountId: string, externalId: string): void;
  /** Sets the simulator's today (`YYYY-MM-DD`), or null to follow its clock's date. */
  setToday(day: string | null): void;
  /** The simulator's today as `YYYY-MM-DD`. */
  today(): string;
  /** The simulator's now: its clock's reading, on the `today` option's date when that is set. */
  now(): Date;
  /** Restores the start options; clears counters, rate-limit buckets and fault sequences. */
  reset(): void;
}

export class SimulatorState implements SimulatorControl {
  #options: SimOptions;
  readonly #initial: SimOptions;
  readonly log = new RequestLog();
  readonly limiter = new RateLimiter();
  #revision = 0;
  #serial = 0;
  readonly #sequence = new Map<string, number>();
  /** The clock the simulator was started with (in-process callers may share theirs). */
  readonly #baseClock: Now;
  /** The clock in use: #baseClock, or one pinned by the clockStart option. */
  #clock: Now;

  constructor(options: Partial<SimOptions> = {}, clock: Now = systemNow) {
    const { options: merged, problems } = mergeOptions(DEFAULT_OPTIONS, options);
    if (problems.length > 0) throw new Error(`invalid simulator options:\n${problems.join('\n')}`);
    this.#options = merged;
    this.#initial = structuredClone(merged);
    this.#baseClock = clock;
    this.#clock = this.#clockOf(merged);
  }

  #clockOf(options: SimOptions): Now {
    const startAt = options.clockStart === null ? undefined : parseInstant(options.clockStart);
    return startAt ? createClock({ startAt, frozen: options.clockFrozen }) : this.#baseClock;
  }

  get current(): Readonly<SimOptions> {
    return this.#options;
  }

  options(): SimOptions {
    return structuredClone(this.#options);
  }

  setOptions(partial: Partial<SimOptions>): SimOptions {
    const { options, problems } = mergeOptions(this.#options, partial);
    if (problems.length > 0) throw new Error(`invalid simulator options:\n${problems.join('\n')}`);
    this.#options = options;
    // Setting the clock (re)starts it at clockStart; other updates leave a running clock alone.
    if (partial.clockStart !== undefined || partial.clockFrozen !== undefined)
      this.#clock = this.#clockOf(options);
    return this.options();
  }

  requestCounts(opts: { timestamps?: boolean } = {}): RequestCounts {
    return this.log.snapshot(opts.timestamps === true);
  }

  resetCounts(): void {
    this.log.reset();
  }

  registerExternalId(accountId: string, externalId: string): void {
    this.setOptions({ externalIds: { ...this.#options.externalIds, [accountId]: externalId } });
  }

  setToday(day: string | null): void {
    this.setOptions({ today: day });
  }

  today(): string {
    return formatDay(this.todayIndex());
  }

  reset(): void {
    this.#options = structuredClone(this.#initial);
    this.#clock = this.#clockOf(this.#options);
    this.log.reset();
    this.limiter.reset();
    this.#sequence.clear();
  }

  now(): Date {
    const instant = this.#clock();
    const day = this.#options.today === null ? undefined : parseDay(this.#options.today);
    // A pinned date keeps the clock's time of day, so CloudWatch data keeps flowing.
    return day === undefined ? instant : new Date(day * 86_400_000 + msIntoDay(instant));
  }

  todayIndex(): number {
    return dayIndexOf(this.now());
  }

  nowSeconds(): number {
    return this.now().getTime() / 1000;
  }

  nextRevision(): number {
    this.#revision += 1;
    return this.#revision;
  }

  nextSerial(): number {
    this.#serial += 1;
    return this.#serial;
  }

  /** Per (account, operation) sequence number: the coordinate of seeded fault decisions. */
  nextSequence(account: string, operation: string): number {
    const key = `${account}|${operation}`;
    const next = (this.#sequence.get(key) ?? 0) + 1;
    this.#sequence.set(key, next);
    return next;
  }
}
