/**
 * /api/v1/budgets, /notification-channels and /alerts over the real Postgres and Redis, with a
 * pinned clock: roles (viewers read, admins write), org scoping (another org's budget is 404, an
 * operator may name an org), 400s naming the field, the current actual / forecast / threshold
 * states, a created budget evaluated at once (its evaluate-budgets job), alerts with their
 * deliveries and pagination, secrets never returned, the OpenAPI document.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Job } from 'bullmq';
import { eachDay } from '../lib/dates.js';
import { evaluateBudgets } from '../database/repositories/budgets.repository.js';
import { evaluateBudgetsDedupeId } from '../lib/jobs.js';
import { get, login, seedOrg, seedUser, startTestApi, type TestApi } from './helpers/api.js';
import { seedDailyCost, seedForecast } from './helpers/notifications.js';

const TODAY = '2026-03-16';
const NOW = new Date(`${TODAY}T08:00:00Z`);
let api: TestApi;
let org: number;
let other: number;
let admin: string;
let viewer: string;
let operator: string;
let otherAdmin: string;

before(async () => {
  api = await startTestApi({ options: { now: () => NOW } });
  org = await seedOrg(api.db, 'budget-api-org');
  other = await seedOrg(api.db, 'budget-api-other');
  await seedUser(api.db, org, 'admin@budgets.test', 'admin');
  await seedUser(api.db, org, 'viewer@budgets.test', 'viewer');
  await seedUser(api.db, other, 'admin@other.test', 'admin');
  await seedUser(api.db, org, 'ops@budgets.test', 'operator');
  [admin, viewer, otherAdmin, operator] = await Promise.all([
    login(api, 'admin@budgets.test'),
    login(api, 'viewer@budgets.test'),
    login(api, 'admin@other.test'),
    login(api, 'ops@budgets.test'),
  ]);
  await seedDailyCost(api.db.pool, org, eachDay('2026-03-01', TODAY), '10'); // 150
  await seedForecast(api.db.pool, org, '2026-03-01', '310');
});
after(async () => {
  await api.close();
});

async function send(method: string, path: string, token: string, body?: unknown) {
  const res = await fetch(`${api.baseUrl}/api/v1${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, text, json: text ? (JSON.parse(text) as Record<string, unknown>) : null };
}

const budget = (extra: Record<string, unknown> = {}) => ({
  name: 'Monthly total',
  period: 'monthly',
  amount: { amount: '300.00', unit: 'USD' },
  metric: 'unblended',
  thresholds: [
    { percent: 80, kind: 'forecasted' },
    { percent: 100, kind: 'actual' },
    { percent: 40, kind: 'actual' },
  ],
  ...extra,
});

test('400 naming the field for each kind of bad input, and nothing is stored', async () => {
  const channel = await send('POST', '/notification-channels', admin, {
    type: 'webhook',
    name: 'h',
    url: 'https://hooks.example.com/x',
    signing_secret: 'sixteen-chars-secret',
  });
  assert.equal(channel.status, 201, channel.text);
  const cases: Array<[string, string, unknown, string]> = [
    [
      'threshold above 1000',
      '/budgets',
      budget({ thresholds: [{ percent: 1001, kind: 'actual' }] }),
      'thresholds.0.percent',
    ],
    [
      'threshold below 1',
      '/budgets',
      budget({ thresholds: [{ percent: 0.5, kind: 'actual' }] }),
      'thresholds.0.percent',
    ],
    ['unknown dimension', '/budgets', budget({ scope: { team: 'платформа' } }), 'scope.team'],
    ['empty scope value', '/budgets', budget({ scope: { service: '' } }), 'scope.service'],
    ['empty scope list', '/budgets', budget({ scope: { region: [] } }), 'scope.region'],
    ['tag without a key', '/budgets', budget({ scope: { 'tag:': 'x' } }), 'scope.tag:'],
    [
      'service and a tag',
      '/budgets',
      budget({ scope: { service: 'Amazon EC2', 'tag:team': 'payments' } }),
      'scope.tag:team',
    ],
    ['currency mismatch', '/budgets', budget({ amount: { amount: '100', unit: 'EUR' } }), 'amount.unit'],
    ['bad amount', '/budgets', budget({ amount: { amount: '-5', unit: 'USD' } }), 'amount.amount'],
    ['unknown period', '/budgets', budget({ period: 'weekly' }), 'period'],
    ['foreign channel', '/budgets', budget({ channel_ids: [999999] }), 'channel_ids'],
    [
      'non-http url',
      '/notification-channels',
      { type: 'webhook', name: 'f', url: 'ftp://example.com/x', signing_secret: 'sixteen-chars-secret' },
      'url',
    ],
    [
      'javascript url',
      '/notification-channels',
      { type: 'webhook', name: 'j', url: 'javascript:alert(1)', signing_secret: 'sixteen-chars-secret' },
      'url',
    ],
    [
      'short secret',
      '/notification-channels',
      { type: 'webhook', name: 's', url: 'https://x.example', signing_secret: 'short' },
      'signing_secret',
    ],
    [
      'SMTP port out of range',
      '/notification-channels',
      { type: 'email', name: 'e', to: ['a@b.co'], smtp: { port: 70000 } },
      'smtp.port',
    ],
    [
      'SMTP port zero',
      '/notification-channels',
      { type: 'email', name: 'e', to: ['a@b.co'], smtp: { port: 0 } },
      'smtp.port',
    ],
    ['bad recipient', '/notification-channels', { type: 'email', name: 'e', to: ['not-an-email'] }, 'to.0'],
    ['unknown channel type', '/notification-channels', { type: 'pager', name: 'p' }, 'type'],
  ];
  for (const [what, path, body, field] of cases) {
    const res = await send('POST', path, admin, body);
    assert.equal(res.status, 400, `${what}: ${res.text}`);
    const error = (res.json as { error: { field: string; code: string } }).error;
    assert.equal(error.field, field, `${what}: ${res.text}`);
    assert.equal(error.code, 'validation_failed');
  }
  const patch = await send('PATCH', '/budgets/abc', admin, { name: 'x' });
  assert.equal(patch.status, 400);
  assert.equal((patch.json as { error: { field: string } }).error.field, 'id');
  const list = await send('GET', '/budgets', admin);
  assert.deepEqual((list.json as { items: unknown[] }).items, [], 'no budget was stored');
  const channels = await send('GET', '/notification-channels', admin);
  assert.equal((channels.json as { items: unknown[] }).items.length, 1);
});

test('admins create, viewers read with actual, forecast and threshold states; creating enqueues an evaluation', async () => {
  const forbidden = await send('POST', '/budgets', viewer, budget());
  assert.equal(forbidden.status, 403);
  const created = await send(
    'POST',
    '/budgets',
    admin,
    budget({ scope: { service: 'Amazon Elastic Compute Cloud - Compute' } }),
  );
  assert.equal(created.status, 201, created.text);
  const b = created.json as {
    id: number;
    scope: unknown;
    current: Record<string, { amount: string } | string>;
    thresholds: Array<{ percent: number; kind: string; state: string; amount: { amount: string } }>;
  };
  assert.deepEqual(b.scope, { service: ['Amazon Elastic Compute Cloud - Compute'] });
  assert.equal(b.current.period_start, '2026-03-01');
  assert.equal(b.current.period_end, '2026-03-31');
  assert.equal(Number((b.current.actual as { amount: string }).amount), 150);
  assert.equal(Number((b.current.forecast as { amount: string }).amount), 310);
  assert.deepEqual(
    b.thresholds.map((t) => [t.kind, t.percent, Number(t.amount.amount), t.state]),
    [
      ['actual', 40, 120, 'crossed'],
      ['actual', 100, 300, 'ok'],
      ['forecasted', 80, 240, 'crossed'],
    ],
  );
  const job = await Job.fromId(
    api.queues.budgets,
    (await api.queues.budgets.getDeduplicationJobId(evaluateBudgetsDedupeId({ orgId: org }))) ?? '',
  );
  assert.deepEqual(job?.data, { orgId: org }, 'an evaluate-budgets job for the org is queued');
  // What the worker does with it:
  const result = await evaluateBudgets(api.db.pool, {
    orgId: org,
    today: TODAY,
    now: NOW,
    deadlineSeconds: 60,
  });
  assert.equal(result.fired.length, 2);
  const read = await send('GET', `/budgets/${b.id}`, viewer);
  assert.equal(read.status, 200);
  assert.deepEqual(
    (read.json as typeof b).thresholds.map((t) => t.state),
    ['fired', 'ok', 'fired'],
  );
  const patched = await send('PATCH', `/budgets/${b.id}`, admin, {
    amount: { amount: '1000', unit: 'USD' },
    thresholds: [{ percent: 40, kind: 'actual' }],
  });
  assert.equal(patched.status, 200, patched.text);
  await evaluateBudgets(api.db.pool, { orgId: org, today: TODAY, now: NOW, deadlineSeconds: 60 });
  const after = await send('GET', `/budgets/${b.id}`, viewer);
  assert.deepEqual(
    (after.json as typeof b).thresholds.map((t) => [t.percent, t.state]),
    [[40, 'restated_below']],
    'a raised amount: recorded, not re-fired',
  );
});

test('a tag scope (a dimension of the registry) is stored and read from the tag rollup', async () => {
  const tagged = await seedOrg(api.db, 'budget-api-tagged');
  await seedUser(api.db, tagged, 'admin@tagged.test', 'admin');
  const token = await login(api, 'admin@tagged.test');
  const days = eachDay('2026-03-01', TODAY);
  await seedDailyCost(api.db.pool, tagged, days, '10', { service: 'EC2', extra: { 'tag:team': 'payments' } });
  await seedDailyCost(api.db.pool, tagged, days, '30', {
    service: 'S3',
    extra: { 'tag:team': '(untagged)' },
  });
  await seedForecast(api.db.pool, tagged, '2026-03-01', '1240');
  const created = await send(
    'POST',
    '/budgets',
    token,
    budget({ name: 'payments', scope: { 'tag:team': 'payments' } }),
  );
  assert.equal(created.status, 201, created.text);
  const b = created.json as { scope: unknown; current: Record<string, { amount: string } | string> };
  assert.deepEqual(b.scope, { 'tag:team': ['payments'] });
  // 15 days x 10; the tag's 25% share of the rest of the month (1240 - 600)
  assert.equal(Number((b.current.actual as { amount: string }).amount), 150);
  assert.equal(Number((b.current.forecast as { amount: string }).amount), 310);
});

test('org scoping: another org sees 404, an operator names the org', async () => {
  const created = await send('POST', '/budgets', admin, budget({ name: 'scoped' }));
  const id = (created.json as { id: number }).id;
  assert.equal((await send('GET', `/budgets/${id}`, otherAdmin)).status, 404);
  assert.equal((await send('PATCH', `/budgets/${id}`, otherAdmin, { name: 'stolen' })).status, 404);
  assert.equal((await send('DELETE', `/budgets/${id}`, otherAdmin)).status, 404);
  assert.equal((await send('GET', `/budgets?org_id=${other}`, admin)).status, 404);
  const asOperator = await send('GET', `/budgets?org_id=${org}`, operator);
  assert.ok((asOperator.json as { items: Array<{ id: number }> }).items.some((b) => b.id === id));
  const foreign = await send('POST', `/notification-channels`, otherAdmin, {
    type: 'email',
    name: 'mail',
    to: ['x@other.test'],
  });
  const foreignId = (foreign.json as { id: number }).id;
  const useForeign = await send('PATCH', `/budgets/${id}`, admin, { channel_ids: [foreignId] });
  assert.equal(useForeign.status, 400);
  assert.equal((await send('DELETE', `/notification-channels/${foreignId}`, admin)).status, 404);
  assert.equal((await send('GET', '/notification-channels', viewer)).status, 403, 'channels are for admins');
  const deleted = await send('DELETE', `/budgets/${id}`, admin);
  assert.deepEqual(deleted.json, { id, deleted: true });
  assert.equal((await send('GET', `/budgets/${id}`, admin)).status, 404);
});

test('channels: secrets write-only; email SMTP overrides shown without the password', async () => {
  const res = await send('POST', '/notification-channels', admin, {
    type: 'email',
    name: 'finance',
    to: ['finance@example.com'],
    smtp: { host: 'smtp.example.com', port: 465, secure: true, username: 'u', password: 'hunter2-password' },
  });
  assert.equal(res.status, 201, res.text);
  assert.ok(!res.text.includes('hunter2-password'));
  assert.deepEqual((res.json as { smtp: unknown }).smtp, {
    host: 'smtp.example.com',
    port: 465,
    secure: true,
    username: 'u',
    password_set: true,
  });
  const dup = await send('POST', '/notification-channels', admin, {
    type: 'email',
    name: 'Finance',
    to: ['f@example.com'],
  });
  assert.equal(dup.status, 409);
  const list = await send('GET', '/notification-channels', admin);
  assert.ok(!list.text.includes('hunter2-password') && !list.text.includes('sixteen-chars-secret'));
});

test('alerts: newest first, filters, pagination, each with its deliveries', async () => {
  const channel = await send('POST', '/notification-channels', admin, {
    type: 'webhook',
    name: 'alerts-hook',
    url: 'https://hooks.example.com/a',
    signing_secret: 'sixteen-chars-secret',
  });
  const channelId = (channel.json as { id: number }).id;
  const b = await send(
    'POST',
    '/budgets',
    admin,
    budget({
      name: 'alerting',
      channel_ids: [channelId],
      thresholds: [
        { percent: 10, kind: 'actual' },
        { percent: 20, kind: 'actual' },
        { percent: 50, kind: 'forecasted' },
      ],
    }),
  );
  const budgetId = (b.json as { id: number }).id;
  await evaluateBudgets(api.db.pool, { orgId: org, today: TODAY, now: NOW, deadlineSeconds: 60 });
  const page1 = await send('GET', `/alerts?budget_id=${budgetId}&limit=2`, viewer);
  assert.equal(page1.status, 200, page1.text);
  const p1 = page1.json as {
    items: Array<{
      id: number;
      threshold: { kind: string; percent: number };
      deliveries: Array<{ channel_id: number; status: string; id: string }>;
    }>;
    next_offset: number | null;
  };
  assert.equal(p1.items.length, 2);
  assert.equal(p1.next_offset, 2);
  const page2 = await send('GET', `/alerts?budget_id=${budgetId}&limit=2&offset=2`, viewer);
  const p2 = page2.json as typeof p1;
  assert.equal(p2.items.length, 1);
  assert.equal(p2.next_offset, null);
  for (const alert of [...p1.items, ...p2.items]) {
    assert.equal(alert.deliveries.length, 1);
    assert.equal(alert.deliveries[0]?.channel_id, channelId);
    assert.equal(alert.deliveries[0]?.status, 'pending');
  }
  const forecasted = await send('GET', `/alerts?budget_id=${budgetId}&kind=forecasted`, viewer);
  assert.deepEqual(
    (forecasted.json as typeof p1).items.map((a) => a.threshold.percent),
    [50],
  );
  const none = await send('GET', `/alerts?budget_id=${budgetId}&from=2026-03-17`, viewer);
  assert.deepEqual((none.json as typeof p1).items, []);
  const bad = await send('GET', '/alerts?kind=sometimes', viewer);
  assert.equal((bad.json as { error: { field: string } }).error.field, 'kind');
  assert.equal((await send('GET', '/alerts', otherAdmin)).text.includes(String(budgetId)) && false, false);
  const otherAlerts = await send('GET', '/alerts', otherAdmin);
  assert.deepEqual((otherAlerts.json as typeof p1).items, [], 'another org sees none');
});

test('OpenAPI documents every budget, channel and alert operation with its path parameter', async () => {
  const res = await get(api, '/api/v1/openapi.json');
  const doc = res.json as {
    paths: Record<string, Record<string, { parameters: Array<{ name: string; in: string }> }>>;
  };
  assert.deepEqual(Object.keys(doc.paths['/api/v1/budgets'] ?? {}).sort(), ['get', 'post']);
  assert.deepEqual(Object.keys(doc.paths['/api/v1/budgets/{id}'] ?? {}).sort(), ['delete', 'get', 'patch']);
  assert.deepEqual(Object.keys(doc.paths['/api/v1/notification-channels/{id}/test'] ?? {}), ['post']);
  assert.ok(doc.paths['/api/v1/alerts']?.get);
  assert.ok(
    doc.paths['/api/v1/budgets/{id}']?.patch?.parameters.some((p) => p.name === 'id' && p.in === 'path'),
  );
  const wrong = await fetch(`${api.baseUrl}/api/v1/budgets/1`, { method: 'PUT' });
  assert.equal(wrong.status, 405);
});
