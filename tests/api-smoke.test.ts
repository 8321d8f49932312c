import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { get, login, seedOrg, seedUser, startTestApi, type TestApi } from './helpers/api.js';

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

test('metrics label unknown routes "unmatched", never the raw path', async () => {
  await get(api, '/api/v1/some/secret-looking/path-12345', token);
  const metrics = await get(api, '/metrics');
  assert.match(metrics.text, /http_requests_total\{method="GET",route="unmatched",status="404"\}/);
  assert.doesNotMatch(metrics.text, /secret-looking/);
  assert.match(
    metrics.text,
    /http_request_duration_seconds_bucket\{le="[^"]+",method="GET",route="\/api\/v1\/costs\/daily",status="200"\}/,
  );
});

test('/ready is 503 once shutdown began, and when Postgres is down; data routes answer 503, not 500', async () => {
  const lifecycle = { draining: false };
  const draining = await startTestApi({ db: api.db, options: { lifecycle } });
  try {
    assert.equal((await get(draining, '/ready')).status, 200);
    lifecycle.draining = true;
    const res = await get(draining, '/ready');
    assert.equal(res.status, 503);
    assert.equal((res.json as { status: string }).status, 'draining');
    assert.equal((await get(draining, '/health')).status, 200, 'liveness is unaffected');
  } finally {
    await draining.close();
  }

  const { createPool } = await import('../lib/db.js');
  const deadPool = createPool({
    connectionString: 'postgresql://nobody@127.0.0.1:1/none',
    max: 1,
    applicationName: 'dead',
  });
  const down = await startTestApi({ db: { ...api.db, pool: deadPool } });
  try {
    const ready = await get(down, '/ready');
    assert.equal(ready.status, 503);
    assert.equal((ready.json as { checks: { redis: string } }).checks.redis, 'ok');
    assert.notEqual((ready.json as { checks: { postgres: string } }).checks.postgres, 'ok');
    const daily = await get(down, '/api/v1/costs/daily?from=2026-01-01&to=2026-01-31', token);
    assert.equal(daily.status, 503, daily.text);
    assert.equal((daily.json as { error: { code: string } }).error.code, 'service_unavailable');
    const loginRes = await fetch(`${down.baseUrl}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'viewer@smoke.test', password: 'whatever-password' }),
    });
    assert.equal(loginRes.status, 503);
  } finally {
    await down.close();
    await deadPool.end();
  }
});

test('startApi listens and serves; close() stops accepting, closes its connections and is idempotent', async () => {
  const { startApi } = await import('../api/main.js');
  const { parseConfig } = await import('../lib/config.js');
  const { pino } = await import('pino');
  const config = parseConfig('api', {
    ...process.env,
    DATABASE_URL: api.db.url,
    PORT: '0',
    HOST: '127.0.0.1',
    QUEUE_PREFIX: `apismoke_${process.pid}`,
  });
  const running = await startApi(config, { handleSignals: false, log: pino({ level: 'silent' }) });
  const base = `http://127.0.0.1:${running.port}`;
  assert.equal((await fetch(`${base}/health`)).status, 200);
  assert.equal((await fetch(`${base}/ready`)).status, 200);
  const loginRes = await fetch(`${base}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'viewer@smoke.test', password: 'correct horse battery staple' }),
  });
  assert.equal(loginRes.status, 200);
  await running.close();
  await assert.rejects(fetch(`${base}/health`), 'no longer accepting');
  await running.close();
  const keys = await api.redis.keys(`apismoke_${process.pid}:*`);
  if (keys.length > 0) await api.redis.del(...keys);
});
