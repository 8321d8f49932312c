import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { get, login, seedOrg, seedUser, startTestApi, type TestApi } from '../api/testing/harness.js';

let api: TestApi;
let token: string;
let orgId: number;

before(async () => {
  api = await startTestApi();
  orgId = await seedOrg(api.db, 'smoke');
  await seedUser(api.db, orgId, 'viewer@smoke.test', 'viewer');
  token = await login(api, 'viewer@smoke.test');
  await api.db.pool.query(
    `INSERT INTO cost_daily_service VALUES ($1, '2026-01-01', 'Amazon S3', '1.5000000000', '1.5', '1.5', '2', 'USD', false),
                                           ($1, '2026-01-01', 'AWS Lambda', '0.2500000000', '0.25', '0.25', '2', 'USD', false)`,
    [orgId],
  );
});
after(async () => api.close());

test('health, ready and metrics answer with X-Process-Time', async () => {
  const health = await get(api, '/health');
  assert.equal(health.status, 200);
  assert.match(health.headers.get('x-process-time') ?? '', /^\d+\.\d{3}$/);
  const ready = await get(api, '/ready');
  assert.equal(ready.status, 200, ready.text);
  assert.deepEqual(ready.json, { status: 'ready', checks: { postgres: 'ok', redis: 'ok' } });
  const metrics = await get(api, '/metrics');
  assert.equal(metrics.status, 200);
  assert.match(metrics.text, /http_requests_total\{method="GET",route="\/health",status="200"\}/);
});

test('daily costs by service and in total', async () => {
  const byService = await get(api, '/api/v1/costs/daily?from=2026-01-01&to=2026-01-31', token);
  assert.equal(byService.status, 200, byService.text);
  const body = byService.json as { items: { group: string; unblended_cost: { amount: string } }[] };
  assert.deepEqual(
    body.items.map((i) => [i.group, i.unblended_cost.amount]),
    [
      ['AWS Lambda', '0.2500000000'],
      ['Amazon S3', '1.5000000000'],
    ],
  );
  const total = await get(api, '/api/v1/costs/daily?from=2026-01-01&to=2026-01-31&group_by=none', token);
  assert.equal(
    (total.json as { items: { unblended_cost: { amount: string } }[] }).items[0]?.unblended_cost.amount,
    '1.7500000000',
  );
});

test('errors: 400 names the field, 404, 405 with Allow, 401', async () => {
  const bad = await get(api, '/api/v1/costs/daily?from=2026-02-30&to=2026-01-31', token);
  assert.equal(bad.status, 400);
  assert.equal((bad.json as { error: { field: string } }).error.field, 'from');
  assert.equal((await get(api, '/api/v1/nope', token)).status, 404);
  const wrong = await fetch(`${api.baseUrl}/api/v1/costs/daily`, { method: 'DELETE' });
  assert.equal(wrong.status, 405);
  assert.equal(wrong.headers.get('allow'), 'GET, HEAD');
  assert.equal((await get(api, '/api/v1/costs/daily?from=2026-01-01&to=2026-01-31')).status, 401);
});
