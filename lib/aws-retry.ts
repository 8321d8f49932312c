/**
 * The retry strategy of CostWatch's AWS clients: the SDK's standard mode without its retry quota,
 * and with a separate, larger attempt budget for throttling.
 *
 * The standard mode keeps a per-client quota (500 tokens, 5 per retry, 1 back per success) so
 * that a client cannot amplify an outage with retries. Our clients are per organization, and an
 * organization that AWS throttles on half of its requests drains that quota within ~125 requests;
 * from then on every throttle fails the request, the whole fetch window is given back and
 * refetched from its first page, and the organization crawls. CostWatch already bounds what
 * retries can cost: every attempt waits for the organization's rate-limit slot (shared by all
 * replicas through Redis) and the global cap, so retry storms are impossible without a quota.
 *
 * Delays are exponential with full jitter (as the SDK's): base 100 ms for transient and server
 * errors, 500 ms for throttling, capped at `maxDelayMs`; a Retry-After hint is honoured when it
 * asks for longer. When the attempts are spent the error reaches the job, which reacts (a throttle
 * delays the organization's job with its own backoff).
 */
import type { RetryErrorInfo, RetryStrategyV2, RetryToken } from '@smithy/types';

export interface AwsRetryOptions {
  /** Attempts of one request on transient and server errors (AWS_MAX_ATTEMPTS). */
  maxAttempts: number;
  /** Attempts of one request while AWS throttles it (AWS_THROTTLE_ATTEMPTS). */
  throttleAttempts: number;
  /** Longest single delay between attempts. */
  maxDelayMs?: number;
  /** Random source in [0, 1) (tests). */
  random?: () => number;
}

const TRANSIENT_BASE_MS = 100;
const THROTTLE_BASE_MS = 500;

class Token implements RetryToken {
  constructor(
    private readonly count: number,
    private readonly delay: number,
  ) {}
  getRetryCount(): number {
    return this.count;
  }
  getRetryDelay(): number {
    return this.delay;
  }
}

export class AwsRetryStrategy implements RetryStrategyV2 {
  readonly mode = 'standard';
  private readonly maxDelayMs: number;
  private readonly random: () => number;

  constructor(private readonly options: AwsRetryOptions) {
    this.maxDelayMs = options.maxDelayMs ?? 5_000;
    this.random = options.random ?? Math.random;
  }

  acquireInitialRetryToken(): Promise<RetryToken> {
    return Promise.resolve(new Token(0, 0));
  }

  /** Rejects with the request's own error when no retry is allowed (the middleware then throws that error). */
  refreshRetryTokenForRetry(token: RetryToken, errorInfo: RetryErrorInfo): Promise<RetryToken> {
    const attempts = token.getRetryCount() + 1;
    const throttled = errorInfo.errorType === 'THROTTLING';
    const retryable =
      throttled || errorInfo.errorType === 'TRANSIENT' || errorInfo.errorType === 'SERVER_ERROR';
    const budget = throttled ? this.options.throttleAttempts : this.options.maxAttempts;
    if (!retryable || attempts >= budget)
      return Promise.reject(errorInfo.error ?? new Error('AWS request failed; no retry left'));
    const base = throttled ? THROTTLE_BASE_MS : TRANSIENT_BASE_MS;
    const ceiling = Math.min(this.maxDelayMs, base * 2 ** (attempts - 1));
    let delay = Math.floor(this.random() * ceiling);
    const hint = errorInfo.retryAfterHint ? errorInfo.retryAfterHint.getTime() - Date.now() : 0;
    if (hint > delay) delay = Math.min(hint, 60_000);
    return Promise.resolve(new Token(attempts, delay));
  }

  recordSuccess(): void {}
}
