/**
 * What an idle API process (`costwatch api`) holds: it loads no AWS SDK client, no worker module
 * and no Bull Board package at start (the board's packages load on its first request), so its
 * memory is the API's own. Every module the process loads is recorded by a module loader hook.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { spawnRole, type RoleProcess } from './helpers/processes.js';
import { testEnv } from './helpers/pipeline.js';

let db: TestDatabase;
let dir: string;
let api: RoleProcess;
let log: string;

before(async () => {
  db = await createTestDatabase();
  dir = mkdtempSync(path.join(tmpdir(), 'cw-idle-'));
  log = path.join(dir, 'modules.txt');
  const hooks = path.join(dir, 'hooks.mjs');
  writeFileSync(
    hooks,
    `import { appendFileSync } from 'node:fs';
export async function load(url, context, next) { appendFileSync(${JSON.stringify(log)}, url + '\\n'); return next(url, context); }\n`,
  );
  const register = path.join(dir, 'register.mjs');
  writeFileSync(
    register,
    `import { register } from 'node:module';\nregister(${JSON.stringify(`file://${hooks}`)});\n`,
  );
  const env = testEnv();
  api = await spawnRole(
    ['api'],
    {
      ...env,
      DATABASE_URL: db.url,
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      QUEUE_PREFIX: `cwidle${process.pid}`,
      NODE_OPTIONS: `--import ${register}`,
    },
    'api listening',
  );
});

after(async () => {
  api?.child.kill('SIGTERM');
  await api?.exited;
  rmSync(dir, { recursive: true, force: true });
  await db?.drop();
});

test('an idle API loads no AWS SDK, worker module or Bull Board package', async () => {
  await new Promise((r) => setTimeout(r, 500));
  const loaded = readFileSync(log, 'utf8').split('\n').filter(Boolean);
  assert.ok(
    loaded.some((u) => u.includes('/api/app.')),
    `the hook saw the API's modules (${loaded.length})`,
  );
  assert.ok(loaded.some((u) => u.includes('/node_modules/express/')));
  const unwanted = loaded.filter((u) =>
    /\/node_modules\/(@aws-sdk|@bull-board)\/|\/workers\/|\/sim\//.test(u),
  );
  assert.deepEqual(unwanted, []);
});
