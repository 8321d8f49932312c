import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { ListMetricsCommand } from '@aws-sdk/client-cloudwatch';
import {
  GetCostAndUsageCommand,
  GetCostForecastCommand,
  type GetCostAndUsageCommandInput,
} from '@aws-sdk/client-cost-explorer';
import { AssumeRoleCommand } from '@aws-sdk/client-sts';
import type { RequestCounts } from './request-log.js';
import type { RunningSimulator } from './server.js';
import { cloudWatch, costExplorer, failure, startTestSimulator, sts } from './test-support.js';

const ACCOUNT = '555566667777';
const QUERY: GetCostAndUsageCommandInput = {
  TimePeriod: { Start: '2026-03-01', End: '2026-03-03' },
  Granularity: 'DAILY',
  Metrics: ['UnblendedCost'],
};

async function control(
  sim: RunningSimulator,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: unknown }> {
  const response = await fetch(`${sim.url}/_sim/${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, json: await response.json() };
}

describe('fault injection, rate limits and the control API', () => {
  let sim: RunningSimulator;
  before(async () => {
    sim = await startTestSimulator();
  });
  after(() => sim.close());
  beforeEach(() => sim.control.reset());

  it('counts requests per account and operation over HTTP, and resets them', async () => {
    const ce = costExplorer(sim, { accountId: ACCOUNT });
    await ce.send(new GetCostAndUsageCommand(QUERY));
    await ce.send(new GetCostAndUsageCommand(QUERY));
    await cloudWatch(sim, { accountId: ACCOUNT }).send(new ListMetricsCommand({}));
    const counts = (await control(sim, 'GET', 'requests?timestamps=1')).json as RequestCounts;
    assert.equal(counts.total, 3);
    assert.deepEqual(counts.byAccount[ACCOUNT], { 'ce:GetCostAndUsage': 2, 'cloudwatch:ListMetrics': 1 });
    assert.equal(counts.timestamps?.[ACCOUNT]?.length, 3);
    assert.equal(((await control(sim, 'DELETE', 'requests')).json as RequestCounts).total, 0);
    await ce.send(new GetCostAndUsageCommand(QUERY));
    assert.equal(((await control(sim, 'POST', 'requests/reset')).json as RequestCounts).total, 0);
    assert.equal(sim.control.requestCounts().total, 0);
  });

  it('throttles Cost Explorer with LimitExceededException, which the SDK retries', async () => {
    await control(sim, 'PATCH', 'options', { throttleRate: 1 });
    const error = await failure(
      costExplorer(sim, { accountId: ACCOUNT, maxAttempts: 2 }).send(new GetCostAndUsageCommand(QUERY)),
    );
    assert.equal(error.name, 'LimitExceededException');
    assert.equal(error.$metadata.attempts, 2);
    const counts = sim.control.requestCounts();
    assert.equal(counts.byAccount[ACCOUNT]?.['ce:GetCostAndUsage'], 2);
    assert.equal(counts.throttled[ACCOUNT]?.['ce:GetCostAndUsage'], 2);
  });

  it('throttles CloudWatch and STS with Throttling, which the SDK retries', async () => {
    sim.control.setOptions({ throttleRate: 1 });
    const cw = await failure(
      cloudWatch(sim, { accountId: ACCOUNT, maxAttempts: 2 }).send(new ListMetricsCommand({})),
    );
    assert.equal(cw.name, 'Throttling');
    assert.equal(cw.$metadata.attempts, 2);
    const st = await failure(
      sts(sim, { maxAttempts: 2 }).send(
        new AssumeRoleCommand({ RoleArn: `arn:aws:iam::${ACCOUNT}:role/CostWatch`, RoleSessionName: 'x1' }),
      ),
    );
    assert.equal(st.name, 'Throttling');
    assert.equal(st.$metadata.attempts, 2);
  });

  it('recovers from a partial throttle rate through SDK retries, reproducibly', async () => {
    const run = async (): Promise<number[]> => {
      sim.control.reset();
      sim.control.setOptions({ throttleRate: 0.3, seed: 'repro' });
      const ce = costExplorer(sim, { accountId: ACCOUNT, maxAttempts: 8 });
      const attempts: number[] = [];
      for (let i = 0; i < 6; i++)
        attempts.push((await ce.send(new GetCostAndUsageCommand(QUERY))).$metadata.attempts ?? 0);
      return attempts;
    };
    const first = await run();
    assert.ok(
      first.some((a) => a > 1),
      `no retries in ${first.join(',')}`,
    );
    // Fault decisions are keyed by (seed, account, operation, sequence): a rerun repeats them.
    assert.deepEqual(await run(), first);
  });

  it('injects 500/503 server errors, which the SDK retries', async () => {
    sim.control.setOptions({ errorRate: 1 });
    const error = await failure(
      costExplorer(sim, { accountId: ACCOUNT, maxAttempts: 2 }).send(new GetCostAndUsageCommand(QUERY)),
    );
    assert.ok([500, 503].includes(error.$metadata.httpStatusCode ?? 0));
    assert.equal(error.$fault, 'server');
    assert.equal(error.$metadata.attempts, 2);
  });

  it('denies access-denied accounts with AccessDeniedException (CE) and AccessDenied (CloudWatch), not retried', async () => {
    await control(sim, 'POST', 'options', { accessDeniedAccounts: [ACCOUNT] });
    const ce = await failure(
      costExplorer(sim, { accountId: ACCOUNT }).send(new GetCostAndUsageCommand(QUERY)),
    );
    assert.equal(ce.name, 'AccessDeniedException');
    assert.equal(ce.$metadata.attempts, 1);
    assert.match(ce.message, /not authorized to perform: ce:GetCostAndUsage/);
    const cw = await failure(cloudWatch(sim, { accountId: ACCOUNT }).send(new ListMetricsCommand({})));
    assert.equal(cw.name, 'AccessDenied');
    assert.equal(cw.$metadata.attempts, 1);
    // Other accounts keep working.
    await costExplorer(sim, { accountId: '111111111111' }).send(new GetCostAndUsageCommand(QUERY));
  });

  it('answers DataUnavailableException for accounts without data', async () => {
    sim.control.setOptions({ dataUnavailableAccounts: [ACCOUNT] });
    const error = await failure(
      costExplorer(sim, { accountId: ACCOUNT }).send(new GetCostAndUsageCommand(QUERY)),
    );
    assert.equal(error.name, 'DataUnavailableException');
  });

  it('can return malformed responses the SDK fails to parse', async () => {
    sim.control.setOptions({ malformedRate: 1 });
    const error = await failure(
      costExplorer(sim, { accountId: ACCOUNT, maxAttempts: 1 }).send(new GetCostAndUsageCommand(QUERY)),
    );
    assert.notEqual(error.name, 'ValidationException');
  });

  it('faults one operation only (operationFaults): error, throttle or malformed', async () => {
    const ce = costExplorer(sim, { accountId: ACCOUNT, maxAttempts: 1 });
    const forecast = () =>
      ce.send(
        new GetCostForecastCommand({
          TimePeriod: { Start: '2026-03-02', End: '2026-04-01' },
          Metric: 'UNBLENDED_COST',
          Granularity: 'MONTHLY',
        }),
      );
    sim.control.setToday('2026-03-01');
    await control(sim, 'PATCH', 'options', { operationFaults: { 'ce:GetCostForecast': 'error' } });
    assert.equal((await failure(forecast())).$metadata.httpStatusCode, 500);
    await ce.send(new GetCostAndUsageCommand(QUERY));
    sim.control.setOptions({ operationFaults: { 'ce:GetCostForecast': 'throttle' } });
    assert.equal((await failure(forecast())).name, 'LimitExceededException');
    sim.control.setOptions({ operationFaults: { 'ce:GetCostForecast': 'malformed' } });
    assert.notEqual((await failure(forecast())).name, 'ValidationException');
    await ce.send(new GetCostAndUsageCommand(QUERY));
    sim.control.setOptions({ operationFaults: {} });
    await forecast();
    const bad = await control(sim, 'PATCH', 'options', { operationFaults: { 'ce:GetCostForecast': 'boom' } });
    assert.equal(bad.status, 400);
  });

  it('adds configured latency', async () => {
    await control(sim, 'PATCH', 'options', { latencyMs: 250 });
    const started = Date.now();
    await costExplorer(sim, { accountId: ACCOUNT }).send(new GetCostAndUsageCommand(QUERY));
    assert.ok(Date.now() - started >= 240);
  });

  it('rate-limits per account and service, throttling the excess', async () => {
    await control(sim, 'PATCH', 'options', { rateLimit: 3 });
    const ce = costExplorer(sim, { accountId: ACCOUNT, maxAttempts: 1 });
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, () => ce.send(new GetCostAndUsageCommand(QUERY))),
    );
    const throttled = results.filter(
      (r) => r.status === 'rejected' && (r.reason as Error).name === 'LimitExceededException',
    ).length;
    assert.equal(throttled, 7);
    assert.equal(sim.control.requestCounts().throttled[ACCOUNT]?.['ce:GetCostAndUsage'], 7);
    // Another account, and another service of the same account, have their own buckets.
    await costExplorer(sim, { accountId: '111111111111', maxAttempts: 1 }).send(
      new GetCostAndUsageCommand(QUERY),
    );
    await cloudWatch(sim, { accountId: ACCOUNT, maxAttempts: 1 }).send(new ListMetricsCommand({}));
  });

  it('validates options, registers external ids and moves today over HTTP', async () => {
    const bad = await control(sim, 'PATCH', 'options', { throttleRate: 3, pageSize: 0, nonsense: true });
    assert.equal(bad.status, 400);
    assert.equal((bad.json as { problems: string[] }).problems.length, 3);
    await control(sim, 'POST', 'external-ids', { accountId: ACCOUNT, externalId: 'xyz-123' });
    assert.deepEqual((await control(sim, 'GET', 'external-ids')).json, { [ACCOUNT]: 'xyz-123' });
    const wrong = await failure(
      sts(sim).send(
        new AssumeRoleCommand({
          RoleArn: `arn:aws:iam::${ACCOUNT}:role/CostWatch`,
          RoleSessionName: 'cw',
          ExternalId: 'nope',
        }),
      ),
    );
    assert.equal(wrong.name, 'AccessDenied');
    await sts(sim).send(
      new AssumeRoleCommand({
        RoleArn: `arn:aws:iam::${ACCOUNT}:role/CostWatch`,
        RoleSessionName: 'cw',
        ExternalId: 'xyz-123',
      }),
    );
    assert.equal((await control(sim, 'PUT', 'today', { today: '2026-04-02' })).status, 200);
    assert.equal(sim.control.today(), '2026-04-02');
    const april = await costExplorer(sim, { accountId: ACCOUNT }).send(
      new GetCostAndUsageCommand({ ...QUERY, TimePeriod: { Start: '2026-03-30', End: '2026-04-03' } }),
    );
    assert.deepEqual(
      april.ResultsByTime?.map((r) => r.Estimated),
      [false, true, true, true],
    );
    assert.equal((await control(sim, 'PUT', 'today', { today: '2026-02-30' })).status, 400);
    assert.equal((await control(sim, 'GET', 'nowhere')).status, 404);
  });

  it('rejects unsigned requests like AWS', async () => {
    const response = await fetch(`${sim.url}/`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-amz-json-1.1',
        'x-amz-target': 'AWSInsightsIndexService.GetCostAndUsage',
      },
      body: JSON.stringify(QUERY),
    });
    assert.equal(response.status, 403);
    assert.equal(
      ((await response.json()) as { __type: string }).__type,
      'MissingAuthenticationTokenException',
    );
  });
});
