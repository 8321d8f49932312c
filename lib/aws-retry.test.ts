import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CostExplorerClient, GetCostAndUsageCommand } from '@aws-sdk/client-cost-explorer';
import type { RetryErrorInfo } from '@smithy/types';
import { AwsRetryStrategy } from './aws-retry.js';
import type { RunningSimulator } from '../sim/server.js';
import { accessKeyFor, startTestSimulator } from '../sim/test-support.js';

const ACCOUNT = '444455556666';

function info(errorType: RetryErrorInfo['errorType'], retryAfterHint?: Date): RetryErrorInfo {
  return {
    errorType,
    error: Object.assign(new Error(errorType), { $metadata: {}, cause: undefined }),
    ...(retryAfterHint ? { retryAfterHint } : {}),
  };
}

describe('AwsRetryStrategy', () => {
  it('gives throttles their own attempt budget and backoff, and never retries client errors', async () => {
    const strategy = new AwsRetryStrategy({ maxAttempts: 3, throttleAttempts: 6, random: () => 0.999 });
    let token = await strategy.acquireInitialRetryToken();
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      token = await strategy.refreshRetryTokenForRetry(token, info('THROTTLING'));
      delays.push(token.getRetryDelay());
    }
    // Full jitter under 500, 1000, 2000, 4000 ms, then the 5 s cap.
    assert.deepEqual(delays, [499, 999, 1998, 3996, 4995]);
    await assert.rejects(strategy.refreshRetryTokenForRetry(token, info('THROTTLING')), /THROTTLING/);

    let transient = await strategy.acquireInitialRetryToken();
    transient = await strategy.refreshRetryTokenForRetry(transient, info('SERVER_ERROR'));
    transient = await strategy.refreshRetryTokenForRetry(transient, info('TRANSIENT'));
    assert.equal(transient.getRetryCount(), 2);
    await assert.rejects(strategy.refreshRetryTokenForRetry(transient, info('SERVER_ERROR')), /SERVER_ERROR/);
    await assert.rejects(
      strategy.refreshRetryTokenForRetry(await strategy.acquireInitialRetryToken(), info('CLIENT_ERROR')),
      /CLIENT_ERROR/,
    );
  });

  it('honours a Retry-After hint longer than its own delay', async () => {
    const strategy = new AwsRetryStrategy({ maxAttempts: 3, throttleAttempts: 3, random: () => 0 });
    const token = await strategy.refreshRetryTokenForRetry(
      await strategy.acquireInitialRetryToken(),
      info('THROTTLING', new Date(Date.now() + 2_000)),
    );
    assert.ok(token.getRetryDelay() > 1_500 && token.getRetryDelay() <= 2_000, String(token.getRetryDelay()));
  });

  describe('with the SDK against the simulator', () => {
    let sim: RunningSimulator;
    before(async () => {
      sim = await startTestSimulator({ accountThrottleRates: { [ACCOUNT]: 0.5 } });
    });
    after(() => sim.close());

    it('keeps an org throttled on half of its requests going for hundreds of requests (no retry quota to drain)', async () => {
      // The SDK's standard quota (500 tokens, 5 per throttle retry) would be gone after ~125 of these.
      const ce = new CostExplorerClient({
        endpoint: sim.url,
        region: 'us-east-1',
        credentials: { accessKeyId: accessKeyFor(ACCOUNT), secretAccessKey: 'sim-secret' },
        retryStrategy: new AwsRetryStrategy({ maxAttempts: 3, throttleAttempts: 20, maxDelayMs: 2 }),
      });
      let attempts = 0;
      for (let i = 0; i < 300; i++) {
        const page = await ce.send(
          new GetCostAndUsageCommand({
            TimePeriod: { Start: '2026-03-01', End: '2026-03-02' },
            Granularity: 'DAILY',
            Metrics: ['UnblendedCost'],
          }),
        );
        attempts += page.$metadata.attempts ?? 1;
      }
      const throttled = sim.control.requestCounts().throttled[ACCOUNT]?.['ce:GetCostAndUsage'] ?? 0;
      assert.equal(attempts, 300 + throttled);
      assert.ok(throttled > 200, `only ${throttled} throttles injected`);
      ce.destroy();
    });
  });
});
