/** `costwatch anomaly subscribe | subscriptions | unsubscribe | settings` through the real CLI. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { listAnomalySubscriptions } from '../database/repositories/anomalies.repository.js';
import { createChannel } from '../database/repositories/notification-channels.repository.js';

const BIN = fileURLToPath(new URL('../bin/costwatch.mjs', import.meta.url));
let db: TestDatabase;
let orgId: number;
/** Two real notification channels of the organization, and one of another organization. */
let channelA: number;
let channelB: number;
let foreignChannel: number;

async function webhookChannel(org: number, name: string): Promise<number> {
  const c = await createChannel(db.pool, org, {
    type: 'webhook',
    name,
    url: 'http://127.0.0.1:9/hook',
    signingSecret: 'anomaly-cli-test-secret',
    format: 'json',
  });
  return c.id;
}

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, DATABASE_URL: db.url, LOG_LEVEL: 'silent' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

before(async () => {
  db = await createTestDatabase();
  const { rows } = await db.pool.query<{ id: number }>(
    `INSERT INTO organizations (name, aws_account_id) VALUES ('anomaly-cli-org', '123456789012') RETURNING id`,
  );
  orgId = rows[0]?.id ?? 0;
  const other = await db.pool.query<{ id: number }>(
    `INSERT INTO organizations (name, aws_account_id) VALUES ('anomaly-cli-other', '210987654321') RETURNING id`,
  );
  channelA = await webhookChannel(orgId, 'finops-a');
  channelB = await webhookChannel(orgId, 'finops-b');
  foreignChannel = await webhookChannel(other.rows[0]?.id ?? 0, 'other-org');
});
after(async () => db.drop());

test('subscribe, list, unsubscribe', async () => {
  const made = await cli([
    'anomaly',
    'subscribe',
    '--org',
    String(orgId),
    '--name',
    'finops',
    '--channels',
    `${channelA},${channelB}`,
    '--min-impact',
    '50',
  ]);
  assert.equal(made.code, 0, made.stderr);
  const id = Number(made.stdout.trim());
  const [sub] = await listAnomalySubscriptions(db.pool, orgId);
  assert.deepEqual(
    [sub?.id, sub?.name, sub?.min_impact, sub?.channel_ids, sub?.enabled],
    [id, 'finops', '50', [channelA, channelB], true],
  );
  const list = await cli(['anomaly', 'subscriptions', '--org', String(orgId), '--json']);
  assert.equal(list.code, 0, list.stderr);
  assert.equal((JSON.parse(list.stdout) as { id: number }[])[0]?.id, id);
  const off = await cli(['anomaly', 'unsubscribe', '--org', String(orgId), '--id', String(id)]);
  assert.equal(off.code, 0, off.stderr);
  assert.equal((await listAnomalySubscriptions(db.pool, orgId))[0]?.enabled, false);
});

test('bad flags name the flag and change nothing', async () => {
  for (const [args, flag] of [
    [['--channels', 'x'], '--channels'],
    [['--channels', String(channelA), '--min-impact', '-3'], '--min-impact'],
    [['--channels', String(foreignChannel)], '--channels'],
    [['--channels', `${channelA},999999`], '--channels'],
  ] as [string[], string][]) {
    const run = await cli(['anomaly', 'subscribe', '--org', String(orgId), '--name', 'bad', ...args]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, new RegExp(`^costwatch: ${flag}:`));
  }
  const missing = await cli(['anomaly', 'subscribe', '--org', '999999', '--name', 'x', '--channels', '1']);
  assert.match(missing.stderr, /--org: no organization 999999/);
  assert.equal((await listAnomalySubscriptions(db.pool, orgId)).filter((s) => s.name === 'bad').length, 0);
});

test('settings: shown, changed, validated', async () => {
  const shown = await cli(['anomaly', 'settings', '--org', String(orgId)]);
  assert.equal(shown.code, 0, shown.stderr);
  assert.equal((JSON.parse(shown.stdout) as { min_impact_absolute: string }).min_impact_absolute, '10');
  const changed = await cli([
    'anomaly',
    'settings',
    '--org',
    String(orgId),
    '--min-absolute',
    '25',
    '--drops',
    'true',
  ]);
  assert.equal(changed.code, 0, changed.stderr);
  assert.deepEqual(JSON.parse(changed.stdout), {
    min_impact_absolute: '25',
    min_impact_relative: '0.2',
    z_threshold: '3.5',
    detect_drops: true,
  });
  const bad = await cli(['anomaly', 'settings', '--org', String(orgId), '--z', '0.5']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /--z: must be at least 1/);
});
