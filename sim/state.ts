/**
 * The simulator's mutable state: current options, counters, rate limiter and the sequence
 * numbers that make injected faults reproducible. `SimulatorControl` is the in-process
 * handle with the same powers as the HTTP control API.
 */
import { formatDay, parseDay } from './calendar.js';
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
  /** Sets the simulator's today (`YYYY-MM-DD`), or null to follow the real UTC date. */
  setToday(day: string | null): void;
  /** The simulator's today as `YYYY-MM-DD`. */
  today(): string;
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
  /** Real ms at which clockStart was set (the clock runs from there unless frozen). */
  #clockSetAt = Date.now();

  constructor(options: Partial<SimOptions> = {}) {
    const { options: merged, problems } = mergeOptions(DEFAULT_OPTIONS, options);
    if (problems.length > 0) throw new Error(`invalid simulator options:\n${problems.join('\n')}`);
    this.#options = merged;
    this.#initial = structuredClone(merged);
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
    if ('clockStart' in partial || 'clockFrozen' in partial) this.#clockSetAt = Date.now();
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
    this.log.reset();
    this.limiter.reset();
    this.#sequence.clear();
  }

  /** The simulator's clock: clockStart (running from when it was set, or frozen), else the real clock. */
  #clockMs(): number {
    const start = this.#options.clockStart === null ? undefined : Date.parse(this.#options.clockStart);
    if (start === undefined) return Date.now();
    return this.#options.clockFrozen ? start : start + (Date.now() - this.#clockSetAt);
  }

  todayIndex(): number {
    const configured = this.#options.today === null ? undefined : parseDay(this.#options.today);
    return configured ?? Math.floor(this.#clockMs() / 86_400_000);
  }

  /** Today's date at the clock's UTC time of day, so CloudWatch data keeps flowing. */
  nowSeconds(): number {
    return this.todayIndex() * 86_400 + ((this.#clockMs() / 1000) % 86_400);
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
