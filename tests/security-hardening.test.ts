/**
 * Hostile tests of issue 12 (items 1, 2, 4, 5, 6, 9 read-only, 10, 11) against real `costwatch api`
 * and `costwatch worker` processes on the real Postgres and Redis:
 *
 * - TRUST_PROXY: behind a trusted proxy one client's failed logins lock out that client only (IPv6
 *   per /64); forged X-Forwarded-For from an untrusted peer changes nothing; the Bull Board cookie
 *   is Secure behind TLS termination.
 * - JWT keys: a repository or typed key stops the api with the fix named; JWT_SECRET_KEYS rotates
 *   (sign with the first, verify with all, `kid`).
 * - Response cache: 5,000 distinct cacheable requests leave at most 2 x CACHE_MAX_ENTRIES_PER_ORG
 *   entries in the queue Redis, and a rollup job still runs afterwards; per-user API rate limit.
 * - POST /ingestion/refresh cooldown per organization (429 + Retry-After), other orgs unaffected.
 * - /metrics only on API_METRICS_PORT; /ready without dependency error text.
 * - Bull Board read-only mode refuses queue actions; logout ends the session server-side.
 * - `costwatch user set-password` (stdin) ends every outstanding token at once.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { decodeProtectedHeader } from 'jose';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import {
  baseEnv,
  BIN,
  closedPort,
  ROOT,
  runCli,
  startRole,
  waitUntil,
  type RunningRole,
} from './ops-support.js';
import { createUser, type UserRole } from '../database/repositories/users.repository.js';
import { hashPassword } from '../api/auth/passwords.js';
import { createRedis, type Redis } from '../lib/redis.js';
import { createLogger } from '../lib/logger.js';
import { createQueues, type Queues } from '../producers/queues.js';
import { enqueueRollup } from '../producers/enqueue.js';
import { keyId, REPOSITORY_KEYS, weakKeyReason } from '../lib/secrets.js';
import { AwsRateLimiter } from '../lib/aws-rate-limit.js';

const PASSWORD = 'hostile correct horse battery';
const NEW_PASSWORD = 'a brand new passphrase 42';
const REDIS_URL = process.env.REDIS_URL ?? '';
const KEY_OLD = randomBytes(32).toString('base64');
const KEY_NEW = randomBytes(32).toString('base64');
const DAILY = '/api/v1/costs/daily?from=2026-01-01&to=2026-01-31';

let db: TestDatabase;
let redis: Redis;
let orgA: number;
let orgB: number;
const roles: RunningRole[] = [];
const prefixes: string[] = [];

function newPrefix(): string {
  const prefix = `cwsec${randomBytes(4).toString('hex')}`;
  prefixes.push(prefix);
  return prefix;
}

function env(extra: Record<string, string | undefined> = {}): Record<string, string> {
  return baseEnv({
    DATABASE_URL: db.url,
    REDIS_URL,
    JWT_SECRET_KEY: KEY_OLD,
    QUEUE_PREFIX: newPrefix(),
    PORT: '0',
    HOST: '127.0.0.1',
    METRICS_PORT: '0',
    LOG_LEVEL: 'info',
    ...extra,
  });
}

interface Api {
  base: string;
  metricsPort: number | null;
  role: RunningRole;
  prefix: string;
}

async function startApi(extra: Record<string, string | undefined> = {}): Promise<Api> {
  const e = env(extra);
  const role = startRole(['api'], e);
  roles.push(role);
  const line = await role.waitForLog((l) => l.msg === 'api listening', 60_000);
  const metricsPort = typeof line.metricsPort === 'number' ? line.metricsPort : null;
  return { base: `http://127.0.0.1:${Number(line.port)}`, metricsPort, role, prefix: e.QUEUE_PREFIX ?? '' };
}

async function addUser(orgId: number, email: string, role: UserRole): Promise<void> {
  await createUser(db.pool, {
    organizationId: orgId,
    email,
    passwordHash: await hashPassword(PASSWORD, 4),
    role,
  });
}

async function loginAs(
  base: string,
  email: string,
  password = PASSWORD,
  headers: Record<string, string> = {},
): Promise<{ status: number; token: string | null; retryAfter: string | null }> {
  const res = await fetch(`${base}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ email, password }),
  });
  const body = (await res.json()) as { access_token?: string };
  return { status: res.status, token: body.access_token ?? null, retryAfter: res.headers.get('retry-after') };
}

async function token(base: string, email: string, password = PASSWORD): Promise<string> {
  const r = await loginAs(base, email, password);
  assert.equal(r.status, 200, `login ${email}`);
  assert.ok(r.token);
  return r.token;
}

async function getStatus(
  base: string,
  path: string,
  bearer?: string,
  headers: Record<string, string> = {},
): Promise<number> {
  const res = await fetch(`${base}${path}`, {
    headers: { ...(bearer ? { authorization: `Bearer ${bearer}` } : {}), ...headers },
    redirect: 'manual',
  });
  await res.arrayBuffer();
  return res.status;
}

async function adminFormLogin(
  base: string,
  email: string,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(`${base}/admin/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams({ email, password: PASSWORD }),
    redirect: 'manual',
  });
}

/** `costwatch <args>` with `input` on stdin (runCli has no stdin). */
function runWithStdin(
  args: string[],
  e: Record<string, string>,
  input: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      env: e,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

before(async () => {
  db = await createTestDatabase();
  redis = createRedis(REDIS_URL, 'producer');
  const { rows } = await db.pool.query<{ id: number }>(
    `INSERT INTO organizations (name, aws_account_id) VALUES ('sec-a', '123456789012'), ('sec-b', '210987654321') RETURNING id`,
  );
  orgA = rows[0]?.id ?? 0;
  orgB = rows[1]?.id ?? 0;
  await addUser(orgA, 'victim@a.test', 'viewer');
  await addUser(orgA, 'viewer@a.test', 'viewer');
  await addUser(orgA, 'admin@a.test', 'admin');
  await addUser(orgB, 'admin@b.test', 'admin');
  await addUser(orgA, 'operator@a.test', 'operator');
  await addUser(orgA, 'rotate@a.test', 'viewer');
  await addUser(orgA, 'limited@a.test', 'viewer');
  await addUser(orgA, 'other@a.test', 'viewer');
});

after(async () => {
  for (const r of roles) r.kill();
  for (const prefix of prefixes) {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  }
  await redis.quit();
  await db.drop();
});

describe('item 1: TRUST_PROXY and the login limiter', { timeout: 180_000 }, () => {
  test('trusted proxy: 11 failures from one client lock out that client only; IPv6 counted per /64', async () => {
    const api = await startApi({ TRUST_PROXY: '127.0.0.1', LOGIN_ATTEMPTS_PER_15MIN: '10' });
    const from = (ip: string) => ({ 'x-forwarded-for': `${ip}, 127.0.0.1` });
    // Spray: 11 wrong passwords from one client, each for another email (the email limit never trips).
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++)
      statuses.push(
        (await loginAs(api.base, `nobody${i}@a.test`, 'wrong password', from('203.0.113.7'))).status,
      );
    assert.deepEqual(statuses, [401, 401, 401, 401, 401, 401, 401, 401, 401, 401, 429]);
    const locked = await loginAs(api.base, 'victim@a.test', PASSWORD, from('203.0.113.7'));
    assert.equal(locked.status, 429, 'the attacking client stays locked out');
    assert.ok(Number(locked.retryAfter) > 0);
    // The victim, from another address behind the same proxy, logs in.
    assert.equal((await loginAs(api.base, 'victim@a.test', PASSWORD, from('198.51.100.20'))).status, 200);

    // IPv6: addresses of one /64 share a count; another /64 is another client.
    for (let i = 1; i <= 10; i++)
      assert.equal(
        (await loginAs(api.base, `v6-${i}@a.test`, 'wrong password', from(`2001:db8:1:2::${i.toString(16)}`)))
          .status,
        401,
      );
    assert.equal(
      (await loginAs(api.base, 'v6-x@a.test', 'wrong password', from('2001:db8:1:2:ffff::1'))).status,
      429,
    );
    assert.equal((await loginAs(api.base, 'victim@a.test', PASSWORD, from('2001:db8:1:3::1'))).status, 200);
  });

  test('untrusted peer: forged X-Forwarded-For changes nothing (the peer address is counted)', async () => {
    // The proxy trusted is 10.0.0.0/8; the test connects from 127.0.0.1, an untrusted peer.
    const api = await startApi({ TRUST_PROXY: '10.0.0.0/8', LOGIN_ATTEMPTS_PER_15MIN: '10' });
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++)
      statuses.push(
        (
          await loginAs(api.base, `forger${i}@a.test`, 'wrong password', {
            'x-forwarded-for': `198.18.0.${i + 1}`,
          })
        ).status,
      );
    assert.deepEqual(statuses.slice(0, 10), Array(10).fill(401));
    assert.deepEqual(
      statuses.slice(10),
      [429, 429],
      'rotating a forged X-Forwarded-For does not escape the limit',
    );
  });

  test('Bull Board cookie is Secure behind TLS termination (X-Forwarded-Proto from the trusted proxy only)', async () => {
    const trusted = await startApi({ TRUST_PROXY: 'loopback' });
    const https = await adminFormLogin(trusted.base, 'operator@a.test', { 'x-forwarded-proto': 'https' });
    assert.equal(https.status, 303);
    assert.match(https.headers.get('set-cookie') ?? '', /;\s*Secure/i);
    assert.match(https.headers.get('strict-transport-security') ?? '', /^max-age=31536000/);
    const untrusted = await startApi({});
    const forged = await adminFormLogin(untrusted.base, 'operator@a.test', { 'x-forwarded-proto': 'https' });
    assert.equal(forged.status, 303);
    assert.doesNotMatch(
      forged.headers.get('set-cookie') ?? '',
      /Secure/i,
      'an untrusted peer cannot claim https',
    );
    assert.equal(forged.headers.get('strict-transport-security'), null);
    // Forwarded headers without TRUST_PROXY are recorded for `costwatch doctor`.
    await (
      await fetch(`${untrusted.base}/health`, { headers: { 'x-forwarded-for': '198.51.100.1' } })
    ).arrayBuffer();
    const marker = `${untrusted.prefix}:security:forwarded-without-trust-proxy`;
    await waitUntil('forwarded-header marker', async () => (await redis.exists(marker)) === 1, 5_000);
    assert.equal(await redis.exists(`${trusted.prefix}:security:forwarded-without-trust-proxy`), 0);
  });

  test('TRUST_PROXY=true is refused at start, naming the variable', async () => {
    const run = await runCli(['api'], env({ TRUST_PROXY: 'true' }), 60_000);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /config error: TRUST_PROXY: .*never "true"/);
  });
});

describe('item 2: JWT keys', { timeout: 180_000 }, () => {
  test('every key that ships in the repository, and typed keys, stop the api with the fix named', async () => {
    for (const key of [
      ...REPOSITORY_KEYS.filter((k) => k.length >= 32),
      'my-company-jwt-key-my-company-jwt',
    ]) {
      const run = await runCli(['api'], env({ JWT_SECRET_KEY: key }), 60_000);
      assert.equal(run.code, 1, key);
      assert.match(
        run.stderr,
        /config error: JWT_SECRET_KEY: refused: .*openssl rand -base64 48.*ALLOW_INSECURE_DEV_SECRETS=true/,
      );
      assert.ok(!run.stderr.includes(key), 'the key is never echoed');
    }
    // The explicit dev flag lets a throw-away setup start.
    const dev = await startApi({ JWT_SECRET_KEY: REPOSITORY_KEYS[0], ALLOW_INSECURE_DEV_SECRETS: 'true' });
    assert.equal(await getStatus(dev.base, '/health'), 200);
  });

  test('rotation: JWT_SECRET_KEYS signs with the first key (kid) and still accepts tokens of the old one', async () => {
    const oldApi = await startApi({ JWT_SECRET_KEY: KEY_OLD });
    const rotated = await startApi({ JWT_SECRET_KEY: undefined, JWT_SECRET_KEYS: `${KEY_NEW},${KEY_OLD}` });
    const newOnly = await startApi({ JWT_SECRET_KEY: KEY_NEW });
    const oldToken = await token(oldApi.base, 'rotate@a.test');
    const newToken = await token(rotated.base, 'rotate@a.test');
    assert.equal(decodeProtectedHeader(oldToken).kid, keyId(KEY_OLD));
    assert.equal(decodeProtectedHeader(newToken).kid, keyId(KEY_NEW));
    assert.equal(await getStatus(rotated.base, DAILY, oldToken), 200, 'old tokens work during the rotation');
    assert.equal(await getStatus(rotated.base, DAILY, newToken), 200);
    assert.equal(
      await getStatus(oldApi.base, DAILY, newToken),
      401,
      'a replica without the new key refuses it',
    );
    assert.equal(
      await getStatus(newOnly.base, DAILY, oldToken),
      401,
      'once the old key is dropped its tokens die',
    );
  });
});

describe('items 4-5: shared Redis, rate limits, refresh cooldown', { timeout: 400_000 }, () => {
  test('5,000 distinct cacheable requests: at most 2 x CACHE_MAX_ENTRIES_PER_ORG entries in the queue Redis; jobs keep flowing', async () => {
    const MAX = 300;
    const api = await startApi({ CACHE_MAX_ENTRIES_PER_ORG: String(MAX), API_RATE_PER_MINUTE: '100000' });
    const viewer = await token(api.base, 'viewer@a.test');
    const before = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1] ?? 0);
    let sent = 0;
    let ok = 0;
    const paths: string[] = [];
    for (let d = 0; paths.length < 5000; d++) {
      const from = new Date(Date.UTC(2025, 0, 1) + (d % 365) * 86_400_000).toISOString().slice(0, 10);
      const limit = 1 + Math.floor(d / 365);
      paths.push(`/api/v1/costs/daily?from=${from}&to=2026-01-31&limit=${limit}`);
    }
    for (let i = 0; i < paths.length; i += 25) {
      const statuses = await Promise.all(paths.slice(i, i + 25).map((p) => getStatus(api.base, p, viewer)));
      sent += statuses.length;
      ok += statuses.filter((s) => s === 200).length;
    }
    assert.equal(sent, 5000);
    assert.equal(ok, 5000, 'every request answered');
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, found] = await redis.scan(cursor, 'MATCH', `${api.prefix}:cache:r:*`, 'COUNT', 1000);
      cursor = next;
      keys.push(...found);
    } while (cursor !== '0');
    let bytes = 0;
    for (const key of keys) bytes += Number((await redis.call('MEMORY', 'USAGE', key)) ?? 0);
    const after = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1] ?? 0);
    const BOUND_BYTES = 2 * MAX * 8192;
    console.log(
      `cache after 5000 distinct requests: ${keys.length} entries, ${(bytes / 1024).toFixed(0)} KiB (bound ${2 * MAX} entries, ${BOUND_BYTES / 1024} KiB); queue Redis used_memory ${((after - before) / 1024).toFixed(0)} KiB growth (shared Redis: other tests move it too)`,
    );
    assert.ok(keys.length > 0, 'answers are cached at all');
    assert.ok(keys.length <= 2 * MAX, `${keys.length} cache entries > 2 x ${MAX}`);
    assert.ok(bytes <= BOUND_BYTES, `cache entries hold ${bytes} bytes`);

    // Deep pages are never cached.
    const deep = await fetch(`${api.base}/api/v1/costs/daily?from=2026-01-01&to=2026-01-31&offset=5000`, {
      headers: { authorization: `Bearer ${viewer}` },
    });
    assert.equal(deep.status, 200);
    assert.equal(deep.headers.get('x-cache'), 'miss');
    const again = await fetch(`${api.base}/api/v1/costs/daily?from=2026-01-01&to=2026-01-31&offset=5000`, {
      headers: { authorization: `Bearer ${viewer}` },
    });
    assert.equal(again.headers.get('x-cache'), 'miss', 'an offset above CACHE_MAX_OFFSET is not cached');

    // Jobs keep flowing: a real worker runs a rollup enqueued after the flood.
    const queues: Queues = createQueues(redis, { prefix: api.prefix, attempts: 2, backoffMs: 50 });
    try {
      const worker = startRole(['worker', '--queues', 'rollups'], env({ QUEUE_PREFIX: api.prefix }));
      roles.push(worker);
      await worker.waitForLog((l) => l.msg === 'worker started', 60_000);
      await enqueueRollup(queues, { orgId: orgA, source: 'costs', from: '2026-01-01', to: '2026-01-31' });
      await waitUntil(
        'rollup job completed',
        async () => ((await queues.rollups.getJobCounts('completed')).completed ?? 0) >= 1,
        60_000,
      );
    } finally {
      await queues.close();
    }
  });

  test('per-user API rate limit: 429 with Retry-After for the flooding user only', async () => {
    const api = await startApi({ API_RATE_PER_MINUTE: '20' });
    const flooder = await token(api.base, 'limited@a.test');
    const other = await token(api.base, 'other@a.test');
    const statuses: number[] = [];
    for (let i = 0; i < 25; i++) statuses.push(await getStatus(api.base, '/api/v1/costs/summary', flooder));
    assert.deepEqual(statuses.slice(0, 20), Array(20).fill(200));
    assert.deepEqual(statuses.slice(20), Array(5).fill(429));
    const res = await fetch(`${api.base}/api/v1/costs/summary`, {
      headers: { authorization: `Bearer ${flooder}` },
    });
    assert.equal(res.status, 429);
    assert.ok(Number(res.headers.get('retry-after')) > 0);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'rate_limited');
    assert.equal(
      await getStatus(api.base, '/api/v1/costs/summary', other),
      200,
      'another user is not affected',
    );
  });

  test('POST /ingestion/refresh in a loop: 429 with Retry-After per organization, other orgs unaffected', async () => {
    const api = await startApi({ REFRESH_COOLDOWN_SECONDS: '600' });
    const adminA = await token(api.base, 'admin@a.test');
    const adminB = await token(api.base, 'admin@b.test');
    const refresh = (t: string) =>
      fetch(`${api.base}/api/v1/ingestion/refresh`, {
        method: 'POST',
        headers: { authorization: `Bearer ${t}` },
      });
    assert.equal((await refresh(adminA)).status, 202);
    const statuses: number[] = [];
    let retryAfter = 0;
    for (let i = 0; i < 20; i++) {
      const res = await refresh(adminA);
      statuses.push(res.status);
      retryAfter = Number(res.headers.get('retry-after'));
      await res.arrayBuffer();
    }
    assert.deepEqual(statuses, Array(20).fill(429));
    assert.ok(retryAfter > 590 && retryAfter <= 600, `Retry-After ${retryAfter}`);
    assert.equal((await refresh(adminB)).status, 202, 'another organization refreshes');
    const queues = createQueues(redis, { prefix: api.prefix, attempts: 2, backoffMs: 50 });
    try {
      const waiting = await queues.fetchCosts.getJobs(['waiting', 'delayed', 'prioritized']);
      const forA = waiting.filter((j) => (j.data as { orgId?: number }).orgId === orgA);
      const forB = waiting.filter((j) => (j.data as { orgId?: number }).orgId === orgB);
      assert.ok(
        forA.length > 0 && forA.length === forB.length,
        `one refresh's windows per org (${forA.length} vs ${forB.length})`,
      );
    } finally {
      await queues.close();
    }
  });
});

describe('item 5: fair share of the global AWS rate', { timeout: 60_000 }, () => {
  test('one org flooding the AWS budget leaves the rest of it to the others (AWS_RATE_ORG_SHARE)', async () => {
    // Global 20 requests/s, share 0.25: one org gets at most 5 a second, whatever its per-service limits.
    const prefix = newPrefix();
    const limiter = new AwsRateLimiter(
      redis,
      prefix,
      { ce: 1000, cloudwatch: 1000, global: 20, orgShare: 0.25 },
      20_000,
    );
    let greedyDone = 0;
    const greedy = Array.from({ length: 40 }, () => limiter.acquire('ce', 1).then(() => greedyDone++));
    await new Promise((r) => setTimeout(r, 200));
    const started = Date.now();
    await Promise.all(Array.from({ length: 5 }, () => limiter.acquire('cloudwatch', 2)));
    const otherMs = Date.now() - started;
    const greedyWhenOtherDone = greedyDone;
    await Promise.all(greedy);
    console.log(
      `fair share: the flooding org had ${greedyWhenOtherDone}/40 slots when the other org got its 5 (in ${otherMs} ms)`,
    );
    assert.ok(
      greedyWhenOtherDone <= 15,
      `the flooding org took ${greedyWhenOtherDone} slots in the first seconds`,
    );
    assert.ok(otherMs < 2_500, `the other org waited ${otherMs} ms for 5 requests`);
    // Without a share, the flood would take the whole global budget first (control case).
    const unfair = new AwsRateLimiter(redis, newPrefix(), { ce: 1000, cloudwatch: 1000, global: 20 }, 20_000);
    let floodDone = 0;
    const flood = Array.from({ length: 40 }, () => unfair.acquire('ce', 1).then(() => floodDone++));
    await new Promise((r) => setTimeout(r, 200));
    await Promise.all(Array.from({ length: 5 }, () => unfair.acquire('cloudwatch', 2)));
    const floodWhenOtherDone = floodDone;
    await Promise.all(flood);
    assert.ok(
      floodWhenOtherDone >= 18,
      `control: without a share the flood got ${floodWhenOtherDone} slots first`,
    );
  });
});

describe('items 6, 9, 11: internal endpoints, Bull Board, token lifecycle', { timeout: 240_000 }, () => {
  test('/metrics only on API_METRICS_PORT; /ready answers status without error text', async () => {
    const api = await startApi({ API_METRICS_PORT: '0' });
    assert.ok(api.metricsPort, 'metrics port logged');
    assert.equal(await getStatus(api.base, '/metrics'), 404);
    const metrics = await fetch(`http://127.0.0.1:${api.metricsPort}/metrics`);
    assert.equal(metrics.status, 200);
    assert.match(await metrics.text(), /http_requests_total/);

    const port = await closedPort();
    const broken = await startApi({ REDIS_URL: `redis://127.0.0.1:${port}` });
    const ready = await fetch(`${broken.base}/ready`);
    const text = await ready.text();
    assert.equal(ready.status, 503);
    assert.deepEqual(JSON.parse(text), {
      status: 'unavailable',
      checks: { postgres: 'ok', redis: 'unavailable' },
    });
    assert.doesNotMatch(text, /ECONNREFUSED|127\.0\.0\.1|Connection|closed/i);
  });

  test('BULL_BOARD_READ_ONLY refuses queue actions; logout ends the session server-side', async () => {
    const api = await startApi({ BULL_BOARD_READ_ONLY: 'true' });
    const login = await adminFormLogin(api.base, 'operator@a.test');
    assert.equal(login.status, 303);
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    const headers = { cookie, accept: 'application/json' };
    const list = await fetch(`${api.base}/admin/queues/api/queues`, { headers });
    assert.equal(list.status, 200);
    const queues = ((await list.json()) as { queues: { name: string; readOnlyMode: boolean }[] }).queues;
    assert.ok(queues.length >= 4 && queues.every((q) => q.readOnlyMode), 'every queue read-only');
    for (const action of ['pause', 'clean/failed', 'retry/failed']) {
      const res = await fetch(`${api.base}/admin/queues/api/queues/rollups/${action}`, {
        method: 'PUT',
        headers,
      });
      assert.equal(res.status, 405, `${action} refused`);
    }
    const writable = await startApi({});
    const wLogin = await adminFormLogin(writable.base, 'operator@a.test');
    const wCookie = (wLogin.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    const pause = await fetch(`${writable.base}/admin/queues/api/queues/rollups/pause`, {
      method: 'PUT',
      headers: { cookie: wCookie, accept: 'application/json' },
    });
    assert.equal(pause.status, 200, 'without the flag an operator may pause (the control case)');

    // Logout: the copied cookie no longer opens the board.
    const logout = await fetch(`${api.base}/admin/logout`, {
      method: 'POST',
      headers: { cookie },
      redirect: 'manual',
    });
    assert.equal(logout.status, 303);
    assert.equal(await getStatus(api.base, '/admin/queues/api/queues', undefined, headers), 401);
    assert.equal(await getStatus(api.base, '/admin/queues', undefined, { cookie, accept: 'text/html' }), 302);
  });

  test('costwatch user set-password (stdin) ends every outstanding token and session at once', async () => {
    const api = await startApi({});
    const email = 'changer@a.test';
    await addUser(orgA, email, 'operator');
    const tokens = await Promise.all([token(api.base, email), token(api.base, email)]);
    const form = await adminFormLogin(api.base, email);
    const session = (form.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    for (const t of tokens) assert.equal(await getStatus(api.base, DAILY, t), 200);
    assert.equal(await getStatus(api.base, '/admin/queues', undefined, { cookie: session }), 200);

    const cliEnv = baseEnv({ DATABASE_URL: db.url, LOG_LEVEL: 'silent' });
    const weak = await runWithStdin(
      ['user', 'set-password', '--email', email, '--bcrypt-cost', '4'],
      cliEnv,
      'password\n',
    );
    assert.notEqual(weak.code, 0);
    assert.match(weak.stderr, /at least 12|common password/);
    assert.equal(await getStatus(api.base, DAILY, tokens[0] ?? ''), 200, 'a refused change revokes nothing');

    const run = await runWithStdin(
      ['user', 'set-password', '--email', email, '--bcrypt-cost', '4'],
      cliEnv,
      `${NEW_PASSWORD}\n`,
    );
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /password of user \d+ \(changer@a\.test\) changed/);
    for (const t of tokens) assert.equal(await getStatus(api.base, DAILY, t), 401, 'old token dead');
    assert.equal(
      await getStatus(api.base, '/admin/queues', undefined, { cookie: session, accept: 'application/json' }),
      401,
      'old session dead',
    );
    assert.equal((await loginAs(api.base, email, PASSWORD)).status, 401, 'old password refused');
    const fresh = await token(api.base, email, NEW_PASSWORD);
    assert.equal(await getStatus(api.base, DAILY, fresh), 200);
    const unknown = await runWithStdin(
      ['user', 'set-password', '--email', 'ghost@a.test', '--bcrypt-cost', '4'],
      cliEnv,
      `${NEW_PASSWORD}\n`,
    );
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /no user with email ghost@a\.test/);
  });
});

describe('item 10: log redaction', () => {
  test('ExternalId and external_id never reach a log line', () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const log = createLogger({ level: 'info', name: 'redaction-test', destination });
    const secret = `ext-${randomBytes(8).toString('hex')}`;
    log.info({ input: { RoleArn: 'arn:aws:iam::1:role/x', ExternalId: secret } }, 'assume role');
    log.info(
      {
        ExternalId: secret,
        external_id: secret,
        org: { external_id: secret },
        params: { input: { ExternalId: secret } },
      },
      'org',
    );
    assert.equal(lines.length, 2);
    for (const line of lines) assert.ok(!line.includes(secret), line);
    assert.match(lines[0] ?? '', /"ExternalId":"\[redacted\]"/);
  });
});

describe('item 2: no usable JWT key ships in the repository', () => {
  test('every JWT key value committed (compose, k8s, docs, tests, bench, scripts) is one the api refuses', () => {
    const files = spawnSync('git', ['ls-files'], { cwd: ROOT, encoding: 'utf8' })
      .stdout.split('\n')
      .filter(
        (f) => f !== '' && !f.startsWith('sim/') && f !== 'package-lock.json' && !/\.(png|ico|jpg)$/.test(f),
      );
    const found = new Set<string>();
    for (const file of files) {
      const text = readFileSync(path.join(ROOT, file), 'utf8');
      for (const line of text.split('\n')) {
        if (!/JWT_SECRET_KEYS?|jwt.?secret/i.test(line)) continue;
        // KEY=value, KEY: value, and quoted literals (fallbacks such as `?? 'test-secret-...'`).
        for (const m of line.matchAll(/JWT_SECRET_KEYS?\s*[=:]\s*['"]?([^'"\s,}]{32,})/g))
          if (m[1]) found.add(m[1]);
        for (const m of line.matchAll(/['"`]([^'"`\s${}]{32,})['"`]/g)) if (m[1]) found.add(m[1]);
      }
    }
    const values = [...found].filter((v) => !/^(process\.env|config\.|stack\.|info\.)/.test(v));
    console.log(`JWT key values found in the repository: ${values.length}`);
    assert.ok(values.length >= 4, `the scan finds the known fallbacks (${values.join(', ')})`);
    for (const value of values)
      assert.ok(weakKeyReason(value) !== null, `a committed value the api would accept as a key: ${value}`);
  });
});

describe('doctor: security warnings', { timeout: 120_000 }, () => {
  const doctor = async (extra: Record<string, string | undefined>) => {
    const run = await runCli(
      [
        'doctor',
        '--json',
        '--skip-aws',
        '--api-replicas',
        '1',
        '--worker-replicas',
        '1',
        '--scheduler-replicas',
        '1',
        '--timeout',
        '3000',
      ],
      env({ LOG_LEVEL: 'silent', ...extra }),
      90_000,
    );
    const report = JSON.parse(run.stdout) as {
      checks: { name: string; status: string; detail: string; fix: string | null }[];
    };
    const check = (name: string) => {
      const found = report.checks.find((c) => c.name === name);
      assert.ok(found, `no check ${name}: ${report.checks.map((c) => c.name).join(', ')}`);
      return found;
    };
    return check;
  };

  test('warns on a missing TRUST_PROXY in Kubernetes, a repository JWT key, a cache in the queue Redis', async () => {
    const check = await doctor({
      KUBERNETES_SERVICE_HOST: '10.96.0.1',
      JWT_SECRET_KEY: REPOSITORY_KEYS[0],
      ALLOW_INSECURE_DEV_SECRETS: 'true',
    });
    assert.equal(check('trust proxy').status, 'warn');
    assert.match(check('trust proxy').detail, /Kubernetes \(KUBERNETES_SERVICE_HOST is set\)/);
    assert.match(check('trust proxy').fix ?? '', /TRUST_PROXY=1/);
    assert.equal(check('jwt key').status, 'warn');
    assert.match(
      check('jwt key').detail,
      /committed to the CostWatch repository.*ALLOW_INSECURE_DEV_SECRETS/,
    );
    assert.match(check('jwt key').fix ?? '', /openssl rand -base64 48/);
    assert.equal(check('response cache').status, 'warn');
    assert.match(check('response cache').fix ?? '', /CACHE_REDIS_URL=.*allkeys-lru/);
  });

  test('warns when the api saw X-Forwarded-For without TRUST_PROXY; passes when everything is set', async () => {
    const prefix = newPrefix();
    await redis.set(
      `${prefix}:security:forwarded-without-trust-proxy`,
      '2026-12-01T12:00:00.000Z',
      'EX',
      600,
    );
    const seen = await doctor({ QUEUE_PREFIX: prefix });
    assert.equal(seen('trust proxy').status, 'warn');
    assert.match(seen('trust proxy').detail, /X-Forwarded-For \(last at 2026-12-01T12:00:00.000Z\)/);
    const good = await doctor({
      QUEUE_PREFIX: prefix,
      KUBERNETES_SERVICE_HOST: '10.96.0.1',
      TRUST_PROXY: '1',
      CACHE_REDIS_URL: `${REDIS_URL.replace(/\/\d*$/, '')}/1`,
    });
    for (const name of ['trust proxy', 'jwt key', 'response cache'])
      assert.equal(good(name).status, 'pass', name);
  });
});
