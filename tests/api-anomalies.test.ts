/**
 * /api/v1/anomalies, feedback, /anomaly-subscriptions and /anomaly-settings through the real app:
 * roles, org scoping, filters and pagination, 400s naming the field, a `no` suppressing its series
 * for 7 days of the pinned clock, and the OpenAPI path parameters.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { get, login, seedOrg, seedUser, startTestApi, type TestApi } from './helpers/api.js';
import {
  insertAnomaly,
  suppressionOf,
  type AnomalyWrite,
} from '../database/repositories/anomalies.repository.js';
import { createChannel } from '../database/repositories/notification-channels.repository.js';

const NOW = new Date('2026-03-15T12:00:00Z');

let api: TestApi;
let orgA: number;
let orgB: number;
let viewer: string;
let admin: string;
let viewerB: string;
const ids: Record<string, number> = {};
/** Real notification channels: two of orgA, one of orgB. */
const channels: { a1: number; a2: number; b: number } = { a1: 0, a2: 0, b: 0 };

async function webhookChannel(orgId: number, name: string): Promise<number> {
  const c = await createChannel(api.db.pool, orgId, {
    type: 'webhook',
    name,
    url: 'http://127.0.0.1:9/hook',
    signingSecret: 'anomaly-api-test-secret',
    format: 'json',
  });
  return c.id;
}

function anomaly(orgId: number, over: Partial<AnomalyWrite>): AnomalyWrite {
  return {
    orgId,
    dimension: 'service',
    key: 'Amazon EC2',
    kind: 'spike',
    start: '2026-03-01',
    end: '2026-03-01',
    impact: '150.00',
    expected: '100.00',
    actual: '250.00',
    maxScore: 12.5,
    status: 'open',
    rootCauses: [
      {
        dimension: 'account',
        service: 'Amazon EC2',
        linked_account: '222222222222',
        region: null,
        usage_type: null,
        impact: { contribution: '150.00', share: 1 },
      },
    ],
    now: NOW,
    ...over,
  };
}

async function send(method: string, path: string, token: string, body: unknown) {
  const res = await fetch(`${api.baseUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: JSON.parse(text) as Record<string, unknown> };
}

type Item = { id: number; key: string; status: string; impact: { amount: string } };
type Page = { items: Item[]; next_offset: number | null; organization_id: number };

before(async () => {
  api = await startTestApi({ options: { now: () => NOW } });
  orgA = await seedOrg(api.db, 'anomaly-api-a');
  orgB = await seedOrg(api.db, 'anomaly-api-b');
  await seedUser(api.db, orgA, 'viewer@anomaly.test', 'viewer');
  await seedUser(api.db, orgA, 'admin@anomaly.test', 'admin');
  await seedUser(api.db, orgB, 'viewer@b.anomaly.test', 'viewer');
  viewer = await login(api, 'viewer@anomaly.test');
  admin = await login(api, 'admin@anomaly.test');
  viewerB = await login(api, 'viewer@b.anomaly.test');
  channels.a1 = await webhookChannel(orgA, 'finops-a1');
  channels.a2 = await webhookChannel(orgA, 'finops-a2');
  channels.b = await webhookChannel(orgB, 'finops-b');
  ids.ec2 = (await insertAnomaly(api.db.pool, anomaly(orgA, {}))).id;
  ids.s3 = (
    await insertAnomaly(
      api.db.pool,
      anomaly(orgA, {
        key: 'Amazon S3',
        start: '2026-03-10',
        end: '2026-03-12',
        impact: '40.00',
        status: 'provisional',
        rootCauses: [],
      }),
    )
  ).id;
  ids.account = (
    await insertAnomaly(
      api.db.pool,
      anomaly(orgA, {
        dimension: 'account',
        key: '222222222222',
        start: '2026-02-01',
        end: '2026-02-02',
        impact: '900.00',
        status: 'closed',
      }),
    )
  ).id;
  ids.other = (await insertAnomaly(api.db.pool, anomaly(orgB, { key: 'Amazon RDS' }))).id;
});
after(async () => {
  await api.close();
});

describe('GET /api/v1/anomalies', () => {
  test('viewers list their own organization, newest start first', async () => {
    const res = await get(api, '/api/v1/anomalies', viewer);
    assert.equal(res.status, 200);
    const page = res.json as Page;
    assert.equal(page.organization_id, orgA);
    assert.deepEqual(
      page.items.map((i) => i.id),
      [ids.s3, ids.ec2, ids.account],
    );
    const first = page.items[1] as unknown as Record<string, unknown>;
    assert.deepEqual(first.impact, { amount: '150.00', unit: 'USD' });
    assert.deepEqual((first.root_causes as unknown[]).length, 1);
  });

  test('filters: status, service, account (series or root cause), from/to, min impact', async () => {
    const q = async (qs: string) =>
      ((await get(api, `/api/v1/anomalies?${qs}`, viewer)).json as Page).items.map((i) => i.id);
    assert.deepEqual(await q('status=provisional'), [ids.s3]);
    assert.deepEqual(await q('service=Amazon%20EC2'), [ids.ec2, ids.account]);
    assert.deepEqual(await q('account=222222222222'), [ids.ec2, ids.account]);
    assert.deepEqual(await q('from=2026-03-02'), [ids.s3]);
    assert.deepEqual(await q('to=2026-02-28'), [ids.account]);
    assert.deepEqual(await q('min_impact=100'), [ids.ec2, ids.account]);
  });

  test('pagination: limit and next_offset', async () => {
    const one = (await get(api, '/api/v1/anomalies?limit=2', viewer)).json as Page;
    assert.equal(one.items.length, 2);
    assert.equal(one.next_offset, 2);
    const two = (await get(api, '/api/v1/anomalies?limit=2&offset=2', viewer)).json as Page;
    assert.deepEqual(
      two.items.map((i) => i.id),
      [ids.account],
    );
    assert.equal(two.next_offset, null);
  });

  test('bad input: 400 naming the field', async () => {
    for (const [qs, field] of [
      ['status=bogus', 'status'],
      ['min_impact=abc', 'min_impact'],
      ['from=2026-03-10&to=2026-03-01', 'from'],
      ['from=2026-02-30', 'from'],
      ['limit=0', 'limit'],
      ['colour=red', 'colour'],
    ] as const) {
      const res = await get(api, `/api/v1/anomalies?${qs}`, viewer);
      assert.equal(res.status, 400, qs);
      assert.equal((res.json as { error: { field: string } }).error.field, field, qs);
    }
    const bad = await get(api, '/api/v1/anomalies/abc', viewer);
    assert.equal(bad.status, 400);
    assert.equal((bad.json as { error: { field: string } }).error.field, 'id');
  });

  test('another organization’s anomaly is 404; unauthenticated is 401', async () => {
    assert.equal((await get(api, `/api/v1/anomalies/${ids.other}`, viewer)).status, 404);
    assert.equal((await get(api, `/api/v1/anomalies/${ids.other}`, viewerB)).status, 200);
    assert.equal((await get(api, '/api/v1/anomalies')).status, 401);
    assert.equal(
      (await send('POST', `/api/v1/anomalies/${ids.other}/feedback`, viewer, { feedback: 'no' })).status,
      404,
    );
  });
});

describe('POST /api/v1/anomalies/{id}/feedback', () => {
  test('no: recorded, and the series is suppressed for 7 days of the clock', async () => {
    const res = await send('POST', `/api/v1/anomalies/${ids.ec2}/feedback`, viewer, { feedback: 'no' });
    assert.equal(res.status, 200);
    assert.equal(res.json.suppressed_until, '2026-03-22T12:00:00.000Z');
    assert.equal((res.json.anomaly as { feedback: string }).feedback, 'no');
    const until = await suppressionOf(api.db.pool, orgA, 'service', 'Amazon EC2');
    assert.equal(until?.toISOString(), '2026-03-22T12:00:00.000Z');
  });

  test('yes and planned: recorded, no suppression', async () => {
    const res = await send('POST', `/api/v1/anomalies/${ids.s3}/feedback`, viewer, { feedback: 'planned' });
    assert.equal(res.status, 200);
    assert.equal(res.json.suppressed_until, null);
    assert.equal(await suppressionOf(api.db.pool, orgA, 'service', 'Amazon S3'), null);
  });

  test('bad feedback: 400 naming the field; the anomaly is unchanged', async () => {
    const res = await send('POST', `/api/v1/anomalies/${ids.account}/feedback`, viewer, {
      feedback: 'maybe',
    });
    assert.equal(res.status, 400);
    assert.equal((res.json.error as { field: string }).field, 'feedback');
    const after = (await get(api, `/api/v1/anomalies/${ids.account}`, viewer)).json as {
      feedback: string | null;
    };
    assert.equal(after.feedback, null);
  });
});

describe('subscriptions and settings', () => {
  test('admins subscribe channels; viewers may read but not write', async () => {
    const denied = await send('POST', '/api/v1/anomaly-subscriptions', viewer, {
      name: 'x',
      channel_ids: [channels.a1],
    });
    assert.equal(denied.status, 403);
    const made = await send('POST', '/api/v1/anomaly-subscriptions', admin, {
      name: 'finops',
      min_impact: '50',
      channel_ids: [channels.a1, channels.a2],
    });
    assert.equal(made.status, 201);
    assert.deepEqual(made.json.min_impact, { amount: '50', unit: 'USD' });
    assert.deepEqual(made.json.channel_ids, [channels.a1, channels.a2]);
    const changed = await send('POST', `/api/v1/anomaly-subscriptions/${String(made.json.id)}`, admin, {
      enabled: false,
    });
    assert.equal(changed.status, 200);
    assert.equal(changed.json.enabled, false);
    const list = (await get(api, '/api/v1/anomaly-subscriptions', viewer)).json as {
      items: { id: number }[];
    };
    assert.deepEqual(
      list.items.map((s) => s.id),
      [made.json.id],
    );
    // Not visible to another organization.
    const other = (await get(api, '/api/v1/anomaly-subscriptions', viewerB)).json as { items: unknown[] };
    assert.deepEqual(other.items, []);
    const missing = await send('POST', `/api/v1/anomaly-subscriptions/999999`, admin, { enabled: false });
    assert.equal(missing.status, 404);
  });

  test('bad subscription bodies: 400 naming the field', async () => {
    for (const [body, field] of [
      [{ name: 'x', channel_ids: [] }, 'channel_ids'],
      [{ name: 'x', channel_ids: ['a'] }, 'channel_ids.0'],
      [{ name: 'x', channel_ids: [channels.a1], min_impact: '-5' }, 'min_impact'],
      [{ channel_ids: [channels.a1] }, 'name'],
      // Another organization's channel, and one that does not exist.
      [{ name: 'x', channel_ids: [channels.b] }, 'channel_ids'],
      [{ name: 'x', channel_ids: [channels.a1, 999999] }, 'channel_ids'],
    ] as const) {
      const res = await send('POST', '/api/v1/anomaly-subscriptions', admin, body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal((res.json.error as { field: string }).field, field, JSON.stringify(body));
    }
  });

  test('settings: defaults, then an admin change', async () => {
    const before = (await get(api, '/api/v1/anomaly-settings', viewer)).json as Record<string, unknown>;
    assert.deepEqual(before, {
      organization_id: orgA,
      min_impact_absolute: { amount: '10', unit: 'USD' },
      min_impact_relative: 0.2,
      z_threshold: 3.5,
      detect_drops: false,
    });
    assert.equal(
      (await send('POST', '/api/v1/anomaly-settings', viewer, { detect_drops: true })).status,
      403,
    );
    const bad = await send('POST', '/api/v1/anomaly-settings', admin, { z_threshold: 0 });
    assert.equal(bad.status, 400);
    assert.equal((bad.json.error as { field: string }).field, 'z_threshold');
    const res = await send('POST', '/api/v1/anomaly-settings', admin, {
      min_impact_absolute: '25',
      detect_drops: true,
    });
    assert.equal(res.status, 200);
    assert.deepEqual(res.json.min_impact_absolute, { amount: '25', unit: 'USD' });
    assert.equal(res.json.detect_drops, true);
    assert.equal(res.json.min_impact_relative, 0.2);
  });

  test('OpenAPI: the feedback route with its path parameter', async () => {
    const doc = (await get(api, '/api/v1/openapi.json')).json as {
      paths: Record<string, Record<string, { parameters: { name: string; in: string }[] }>>;
    };
    const op = doc.paths['/api/v1/anomalies/{id}/feedback']?.post;
    assert.ok(op);
    assert.deepEqual(
      op.parameters.find((p) => p.in === 'path'),
      {
        name: 'id',
        in: 'path',
        required: true,
        schema: { type: 'integer', minimum: 1 },
      },
    );
    assert.ok(doc.paths['/api/v1/anomalies']?.get);
    assert.ok(doc.paths['/api/v1/anomaly-subscriptions']?.post);
  });
});
