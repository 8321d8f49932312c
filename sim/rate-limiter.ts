/**
 * Per-account, per-service token buckets: `rate` requests per second with a burst of one
 * second's worth, like the fixed per-account quotas AWS enforces. Above it the caller is
 * answered with the service's throttling error.
 */
interface Bucket {
  tokens: number;
  updatedMs: number;
  rate: number;
}

export class RateLimiter {
  readonly #buckets = new Map<string, Bucket>();

  /** Takes one token for `key`; false when the bucket is empty. A rate of 0 never limits. */
  tryTake(key: string, rate: number, nowMs: number): boolean {
    if (rate <= 0) return true;
    const capacity = Math.max(1, rate);
    let bucket = this.#buckets.get(key);
    if (!bucket || bucket.rate !== rate) {
      bucket = { tokens: capacity, updatedMs: nowMs, rate };
      this.#buckets.set(key, bucket);
    }
    bucket.tokens = Math.min(capacity, bucket.tokens + ((nowMs - bucket.updatedMs) / 1000) * rate);
    bucket.updatedMs = nowMs;
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  reset(): void {
    this.#buckets.clear();
  }
}
