/**
 * What docs/TROUBLESHOOTING.md says about /ready, checked against the running API: a Postgres that
 * accepts connections but never answers makes /ready answer 503 after the timeout the doc states,
 * naming the dependency.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { createPool } from '../lib/db.js';
import { PROJECT_ROOT } from '../lib/paths.js';
import { get, startTestApi } from './helpers/api.js';

test("/ready's timeout is the one TROUBLESHOOTING states", async () => {
  const doc = readFileSync(path.join(PROJECT_ROOT, 'docs', 'TROUBLESHOOTING.md'), 'utf8').replace(
    /\s+/g,
    ' ',
  );
  const stated = /`\/ready` is readiness: 503 .*? does not answer within (\d+(?:\.\d+)?) s/.exec(doc)?.[1];
  assert.ok(stated, 'TROUBLESHOOTING states the /ready timeout');

  // A Postgres that takes the connection and never says a word.
  const sockets = new Set<net.Socket>();
  const silent = net.createServer((socket) => sockets.add(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const port = (silent.address() as net.AddressInfo).port;
  const pool = createPool({
    connectionString: `postgresql://cw:cw@127.0.0.1:${port}/cw`,
    max: 1,
    applicationName: 'ready-test',
  });
  const api = await startTestApi({
    db: { url: '', name: 'silent', pool, drop: async () => undefined },
  });
  try {
    const started = Date.now();
    const ready = await get(api, '/ready');
    const ms = Date.now() - started;
    assert.equal(ready.status, 503);
    const body = ready.json as { status: string; checks: { postgres: string; redis: string } };
    assert.equal(body.status, 'unavailable');
    assert.equal(body.checks.redis, 'ok');
    // /ready answers status only (its reasons go to the log): the timeout shows in how long it took.
    assert.equal(body.checks.postgres, 'unavailable');
    const timeoutMs = Number(stated) * 1000;
    assert.ok(
      ms >= timeoutMs && ms < timeoutMs + 2_000,
      `the doc says ${stated} s, the API answered after ${ms} ms`,
    );
    assert.ok(
      doc.includes('{"status":"unavailable","checks":{"postgres":"unavailable","redis":"ok"}}'),
      'the example body is the real one',
    );
  } finally {
    for (const s of sockets) s.destroy();
    silent.close();
    await api.close();
    await pool.end().catch(() => undefined);
  }
});
