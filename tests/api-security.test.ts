/**
 * Authentication and authorization: bad tokens, disabled users, roles, tenant isolation (404,
 * never 403, for other organizations), Bull Board access, login rate limits and timing.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT } from 'jose';
import { disableUserByEmail } from '../database/repositories/users.repository.js';
import {
  get,
  login,
  seedOrg,
  seedUser,
  startTestApi,
  TEST_PASSWORD,
  type TestApi,
} from './helpers/api.js';
import { ADMIN_AUDIENCE, API_AUDIENCE, TOKEN_ISSUER } from '../api/auth/tokens.js';

let api: TestApi;
let orgA: number;
let orgB: number;
let viewerId: number;
let viewer: string;
let admin: string;
let operator: string;
const DAILY = '/api/v1/costs/daily?from=2026-01-01&to=2026-01-31';

function b64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

async function signWith(
  secret: string,
  claims: Record<string, unknown>,
  options: { exp?: number; aud?: string; iss?: string } = {},
) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer(options.iss ?? TOKEN_ISSUER)
    .setAudience(options.aud ?? API_AUDIENCE)
    .setIssuedAt(now - 100)
    .setExpirationTime(options.exp ?? now + 600)
    .sign(new TextEncoder().encode(secret));
}

async function formLogin(email: string, password: string, next?: string) {
  const body = new URLSearchParams({ email, password, ...(next ? { next } : {}) });
  return fetch(`${api.baseUrl}/admin/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body,
    redirect: 'manual',
  });
}

before(async () => {
  api = await startTestApi();
  orgA = await seedOrg(api.db, 'sec-a');
  orgB = await seedOrg(api.db, 'sec-b');
  viewerId = await seedUser(api.db, orgA, 'viewer@sec.test', 'viewer');
  await seedUser(api.db, orgA, 'admin@sec.test', 'admin');
  await seedUser(api.db, orgB, 'operator@sec.test', 'operator');
  await seedUser(api.db, orgA, 'leaver@sec.test', 'viewer');
  [viewer, admin, operator] = await Promise.all([
    login(api, 'viewer@sec.test'),
    login(api, 'admin@sec.test'),
    login(api, 'operator@sec.test'),
  ]);
});
after(async () => api.close());

describe('tokens', () => {
  test('a valid token works and carries sub, org, role, iss, aud, iat, exp', async () => {
    assert.equal((await get(api, DAILY, viewer)).status, 200);
    const [, payload = ''] = viewer.split('.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
    assert.equal(claims.sub, String(viewerId));
    assert.equal(claims.org, orgA);
    assert.equal(claims.role, 'viewer');
    assert.equal(claims.iss, TOKEN_ISSUER);
    assert.equal(claims.aud, API_AUDIENCE);
    assert.equal(Number(claims.exp) - Number(claims.iat), api.config.TOKEN_TTL_SECONDS);
  });

  test('missing, malformed, expired, tampered, alg none, wrong secret, wrong issuer or audience -> 401', async () => {
    const claims = { sub: String(viewerId), org: orgA, role: 'viewer' };
    const secret = api.config.JWT_SECRET_KEY;
    const [header = '', payload = '', signature = ''] = viewer.split('.');
    const tamperedPayload = b64url({
      ...JSON.parse(Buffer.from(payload, 'base64url').toString()),
      role: 'operator',
      org: orgB,
    });
    const cases: [string, Record<string, string>][] = [
      ['missing', {}],
      ['empty bearer', { authorization: 'Bearer ' }],
      ['basic scheme', { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }],
      ['garbage', { authorization: 'Bearer not-a-token' }],
      [
        'expired',
        {
          authorization: `Bearer ${await signWith(secret, claims, { exp: Math.floor(Date.now() / 1000) - 5 })}`,
        },
      ],
      ['tampered payload', { authorization: `Bearer ${header}.${tamperedPayload}.${signature}` }],
      [
        'alg none',
        {
          authorization: `Bearer ${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ ...claims, iss: TOKEN_ISSUER, aud: API_AUDIENCE, exp: 9999999999, iat: 1 })}.`,
        },
      ],
      [
        'alg none with a signature',
        {
          authorization: `Bearer ${b64url({ alg: 'none' })}.${b64url({ ...claims, exp: 9999999999 })}.${signature}`,
        },
      ],
      ['wrong secret', { authorization: `Bearer ${await signWith('x'.repeat(40), claims)}` }],
      [
        'wrong issuer',
        { authorization: `Bearer ${await signWith(secret, claims, { iss: 'someone-else' })}` },
      ],
      [
        'admin cookie audience',
        { authorization: `Bearer ${await signWith(secret, claims, { aud: ADMIN_AUDIENCE })}` },
      ],
      ['unknown user', { authorization: `Bearer ${await signWith(secret, { ...claims, sub: '999999' })}` }],
      ['bad claim types', { authorization: `Bearer ${await signWith(secret, { ...claims, org: 'one' })}` }],
      ['huge token', { authorization: `Bearer ${'a'.repeat(5000)}.${'b'.repeat(10)}.${'c'.repeat(10)}` }],
    ];
    for (const [name, headers] of cases) {
      const res = await get(api, DAILY, undefined, headers);
      assert.equal(res.status, 401, name);
      assert.equal((res.json as { error: { code: string } }).error.code, 'unauthorized', name);
    }
  });

  test('a disabled user cannot log in and their tokens stop working at once', async () => {
    const token = await login(api, 'leaver@sec.test');
    assert.equal((await get(api, DAILY, token)).status, 200);
    await disableUserByEmail(api.db.pool, 'leaver@sec.test');
    assert.equal((await get(api, DAILY, token)).status, 401);
    const res = await fetch(`${api.baseUrl}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'leaver@sec.test', password: TEST_PASSWORD }),
    });
    assert.equal(res.status, 401);
  });
});

describe('organizations and roles', () => {
  test('another organization id is 404 for viewers and admins, exactly like a missing one', async () => {
    for (const token of [viewer, admin]) {
      const other = await get(api, `${DAILY}&org_id=${orgB}`, token);
      const missing = await get(api, `${DAILY}&org_id=987654`, token);
      assert.equal(other.status, 404);
      assert.equal(missing.status, 404);
      assert.equal(
        (other.json as { error: { message: string } }).error.message,
        (missing.json as { error: { message: string } }).error.message,
      );
    }
    assert.equal(
      (await get(api, `${DAILY}&org_id=${orgA}`, viewer)).status,
      200,
      'naming your own org is fine',
    );
    const refresh = await fetch(`${api.baseUrl}/api/v1/ingestion/refresh?org_id=${orgB}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}` },
    });
    assert.equal(refresh.status, 404);
  });

  test('an operator may name any existing organization', async () => {
    assert.equal((await get(api, `${DAILY}&org_id=${orgA}`, operator)).status, 200);
    assert.equal((await get(api, `/api/v1/ingestion/status?org_id=${orgA}`, operator)).status, 200);
    assert.equal((await get(api, `${DAILY}&org_id=987654`, operator)).status, 404);
  });

  test('viewer on admin actions -> 403', async () => {
    const res = await fetch(`${api.baseUrl}/api/v1/ingestion/refresh`, {
      method: 'POST',
      headers: { authorization: `Bearer ${viewer}` },
    });
    assert.equal(res.status, 403);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'forbidden');
  });
});

describe('Bull Board', () => {
  test('no login: browsers are redirected to the form, API clients get 401', async () => {
    const browser = await get(api, '/admin/queues', undefined, { accept: 'text/html,application/xhtml+xml' });
    assert.equal(browser.status, 302);
    assert.equal(browser.headers.get('location'), '/admin/login?next=%2Fadmin%2Fqueues');
    const client = await get(api, '/admin/queues/api/queues', undefined, { accept: 'application/json' });
    assert.equal(client.status, 401);
    const form = await get(api, '/admin/login');
    assert.equal(form.status, 200);
    assert.match(form.text, /<form method="post"/);
  });

  test('viewer or admin: 403; operator cookie (HttpOnly, SameSite=Strict) or Bearer: 200', async () => {
    assert.equal((await get(api, '/admin/queues', viewer)).status, 403);
    assert.equal((await get(api, '/admin/queues', admin)).status, 403);
    assert.equal((await get(api, '/admin/queues', 'garbage')).status, 401);
    const byBearer = await get(api, '/admin/queues', operator);
    assert.equal(byBearer.status, 200);
    assert.match(byBearer.headers.get('content-type') ?? '', /html/);

    const viewerForm = await formLogin('viewer@sec.test', TEST_PASSWORD);
    assert.equal(viewerForm.status, 403);
    assert.equal(viewerForm.headers.get('set-cookie'), null);
    const wrong = await formLogin('operator@sec.test', 'wrong password!');
    assert.equal(wrong.status, 401);

    const ok = await formLogin('operator@sec.test', TEST_PASSWORD, '/admin/queues/queue/rollups');
    assert.equal(ok.status, 303);
    assert.equal(ok.headers.get('location'), '/admin/queues/queue/rollups');
    const cookie = ok.headers.get('set-cookie') ?? '';
    assert.match(cookie, /^cw_admin=[^;]+;/);
    assert.match(cookie, /HttpOnly/i);
    assert.match(cookie, /SameSite=Strict/i);
    assert.match(cookie, /Path=\/admin/);
    const session = cookie.split(';')[0] ?? '';
    const page = await get(api, '/admin/queues', undefined, { cookie: session, accept: 'text/html' });
    assert.equal(page.status, 200);
    assert.match(page.text, /<html/i);
    const queues = await get(api, '/admin/queues/api/queues', undefined, {
      cookie: session,
      accept: 'application/json',
    });
    assert.equal(queues.status, 200);
    const names = ((queues.json as { queues: { name: string }[] }).queues ?? []).map((q) => q.name).sort();
    assert.deepEqual(names, [
      'anomalies',
      'budgets',
      'fetch-costs',
      'fetch-forecast',
      'fetch-metrics',
      'notifications',
      'rollups',
      'scheduler',
    ]);

    const offsite = await formLogin('operator@sec.test', TEST_PASSWORD, 'https://evil.example/');
    assert.equal(offsite.headers.get('location'), '/admin/queues', 'no open redirect');
    const crossSite = await fetch(`${api.baseUrl}/admin/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example' },
      body: new URLSearchParams({ email: 'operator@sec.test', password: TEST_PASSWORD }),
      redirect: 'manual',
    });
    assert.equal(crossSite.status, 403);
  });
});

describe('login protection', () => {
  test('brute force on one email, then from one IP -> 429 with Retry-After', async () => {
    const limited = await startTestApi({ db: api.db, env: { LOGIN_ATTEMPTS_PER_15MIN: '5' } });
    try {
      const attempt = (email: string, password: string) =>
        fetch(`${limited.baseUrl}/api/v1/auth/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ email, password }),
        });
      // Successful logins give their points back: they never lock anyone out.
      for (let i = 0; i < 8; i++) assert.equal((await attempt('viewer@sec.test', TEST_PASSWORD)).status, 200);
      const statuses: number[] = [];
      for (let i = 0; i < 7; i++)
        statuses.push((await attempt('admin@sec.test', `guess-${i}-wrong-pass`)).status);
      assert.deepEqual(statuses, [401, 401, 401, 401, 401, 429, 429]);
      const locked = await attempt('admin@sec.test', TEST_PASSWORD);
      assert.equal(locked.status, 429, 'even the right password waits once the email is locked');
      const retryAfter = Number(locked.headers.get('retry-after'));
      assert.ok(retryAfter > 0 && retryAfter <= 900, `Retry-After ${retryAfter}`);
      assert.equal(((await locked.json()) as { error: { code: string } }).error.code, 'rate_limited');
      // The IP limit (5 failed attempts here) now blocks other emails from the same client too.
      assert.equal((await attempt('nobody@sec.test', 'whatever-password')).status, 429);
      // And the Bull Board form shares the limiter.
      const form = await fetch(`${limited.baseUrl}/admin/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ email: 'operator@sec.test', password: 'nope-nope-nope' }),
        redirect: 'manual',
      });
      assert.equal(form.status, 429);
    } finally {
      await limited.close();
    }
  });

  test('unknown email and wrong password: same 401 body and roughly the same time', async () => {
    const COST = 10;
    const timed = await startTestApi({ db: api.db, options: { passwordHashCost: COST } });
    try {
      await seedUser(api.db, orgA, 'timing@sec.test', 'viewer', TEST_PASSWORD, COST);
      const attempt = async (email: string) => {
        const start = process.hrtime.bigint();
        const res = await fetch(`${timed.baseUrl}/api/v1/auth/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ email, password: 'definitely-not-it-1' }),
        });
        const body = await res.text();
        return {
          ms: Number(process.hrtime.bigint() - start) / 1e6,
          status: res.status,
          body: JSON.parse(body) as { error: { code: string; message: string } },
        };
      };
      await attempt('warmup@sec.test');
      const unknown: number[] = [];
      const wrong: number[] = [];
      for (let i = 0; i < 8; i++) {
        const u = await attempt(`nobody-${i}@sec.test`);
        const w = await attempt('timing@sec.test');
        assert.equal(u.status, 401);
        assert.equal(w.status, 401);
        assert.deepEqual(
          [u.body.error.code, u.body.error.message],
          [w.body.error.code, w.body.error.message],
        );
        unknown.push(u.ms);
        wrong.push(w.ms);
      }
      const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
      const ratio = median(unknown) / median(wrong);
      console.log(
        `login timing: unknown email median ${median(unknown).toFixed(1)} ms, wrong password ${median(wrong).toFixed(1)} ms, ratio ${ratio.toFixed(2)}`,
      );
      assert.ok(ratio > 0.5 && ratio < 2, `ratio ${ratio}`);
    } finally {
      await timed.close();
    }
  });
});
