/**
 * A failed forecast never undoes, retries or re-bills a committed cost load. GetCostForecast
 * answering 5xx, throttling beyond its retries, or sending a body that does not parse: the cost run
 * of the refresh succeeds, its rollup runs and the API serves the restated figures, the
 * organization's GetCostAndUsage count does not grow while the forecast job retries on its own,
 * /ingestion/status shows the forecast's failure and reason; once the fault clears the forecast
 * recovers, and further refreshes that day do not ask for it again. Real workers, Redis, Postgres and
 * the AWS SDK against the simulator, the clock pinned.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { asServiceConfig, parseConfig } from '../lib/config.js';
import { addDays, addMonths } from '../lib/dates.js';
import { createLogger } from '../lib/logger.js';
import { manualClock } from '../lib/clock.js';
import { enqueueDueFetches } from '../producers/refresh-tick.js';
import { startWorkers } from '../workers/main.js';
import type { ForecastRefreshed } from '../workers/fetch-forecast.worker.js';
import { expectedDailyTotal } from '../sim/data.js';
import type { OperationFault } from '../sim/options.js';
import { startTestPipeline, testEnv, type TestPipeline } from './helpers/pipeline.js';
import { get, login, seedUser, startTestApi, type TestApi } from './helpers/api.js';
import { normDecimal } from './helpers/decimal.js';

const silent = createLogger({ level: 'silent', name: 'test' });
const settings = {
  RESTATEMENT_DAYS: 3,
  METRICS_REFRESH_DAYS: 1,
  REFETCH_CURRENT_MONTH: false,
  BILL_CLOSE_DAY: 1,
};
const TODAY = '2026-06-17';
const YESTERDAY = addDays(TODAY, -1);

interface ForecastStatus {
  status: string;
  day: string;
  attempts: number;
  last_error: { message: string; at: string | null } | null;
  period: { from: string; to: string } | null;
  mean: { amount: string; unit: string } | null;
}
interface StatusBody {
  organization: { status: string; last_error: unknown; estimated_from: string | null };
  forecast: ForecastStatus | null;
  usage: { last_24h: { aws_requests_by_operation: Record<string, number> } };
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const REASONS: Record<Exclude<OperationFault, 'unavailable'>, RegExp> = {
  error: /InternalFailure|internal error/i,
  throttle: /throttled GetCostForecast beyond its retries/,
  malformed: /Deserializ|JSON|Unexpected|parse/i,
};

for (const fault of ['error', 'throttle', 'malformed'] as const) {
  test(`GetCostForecast ${fault}: the committed load is rolled up and served, never re-fetched; the forecast retries alone and recovers`, async () => {
    const clock = manualClock(`${YESTERDAY}T12:00:00Z`);
    const account = { error: '445566778801', throttle: '445566778802', malformed: '445566778803' }[fault];
    const p: TestPipeline = await startTestPipeline({ workers: false, sim: { today: YESTERDAY } });
    let api: TestApi | undefined;
    const refreshed: ForecastRefreshed[] = [];
    try {
      // Few SDK retries, so a throttled forecast attempt gives up quickly and the job retries.
      const env = testEnv({
        DATABASE_URL: p.config.DATABASE_URL,
        QUEUE_PREFIX: p.config.QUEUE_PREFIX,
        AWS_ENDPOINT_URL: p.sim.url,
        ALLOW_INSECURE_AWS_ENDPOINT: 'true',
        RETRY_BACKOFF_MS: '50',
        AWS_MAX_ATTEMPTS: '2',
        AWS_THROTTLE_ATTEMPTS: '2',
        WORKER_CONCURRENCY: '4',
        CE_RATE_PER_ORG: '100',
      });
      p.workers = await startWorkers(asServiceConfig(parseConfig('worker', env)), {
        log: silent,
        now: clock.now,
        onForecastRefreshed: async (event) => {
          refreshed.push(event);
        },
      });
      const org = await p.createOrg(account);
      api = await startTestApi({
        db: p.db,
        env: { QUEUE_PREFIX: p.config.QUEUE_PREFIX },
        options: { now: clock.now },
      });
      await seedUser(p.db, org.id, `admin-${fault}@forecast.test`, 'admin');
      const token = await login(api, `admin-${fault}@forecast.test`);
      const status = async (): Promise<StatusBody> => {
        const res = await get(api as TestApi, '/api/v1/ingestion/status', token);
        assert.equal(res.status, 200, res.text);
        return res.json as StatusBody;
      };
      const restated = addDays(TODAY, -3);
      const daily = async (): Promise<string | undefined> => {
        const res = await get(
          api as TestApi,
          `/api/v1/costs/daily?from=${restated}&to=${restated}&group_by=none`,
          token,
        );
        assert.equal(res.status, 200, res.text);
        const items = (res.json as { items: Array<{ unblended_cost: { amount: string } }> }).items;
        return items[0] ? normDecimal(items[0].unblended_cost.amount) : undefined;
      };
      const tick = () =>
        enqueueDueFetches({ db: p.db.pool, queues: p.queues, log: silent, settings, now: clock.now });

      // Yesterday: a refresh with a healthy forecast. The day 3 days before TODAY is still Estimated.
      await tick();
      await p.waitForIdle();
      const first = await status();
      assert.equal(first.forecast?.status, 'succeeded');
      assert.equal(first.forecast?.day, YESTERDAY);
      const estimate = await daily();
      assert.ok(estimate, 'the restated day is served');
      assert.notEqual(estimate, normDecimal(expectedDailyTotal(account, restated)), 'it was an estimate');
      assert.equal(refreshed.length, 1, 'the after-forecast hook ran once');

      // Today: the forecast fails; the day's restatement must still reach the API.
      clock.set(`${TODAY}T12:00:00Z`);
      p.sim.control.setToday(TODAY);
      p.sim.control.setOptions({ operationFaults: { 'ce:GetCostForecast': fault } });
      p.sim.control.resetCounts();
      await tick();
      const run = await until('the cost run of the refresh to be rolled up', async () => {
        const { rows } = await p.db.pool.query<{
          status: string;
          rolled_up_at: Date | null;
          window_start: string;
        }>(
          `SELECT status, rolled_up_at, window_start FROM fetch_runs
           WHERE organization_id = $1 AND source = 'costs' AND trigger = 'scheduled' AND window_end = $2 ORDER BY id DESC`,
          [org.id, addDays(TODAY, 1)],
        );
        return rows.length > 0 && rows.every((r) => r.rolled_up_at !== null) ? rows : undefined;
      });
      assert.deepEqual(
        run.map((r) => r.status),
        ['succeeded'],
        'one attempt of the cost run, succeeded',
      );
      const retrying = await until('the forecast to be retrying', async () => {
        const s = await status();
        return s.forecast?.status === 'retrying' && s.forecast.attempts >= 2 ? s : undefined;
      });
      assert.equal(retrying.forecast?.day, TODAY);
      assert.match(retrying.forecast?.last_error?.message ?? '', REASONS[fault]);
      assert.equal(retrying.organization.status, 'active', 'the cost data status is unaffected');
      assert.equal(retrying.organization.last_error, null);
      assert.equal(
        await daily(),
        normDecimal(expectedDailyTotal(account, restated)),
        'the API serves the restated figure',
      );

      const counts = () => p.sim.control.requestCounts().byAccount[account] ?? {};
      const costReads = counts()['ce:GetCostAndUsage'] ?? 0;
      assert.ok(costReads > 0);
      // The request count first, then the attempts it is compared with: an attempt recorded after
      // that status read sent its request after the count was taken, or at worst the one before it
      // did, so two more attempts always include a new request (the status seen above may be stale).
      const forecastCalls = counts()['ce:GetCostForecast'] ?? 0;
      const attemptsNow = (await status()).forecast?.attempts ?? 0;
      await until('two more forecast attempts', async () => {
        const s = await status();
        return (s.forecast?.attempts ?? 0) >= attemptsNow + 2 ? s : undefined;
      });
      assert.ok((counts()['ce:GetCostForecast'] ?? 0) > forecastCalls, 'the forecast keeps asking');
      assert.equal(
        counts()['ce:GetCostAndUsage'] ?? 0,
        costReads,
        'no GetCostAndUsage while the forecast retries',
      );
      const usage = (await status()).usage.last_24h.aws_requests_by_operation;
      assert.ok(
        (usage.GetCostForecast ?? 0) >= 3,
        `the forecast's requests are counted: ${JSON.stringify(usage)}`,
      );
      assert.equal(refreshed.length, 1, 'no after-forecast hook for a failed forecast');

      // The fault clears: the forecast recovers on its own retries.
      p.sim.control.setOptions({ operationFaults: {} });
      const recovered = await until('the forecast to recover', async () => {
        const s = await status();
        return s.forecast?.status === 'succeeded' && s.forecast.day === TODAY ? s : undefined;
      });
      assert.equal(recovered.forecast?.last_error, null);
      assert.deepEqual(recovered.forecast?.period, { from: TODAY, to: addMonths(TODAY, 1) });
      assert.match(recovered.forecast?.mean?.amount ?? '', /^\d+(\.\d+)?$/);
      const summary = await get(api, '/api/v1/costs/forecast', token);
      assert.equal(summary.status, 200, summary.text);
      const months = (summary.json as { items: Array<{ month: string }> }).items.map((i) => i.month);
      assert.ok(months.includes('2026-06-01'), `the month's projection is stored: ${JSON.stringify(months)}`);
      assert.equal(refreshed.length, 2, 'the after-forecast hook ran after the recovery');
      assert.deepEqual(refreshed[1]?.period, { from: TODAY, to: addMonths(TODAY, 1) });
      assert.equal(
        counts()['ce:GetCostAndUsage'] ?? 0,
        costReads,
        'the recovery fetched no cost data either',
      );

      // Later the same day: another refresh loads costs but does not ask for the forecast again.
      clock.set(`${TODAY}T18:00:00Z`);
      const calls = counts()['ce:GetCostForecast'] ?? 0;
      await tick();
      await p.waitForIdle();
      assert.ok((counts()['ce:GetCostAndUsage'] ?? 0) > costReads, 'the refresh read the cost window');
      assert.equal(counts()['ce:GetCostForecast'] ?? 0, calls, 'one forecast a day');
    } finally {
      await api?.close();
      await p.close();
    }
  });
}

test('GetCostForecast DataUnavailableException is "no forecast", not an error: no retry, the cost run succeeds', async () => {
  const clock = manualClock(`${TODAY}T12:00:00Z`);
  const account = '445566778804';
  const p = await startTestPipeline({
    workers: false,
    sim: { today: TODAY, operationFaults: { 'ce:GetCostForecast': 'unavailable' } },
  });
  const refreshed: ForecastRefreshed[] = [];
  try {
    const env = testEnv({
      DATABASE_URL: p.config.DATABASE_URL,
      QUEUE_PREFIX: p.config.QUEUE_PREFIX,
      AWS_ENDPOINT_URL: p.sim.url,
      ALLOW_INSECURE_AWS_ENDPOINT: 'true',
      RETRY_BACKOFF_MS: '50',
    });
    p.workers = await startWorkers(asServiceConfig(parseConfig('worker', env)), {
      log: silent,
      now: clock.now,
      onForecastRefreshed: async (event) => {
        refreshed.push(event);
      },
    });
    const org = await p.createOrg(account);
    await enqueueDueFetches({ db: p.db.pool, queues: p.queues, log: silent, settings, now: clock.now });
    await p.waitForIdle();
    const { rows } = await p.db.pool.query<{
      status: string;
      attempts: number;
      last_error: string | null;
      mean: string | null;
    }>('SELECT status, attempts, last_error, mean::text FROM forecast_refreshes WHERE organization_id = $1', [
      org.id,
    ]);
    assert.deepEqual(rows, [{ status: 'unavailable', attempts: 1, last_error: null, mean: null }]);
    const runs = await p.db.pool.query<{ status: string }>(
      `SELECT status FROM fetch_runs WHERE organization_id = $1 AND source = 'costs'`,
      [org.id],
    );
    assert.deepEqual(
      runs.rows.map((r) => r.status),
      ['succeeded'],
    );
    assert.equal(
      p.sim.control.requestCounts().byAccount[account]?.['ce:GetCostForecast'],
      1,
      'asked once, not retried',
    );
    assert.deepEqual(
      refreshed.map((e) => e.forecast),
      [null],
      'the after-forecast hook hears "no forecast"',
    );
  } finally {
    await p.close();
  }
});
