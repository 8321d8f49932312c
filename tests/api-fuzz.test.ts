/**
 * Fuzz: thousands of generated bad requests against every endpoint and parameter (boundary and
 * garbage values, raw percent-encodings, repeated and unknown parameters, wrong methods,
 * malformed and huge bodies, odd content types, path traversal, bad tokens). Nothing may 5xx.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { login, seedOrg, seedUser, startTestApi, type TestApi } from './helpers/api.js';
import { statusOf, type RawRequest } from './helpers/http.js';

let api: TestApi;
let viewer: string;
let operator: string;
let admin: string;

before(async () => {
  api = await startTestApi();
  const org = await seedOrg(api.db, 'fuzz');
  await seedUser(api.db, org, 'viewer@fuzz.test', 'viewer');
  await seedUser(api.db, org, 'admin@fuzz.test', 'admin');
  await seedUser(api.db, org, 'operator@fuzz.test', 'operator');
  [viewer, admin, operator] = await Promise.all([
    login(api, 'viewer@fuzz.test'),
    login(api, 'admin@fuzz.test'),
    login(api, 'operator@fuzz.test'),
  ]);
  await api.db.pool.query(
    `INSERT INTO cost_daily_service VALUES ($1, '2026-01-05', 'Amazon S3', 1, 1, 1, 1, 'USD', false)`,
    [org],
  );
});
after(async () => api.close());

const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });

// Values sent through encodeURIComponent.
const GARBAGE = [
  '',
  ' ',
  '0',
  '-1',
  '-0',
  '+5',
  ' 5',
  '5 ',
  '1e3',
  '0x10',
  '1.5',
  'NaN',
  'Infinity',
  'null',
  'undefined',
  'true',
  '[]',
  '{}',
  '99999999999999999999999',
  '9007199254740993',
  '1000',
  '1001',
  '2147483648',
  "' OR '1'='1",
  '"; DROP TABLE users; --',
  '1; SELECT pg_sleep(10)--',
  '%',
  '%%',
  '\\',
  '\\x00',
  '$1',
  '::text',
  '--',
  '../../etc/passwd',
  '..%2f..%2f',
  '/etc/passwd',
  'a'.repeat(257),
  'a'.repeat(4000),
  '😀'.repeat(50),
  'ñandú',
  '\u202e',
  '\u0000',
  '\u0007bell',
  'line\nbreak',
  '2026-02-30',
  '2026-13-01',
  '0000-00-00',
  '9999-12-31',
  '2026-1-1',
  '20260101',
  '2026-01-01T00:00:00Z',
  '-2026-01-01',
  '1970-01-01',
  '2026-01-01 ',
  '٢٠٢٦-٠١-٠١',
  '<script>alert(1)</script>',
  '${jndi:ldap://x}',
  '*',
  'service',
  'account',
  'region',
  'none',
  'SERVICE',
  'unblended',
  'costs',
  'failed',
];
// Values sent as they are (already percent-encoded, some invalid).
const RAW = [
  '%00',
  '%ED%A0%80',
  '%E0%A4%A',
  '%',
  '%zz',
  '%C0%AE%C0%AE%2F',
  '%FF%FE',
  '%25%32%65',
  'a%26org_id%3D1',
  '%5B%5D',
];

const VALID: Record<string, Record<string, string>> = {
  '/api/v1/costs/daily': {
    from: '2026-01-01',
    to: '2026-01-31',
    group_by: 'service',
    service: 'Amazon S3',
    limit: '10',
    offset: '0',
    org_id: '1',
  },
  '/api/v1/costs/monthly': {
    from: '2026-01-01',
    to: '2026-03-31',
    group_by: 'none',
    service: 'x',
    limit: '10',
    offset: '0',
    org_id: '1',
  },
  '/api/v1/costs/summary': { metric: 'amortized', top: '3', org_id: '1' },
  '/api/v1/costs/forecast': { org_id: '1' },
  '/api/v1/costs/top': {
    from: '2026-01-01',
    to: '2026-01-31',
    dimension: 'region',
    metric: 'unblended',
    limit: '5',
    org_id: '1',
  },
  '/api/v1/utilization': {
    from: '2026-01-01',
    to: '2026-01-31',
    namespace: 'AWS/EC2',
    resource_id: 'i-1',
    metric: 'CPUUtilization',
    limit: '10',
    offset: '0',
    org_id: '1',
  },
  '/api/v1/ingestion/status': { org_id: '1' },
  '/api/v1/ingestion/runs': {
    source: 'costs',
    status: 'failed',
    limit: '10',
    cursor: 'WyIyMDI2LTAxLTAxVDAwOjAwOjAwLjAwMDAwMFoiLDFd',
    org_id: '1',
  },
};

let seed = 7;
function rand(n: number): number {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return Math.floor((seed / 2147483648) * n);
}
function pick<T>(xs: readonly T[]): T {
  return xs[rand(xs.length)] as T;
}

function query(params: [string, string][], raw = false): string {
  return params.map(([k, v]) => `${encodeURIComponent(k)}=${raw ? v : encodeURIComponent(v)}`).join('&');
}

function generate(): RawRequest[] {
  const out: RawRequest[] = [];
  const tokens = [viewer, viewer, operator, admin];
  const auth = () => ({ authorization: `Bearer ${pick(tokens)}` });
  for (const [path, valid] of Object.entries(VALID)) {
    for (const param of Object.keys(valid)) {
      const base = Object.entries(valid).filter(([k]) => k !== param);
      for (const value of GARBAGE)
        out.push({ method: 'GET', path: `${path}?${query([...base, [param, value]])}`, headers: auth() });
      for (const value of RAW)
        out.push({ method: 'GET', path: `${path}?${query(base)}&${param}=${value}`, headers: auth() });
      out.push({
        method: 'GET',
        path: `${path}?${query([...base, [param, valid[param] ?? ''], [param, valid[param] ?? '']])}`,
        headers: auth(),
      });
      out.push({ method: 'GET', path: `${path}?${query(base)}&${param}[]=1&${param}[a]=2`, headers: auth() });
    }
    out.push({
      method: 'GET',
      path: `${path}?${query([...Object.entries(valid), ['unknown', '1']])}`,
      headers: auth(),
    });
    out.push({
      method: 'GET',
      path: `${path}?${query([...Object.entries(valid), ['__proto__', '1'], ['constructor', 'x']])}`,
      headers: auth(),
    });
    out.push({ method: 'GET', path: `${path}?${'&'.repeat(2000)}`, headers: auth() });
    out.push({
      method: 'GET',
      path: `${path}?${query(Object.entries(valid))}`,
      headers: {
        authorization: pick([
          'Bearer',
          'Bearer  x',
          'bearer a.b.c',
          'Token x',
          'Bearer \u00e9'.replace('\u00e9', 'e'),
          `Bearer ${'x'.repeat(8000)}`,
        ]),
      },
    });
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE', 'PROPFIND', 'HEAD']) {
      out.push({ method, path: `${path}?${query(Object.entries(valid))}`, headers: auth() });
    }
  }
  // Random multi-parameter garbage.
  const paths = Object.keys(VALID);
  for (let i = 0; i < 1200; i++) {
    const path = pick(paths);
    const valid = VALID[path] ?? {};
    const params: [string, string][] = Object.keys(valid)
      .filter(() => rand(3) > 0)
      .map((k) => [k, rand(2) ? pick(GARBAGE) : (valid[k] ?? '')]);
    out.push({
      method: pick(['GET', 'GET', 'GET', 'HEAD']),
      path: `${path}?${query(params)}`,
      headers: rand(5) ? auth() : {},
    });
  }
  // Bodies: login and refresh.
  const bodies = [
    '{',
    '}',
    '{"email":',
    'null',
    '[]',
    '"str"',
    '123',
    'true',
    '{"email":123,"password":[]}',
    '{"email":"a@b","password":"x","extra":1}',
    '{"__proto__":{"role":"operator"}}',
    '{"constructor":{"prototype":{"x":1}}}',
    `${'['.repeat(3000)}${']'.repeat(3000)}`,
    '{"email":"viewer@fuzz.test","password":""}',
    `{"email":"${'a'.repeat(300)}@x.y","password":"p"}`,
    `{"email":"a@b.c","password":"${'p'.repeat(2000)}"}`,
    '{"email":"a@b.c","password":"\\u0000"}',
    '{"email":"\\ud800@x.y","password":"x"}',
    "{'email':'a'}",
    '{"email":"a@b.c" "password":"x"}',
    '\u0000\u0001',
    '\uFEFF{}',
    '{"email":"x@y.z","password":"x"}'.repeat(100),
    '{"a":1e999999}',
    '{"email":null,"password":null}',
  ];
  for (const path of ['/api/v1/auth/login', '/api/v1/ingestion/refresh']) {
    for (const body of bodies) {
      for (const type of [
        'application/json',
        'application/json; charset=utf-8',
        'text/plain',
        'application/x-www-form-urlencoded',
        'application/json; charset=utf-16',
        'application/merge-patch+json',
      ]) {
        out.push({ method: 'POST', path, headers: { 'content-type': type, ...auth() }, body });
      }
    }
    out.push({
      method: 'POST',
      path,
      headers: { 'content-type': 'application/json', ...auth() },
      body: `{"a":"${'x'.repeat(20_000)}"}`,
    });
    out.push({
      method: 'POST',
      path,
      headers: { 'content-type': 'application/json', ...auth() },
      body: Buffer.alloc(2_000_000, 0x61),
    });
    out.push({
      method: 'POST',
      path,
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip', ...auth() },
      body: 'not gzip',
    });
    out.push({
      method: 'POST',
      path,
      headers: { 'content-type': 'application/json', 'content-encoding': 'br', ...auth() },
      body: '{}',
    });
    out.push({
      method: 'POST',
      path,
      headers: { 'content-type': 'application/json', 'content-length': '10', ...auth() },
      body: '{}',
    });
    out.push({
      method: 'POST',
      path,
      headers: { 'content-type': 'multipart/form-data; boundary=x', ...auth() },
      body: '--x\r\n\r\n--x--',
    });
  }
  // Bull Board login form.
  for (const body of [
    'email=&password=',
    'email=a',
    `email=${'a'.repeat(5000)}&password=x`,
    'email[]=a&password[]=b',
    '%%%',
    'a=1&'.repeat(50),
    'next=//evil.example&email=a@b.c&password=x',
  ]) {
    out.push({
      method: 'POST',
      path: '/admin/login',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body,
    });
  }
  // Paths: unknown, traversal, encodings.
  const weirdPaths = [
    '/api/v1/../../etc/passwd',
    '/api/v1/costs/%2e%2e/%2e%2e/etc/passwd',
    '/api/v1/costs/daily/../../auth/login',
    '/admin/queues/../../etc/passwd',
    '/admin/queues/%2e%2e%2f%2e%2e%2fetc%2fpasswd',
    '/api/v1/costs/daily%00',
    '/api/v1/%E0%A4%A',
    '/api/v1/%',
    '/%ff',
    '/api/v1/costs/daily/extra',
    '/api/v2/costs/daily',
    '/API/V1/COSTS/DAILY',
    '//api/v1/costs/daily',
    '/api/v1/costs//daily',
    '/api/v1/costs/daily;jsessionid=1',
    '/.env',
    '/.git/config',
    '/api/v1/openapi.json/..',
    '/metrics/../health',
    '/api/v1/costs/daily?' + 'a=1&'.repeat(1500),
    '/admin/queues/api/queues/%2e%2e',
    '/admin/queues/static/../../../package.json',
    '/admin/queues/api/queues/nope/jobs/1',
    '/admin/queues/queue/nope',
    `/${'a'.repeat(6000)}`,
    '/api/v1/%F0%9F%98%80',
    '/api/v1/costs/daily#frag',
    '/health?x=1',
    '/ready?',
    '/metrics?format=json',
  ];
  for (const path of weirdPaths) {
    for (const method of ['GET', 'POST', 'DELETE']) out.push({ method, path, headers: auth() });
  }
  for (const path of [
    '/health',
    '/ready',
    '/metrics',
    '/api/v1/openapi.json',
    '/admin/login',
    '/admin/logout',
  ]) {
    for (const method of ['PUT', 'DELETE', 'PATCH', 'OPTIONS', 'POST'])
      out.push({ method, path, headers: { 'x-request-id': pick(['ok-1', '../../x', 'a'.repeat(500), '']) } });
  }
  return out;
}

test('thousands of bad requests: zero 5xx', { timeout: 240_000 }, async () => {
  const base = new URL(api.baseUrl);
  const requests = generate();
  assert.ok(requests.length >= 3000, `only ${requests.length} requests generated`);
  const histogram = new Map<number, number>();
  const failures: string[] = [];
  for (let i = 0; i < requests.length; i += 64) {
    const batch = requests.slice(i, i + 64);
    const statuses = await Promise.all(batch.map((r) => statusOf(base, r, agent)));
    statuses.forEach((status, j) => {
      histogram.set(status, (histogram.get(status) ?? 0) + 1);
      const r = batch[j];
      if ((status >= 500 || status < 0) && r && failures.length < 20)
        failures.push(`${status} ${r.method} ${r.path.slice(0, 200)}`);
    });
  }
  const summary = [...histogram.entries()]
    .sort(([a], [b]) => a - b)
    .map(([s, n]) => `${s}: ${n}`)
    .join(', ');
  console.log(`fuzz: sent ${requests.length} requests; status histogram { ${summary} }`);
  agent.destroy();
  assert.deepEqual(failures, [], `5xx or connection failures:\n${failures.join('\n')}`);
  const ready = await fetch(`${api.baseUrl}/ready`);
  assert.equal(ready.status, 200, 'still healthy afterwards');
});
