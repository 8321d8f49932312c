/**
 * Request handling shared by every route (api/routing.ts, the error handler): a malformed
 * percent-escape in the query string is a 400 naming the parameter (API.md), and every 401 carries
 * its WWW-Authenticate challenge (RFC 7235; Bearer per RFC 6750).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { get, login, seedOrg, seedUser, startTestApi, type TestApi } from './helpers/api.js';

let api: TestApi;
let token: string;

before(async () => {
  api = await startTestApi();
  const org = await seedOrg(api.db, 'routing-org');
  await seedUser(api.db, org, 'routing@example.com', 'admin');
  await seedUser(api.db, org, 'routing-ops@example.com', 'operator');
  token = await login(api, 'routing@example.com');
});
after(async () => api.close());

describe('malformed percent-encoding in the query string', () => {
  const daily = '/api/v1/costs/daily?from=2026-01-01&to=2026-01-31';

  test('?service=%ZZ answers 400 bad_request naming service', async () => {
    const res = await get(api, `${daily}&service=%ZZ`, token);
    assert.equal(res.status, 400, res.text);
    const body = res.json as { error: { code: string; field: string; message: string } };
    assert.equal(body.error.code, 'bad_request');
    assert.equal(body.error.field, 'service');
    assert.match(body.error.message, /percent-encoding/);
  });

  test('a cut UTF-8 sequence, a bad escape in a name, and a lone % are refused too', async () => {
    for (const [query, field] of [
      ['&service=Amazon%E2%82', 'service'],
      ['&region=us-east-1%', 'region'],
      ['&%ZZ=1', 'query'],
    ] as const) {
      const res = await get(api, `${daily}${query}`, token);
      assert.equal(res.status, 400, `${query}: ${res.text}`);
      assert.equal((res.json as { error: { field: string } }).error.field, field, query);
    }
  });

  test('well-formed escapes still work, and an unauthenticated request is a 401 first', async () => {
    const ok = await get(
      api,
      `${daily}&service=Amazon%20Elastic%20Compute%20Cloud%20-%20Compute&limit=5`,
      token,
    );
    assert.equal(ok.status, 200, ok.text);
    const plus = await get(api, `${daily}&service=Amazon+EC2`, token);
    assert.equal(plus.status, 200, plus.text);
    const anonymous = await get(api, `${daily}&service=%ZZ`);
    assert.equal(anonymous.status, 401);
  });
});

describe('every 401 carries WWW-Authenticate', () => {
  test('no token: Bearer realm', async () => {
    const res = await get(api, '/api/v1/costs/summary');
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="costwatch"');
  });

  test('a bad token: Bearer with error="invalid_token"', async () => {
    const res = await get(api, '/api/v1/costs/summary', 'not.a.token');
    assert.equal(res.status, 401);
    assert.match(
      res.headers.get('www-authenticate') ?? '',
      /^Bearer realm="costwatch", error="invalid_token"/,
    );
  });

  test('a wrong password at login', async () => {
    const res = await fetch(`${api.baseUrl}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'routing@example.com', password: 'wrong password, surely' }),
    });
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer realm="costwatch"/);
  });

  test('Bull Board for an API client without a session, or with a bad token', async () => {
    const anonymous = await get(api, '/admin/queues', undefined, { accept: 'application/json' });
    assert.equal(anonymous.status, 401);
    assert.match(anonymous.headers.get('www-authenticate') ?? '', /^Bearer realm="costwatch"/);
    assert.equal((anonymous.json as { error: { code: string } }).error.code, 'unauthorized');
    const bad = await get(api, '/admin/queues', 'not.a.token', { accept: 'application/json' });
    assert.equal(bad.status, 401);
    assert.match(bad.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
  });

  test('the Bull Board login form with a wrong password', async () => {
    const res = await fetch(`${api.baseUrl}/admin/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ email: 'routing-ops@example.com', password: 'nope nope nope' }),
      redirect: 'manual',
    });
    assert.equal(res.status, 401);
    assert.ok(res.headers.get('www-authenticate'), 'a challenge');
  });
});
