/**
 * The OpenAPI document as tools read it: no pattern a common validator's or code generator's regex
 * engine rejects (Unicode property escapes; compiled here with Python's re, as Python validators
 * do), numeric query parameters typed as integers with their bounds, every admin endpoint.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import { get, login, seedOrg, seedUser, startTestApi, type TestApi } from './helpers/api.js';

let api: TestApi;
let doc: {
  paths: Record<
    string,
    Record<
      string,
      {
        parameters?: Array<{ name: string; schema: Record<string, unknown> }>;
        responses: Record<string, unknown>;
      }
    >
  >;
};

before(async () => {
  api = await startTestApi();
  const res = await get(api, '/api/v1/openapi.json');
  assert.equal(res.status, 200);
  doc = res.json as typeof doc;
});
after(async () => api.close());

function patterns(node: unknown, found: string[] = []): string[] {
  if (Array.isArray(node)) for (const item of node) patterns(item, found);
  else if (node && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if (key === 'pattern' && typeof value === 'string') found.push(value);
      else patterns(value, found);
    }
  }
  return found;
}

test('no pattern uses Unicode property escapes, and every pattern compiles in Python and in JavaScript', () => {
  const all = [...new Set(patterns(doc))];
  assert.ok(all.length > 0, 'the document has patterns');
  for (const p of all) {
    assert.doesNotMatch(p, /\\[pP]\{/, `pattern ${p} uses a Unicode property escape`);
    assert.doesNotThrow(() => new RegExp(p), `pattern ${p} compiles without the u flag`);
  }
  const python = spawnSync(
    'python3',
    ['-c', 'import json, re, sys\nfor p in json.load(sys.stdin): re.compile(p)'],
    {
      input: JSON.stringify(all),
      encoding: 'utf8',
    },
  );
  if (python.error) return; // no python3 here: the escape check above still holds
  assert.equal(python.status, 0, `Python's re rejects a pattern: ${python.stderr}`);
});

test('the control-character filter is still described, and still enforced', async () => {
  const service = doc.paths['/api/v1/costs/daily']?.get?.parameters?.find((p) => p.name === 'service');
  assert.ok(service, 'costs/daily documents service');
  const pattern = String(service.schema.pattern ?? '');
  const re = new RegExp(pattern);
  assert.ok(re.test('Amazon EC2') && !re.test('EC2\u0007') && !re.test('EC2\u009b'), `pattern ${pattern}`);
  const org = await seedOrg(api.db, 'openapi-org');
  await seedUser(api.db, org, 'openapi@example.com', 'viewer');
  const token = await login(api, 'openapi@example.com');
  const bad = await get(api, '/api/v1/costs/daily?from=2026-01-01&to=2026-01-02&service=EC2%C2%9B', token);
  assert.equal(bad.status, 400, bad.text);
  assert.match(bad.text, /control characters/);
});

test('limit, offset, org_id and the other numeric query parameters are integers with their bounds', () => {
  const seen = new Set<string>();
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      for (const p of op.parameters ?? []) {
        if (['limit', 'offset', 'org_id', 'top'].includes(p.name)) {
          seen.add(p.name);
          assert.equal(p.schema.type, 'integer', `${method} ${path} ${p.name}: ${JSON.stringify(p.schema)}`);
          assert.equal(typeof p.schema.minimum, 'number', `${method} ${path} ${p.name} has a minimum`);
        }
      }
    }
  }
  assert.deepEqual([...seen].sort(), ['limit', 'offset', 'org_id', 'top']);
  const runs = doc.paths['/api/v1/ingestion/runs']?.get?.parameters?.find((p) => p.name === 'limit');
  assert.ok(runs, 'ingestion/runs documents limit');
  assert.equal(typeof runs.schema.maximum, 'number');
});

test('POST /admin/logout is documented', () => {
  const logout = doc.paths['/admin/logout']?.post;
  assert.ok(logout, 'POST /admin/logout');
  assert.ok(logout.responses['303'], 'its redirect');
});
