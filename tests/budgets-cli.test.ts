/**
 * `costwatch channel create|list|test|delete` and `costwatch budget create|list|delete` through the
 * real CLI against the real Postgres and Redis: errors name the flag, secrets come from stdin and
 * are never printed back, `channel test` sends a signed message to a loopback receiver, and
 * `budget create` queues the budget's evaluation.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createRedis, type Redis } from '../lib/redis.js';
import { createQueues, type Queues } from '../producers/queues.js';
import { evaluateBudgetsDedupeId } from '../lib/jobs.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { discardQueues } from './helpers/queues.js';
import { startWebhookReceiver, type WebhookReceiver } from './helpers/notifications.js';

const BIN = fileURLToPath(new URL('../bin/costwatch.mjs', import.meta.url));
const SECRET = `cli-secret-${randomBytes(8).toString('hex')}`;
const PREFIX = `cwbudcli${randomBytes(4).toString('hex')}`;
let db: TestDatabase;
let orgId: number;
let hook: WebhookReceiver;
let redis: Redis;
let queues: Queues;

function cli(args: string[], stdin = ''): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, DATABASE_URL: db.url, LOG_LEVEL: 'silent', QUEUE_PREFIX: PREFIX },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

before(async () => {
  db = await createTestDatabase();
  const { rows } = await db.pool.query<{ id: number }>(
    `INSERT INTO organizations (name, aws_account_id) VALUES ('cli-budget-org', '123456789012') RETURNING id::int AS id`,
  );
  orgId = rows[0]?.id ?? 0;
  hook = await startWebhookReceiver(SECRET);
  redis = createRedis(process.env.REDIS_URL ?? '', 'producer');
  queues = createQueues(redis, { prefix: PREFIX, attempts: 3, backoffMs: 100 });
});
after(async () => {
  await discardQueues(queues);
  redis.disconnect();
  await hook.close();
  await db.drop();
});

test('channel create (secret from stdin), list without secrets, test delivers a signed message, delete', async () => {
  const bad = await cli(
    ['channel', 'create', '--org', String(orgId), '--name', 'x', '--url', 'ftp://example.com'],
    '',
  );
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /--url: must be an http:\/\/ or https:\/\/ URL/);
  const created = await cli(
    ['channel', 'create', '--org', String(orgId), '--name', 'hook', '--url', hook.url, '--secret-stdin'],
    `${SECRET}\n`,
  );
  assert.equal(created.code, 0, created.stderr);
  const channelId = created.stdout.trim();
  assert.match(channelId, /^\d+$/);
  const generated = await cli([
    'channel',
    'create',
    '--org',
    String(orgId),
    '--name',
    'gen',
    '--url',
    'https://hooks.example.com/x',
  ]);
  assert.match(generated.stderr, /signing secret \(shown once.*\): whsec_/);
  const list = await cli(['channel', 'list', '--org', String(orgId)]);
  assert.equal(list.code, 0);
  assert.match(list.stdout, /hook\s+webhook\s+http:\/\/127\.0\.0\.1/);
  assert.ok(!list.stdout.includes(SECRET));
  const json = await cli(['channel', 'list', '--org', String(orgId), '--json']);
  assert.ok(!json.stdout.includes(SECRET) && !json.stdout.includes('whsec_'));
  const sent = await cli(['channel', 'test', '--org', String(orgId), '--id', channelId]);
  assert.equal(sent.code, 0, sent.stdout + sent.stderr);
  assert.match(sent.stdout, /^delivery [0-9a-f-]{36}: delivered \(204\)/);
  const id = /delivery ([0-9a-f-]{36})/.exec(sent.stdout)?.[1];
  assert.ok(hook.received.some((r) => r.id === id && r.signatureValid && r.body.type === 'test'));
  await hook.down();
  const refused = await cli(['channel', 'test', '--org', String(orgId), '--id', channelId]);
  await hook.up();
  assert.equal(refused.code, 1);
  assert.match(refused.stdout, /: failed: /);
  const removed = await cli(['channel', 'delete', '--org', String(orgId), '--id', channelId]);
  assert.equal(removed.code, 0);
  const again = await cli(['channel', 'delete', '--org', String(orgId), '--id', channelId]);
  assert.match(again.stderr, /--id: no channel/);
});

test('budget create validates like the API, queues the evaluation; list and delete', async () => {
  const base = ['budget', 'create', '--org', String(orgId), '--name', 'cli budget', '--amount', '500'];
  const noThreshold = await cli(base);
  assert.match(noThreshold.stderr, /--threshold: at least one threshold/);
  const tooHigh = await cli([...base, '--threshold', '1001:actual']);
  assert.match(tooHigh.stderr, /--threshold \(0\.percent\): must be between 1 and 1000/);
  const euro = await cli([...base, '--currency', 'EUR', '--threshold', '80:actual']);
  assert.match(euro.stderr, /--amount\/--currency \(unit\): must be USD/);
  const dim = await cli([...base, '--threshold', '80:actual', '--scope', 'team=x']);
  assert.match(dim.stderr, /--scope \(team\): unknown dimension "team"/);
  const ok = await cli([
    ...base,
    '--threshold',
    '80:forecasted',
    '--threshold',
    '100:actual',
    '--scope',
    'service=Amazon Simple Storage Service',
  ]);
  assert.equal(ok.code, 0, ok.stderr);
  const id = ok.stdout.trim();
  assert.ok(
    await queues.budgets.getDeduplicationJobId(evaluateBudgetsDedupeId({ orgId })),
    'evaluation queued',
  );
  const list = await cli(['budget', 'list', '--org', String(orgId)]);
  assert.match(
    list.stdout,
    new RegExp(`^${id}\\s+cli budget\\s+monthly\\s+500\\.00\\s+0\\.00\\s+-\\s+100%A:ok 80%F:ok$`, 'm'),
  );
  const dup = await cli([...base, '--threshold', '80:actual']);
  assert.match(dup.stderr, /--name: a budget named "cli budget" exists/);
  assert.equal((await cli(['budget', 'delete', '--org', String(orgId), '--id', id])).code, 0);
  assert.equal((await cli(['budget', 'list', '--org', String(orgId), '--json'])).stdout.trim(), '[]');
});
