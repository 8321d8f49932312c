/**
 * Counts every AWS request the simulator receives, per account and operation (named like
 * IAM actions: `ce:GetCostAndUsage`), with how many were throttled or failed, and keeps
 * recent arrival times so tests can compute requests per second.
 */

/** Snapshot of the request counters. */
export interface RequestCounts {
  /** All AWS requests received since the last reset. */
  total: number;
  /** Requests per account id and operation. */
  byAccount: Record<string, Record<string, number>>;
  /** Of those, answered with the service's throttling error. */
  throttled: Record<string, Record<string, number>>;
  /** Of those, answered with any other error. */
  errors: Record<string, Record<string, number>>;
  /** Arrival times (epoch ms, oldest first, last 10,000) per account; only when asked for. */
  timestamps?: Record<string, number[]>;
}

export type Outcome = 'ok' | 'throttled' | 'error';

const MAX_TIMESTAMPS = 10_000;

function bump(table: Record<string, Record<string, number>>, account: string, operation: string): void {
  const row = (table[account] ??= {});
  row[operation] = (row[operation] ?? 0) + 1;
}

export class RequestLog {
  #counts: RequestCounts = { total: 0, byAccount: {}, throttled: {}, errors: {} };
  #timestamps = new Map<string, number[]>();

  arrived(account: string, operation: string, nowMs: number): void {
    this.#counts.total += 1;
    bump(this.#counts.byAccount, account, operation);
    let times = this.#timestamps.get(account);
    if (!times) {
      times = [];
      this.#timestamps.set(account, times);
    }
    times.push(nowMs);
    if (times.length > MAX_TIMESTAMPS) times.splice(0, times.length - MAX_TIMESTAMPS);
  }

  finished(account: string, operation: string, outcome: Outcome): void {
    if (outcome === 'throttled') bump(this.#counts.throttled, account, operation);
    if (outcome === 'error') bump(this.#counts.errors, account, operation);
  }

  snapshot(withTimestamps = false): RequestCounts {
    const copy = structuredClone(this.#counts);
    if (withTimestamps)
      copy.timestamps = Object.fromEntries([...this.#timestamps].map(([k, v]) => [k, [...v]]));
    return copy;
  }

  reset(): void {
    this.#counts = { total: 0, byAccount: {}, throttled: {}, errors: {} };
    this.#timestamps.clear();
  }
}
