/**
 * `npm run demo`, run as a user runs it (through npm) on a fresh database: it loads through today
 * and runs one refresh of each organization before printing, writes its environment to <dir>/env,
 * and a SIGTERM to the `npm` process (what process managers and IDEs send) stops every process it
 * started: every descendant pid is gone and every port it opened is closed.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { PROJECT_ROOT } from '../lib/paths.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';

/** Parent pid of every live process (zombies count as gone). */
function processTable(): Map<number, number> {
  const table = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after the last ')'.
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (state !== 'Z') table.set(Number(entry), Number(ppid));
    } catch {
      // exited meanwhile
    }
  }
  return table;
}

function descendants(root: number): number[] {
  const table = processTable();
  const found: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const parent = queue.shift();
    for (const [pid, ppid] of table) {
      if (ppid === parent && !found.includes(pid)) {
        found.push(pid);
        queue.push(pid);
      }
    }
  }
  return found;
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const match = /^([A-Z0-9_]+)=(.*)$/.exec(line);
    if (match?.[1] && match[2] !== undefined) env[match[1]] = match[2].replace(/^'(.*)'$/, '$1');
  }
  return env;
}

let db: TestDatabase;
let dir: string;
const prefix = `demotest_${randomBytes(4).toString('hex')}`;

before(async () => {
  db = await createTestDatabase({ migrate: false });
  dir = mkdtempSync(path.join(os.tmpdir(), 'cw-demo-'));
});

after(async () => {
  rmSync(dir, { recursive: true, force: true });
  const redis = new Redis(process.env.REDIS_URL ?? '');
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== '0');
  await redis.quit();
  await db.drop();
});

interface RunningDemo {
  npmPid: number;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<void>;
  /** npm's exit code (null while it runs). */
  exitCode: () => number | null;
  /** Every process under npm seen so far (the demo re-parents nothing: all are npm's descendants). */
  pids: Set<number>;
}

/** `npm run demo -- <flags>` on the test database, with `extraEnv` in its environment. */
function spawnDemo(days: number, extraEnv: Record<string, string> = {}): RunningDemo {
  const args = [
    '--days',
    String(days),
    '--api-port',
    '0',
    '--sim-port',
    '0',
    '--queue-prefix',
    prefix,
    '--dir',
    dir,
  ];
  const npm = spawn('npm', ['run', 'demo', '--', ...args], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, DATABASE_URL: db.url, LOG_LEVEL: 'info', ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  npm.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  npm.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => npm.once('exit', () => resolve()));
  assert.ok(npm.pid, 'npm started');
  const demo: RunningDemo = {
    npmPid: npm.pid,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    exitCode: () => npm.exitCode,
    pids: new Set(),
  };
  running.push(demo);
  return demo;
}

/** `npm run demo -- <flags>` on the test database, resolved once it has printed its banner. */
async function startDemo(days: number): Promise<RunningDemo> {
  const demo = spawnDemo(days);
  const npmPid = demo.npmPid;
  const deadline = Date.now() + 8 * 60_000;
  while (!demo.stdout().includes('The CLI against this demo')) {
    for (const pid of descendants(npmPid)) demo.pids.add(pid);
    if (demo.exitCode() !== null)
      assert.fail(
        `the demo exited (${demo.exitCode()}) before it was up:\n${demo.stdout()}\n${demo.stderr()}`,
      );
    if (Date.now() > deadline)
      assert.fail(`the demo was not up within 8 minutes:\n${demo.stdout()}\n${demo.stderr()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  await new Promise((r) => setTimeout(r, 500)); // the rest of the banner
  for (const pid of descendants(npmPid)) demo.pids.add(pid);
  return demo;
}

/** The ports of the demo's roles, from its env file: api, simulator, scheduler and workers' metrics. */
function demoPorts(): number[] {
  const env = parseEnvFile(readFileSync(path.join(dir, 'env'), 'utf8'));
  return [
    Number(new URL(env.COSTWATCH_API_URL ?? '').port),
    Number(new URL(env.AWS_ENDPOINT_URL ?? '').port),
    ...['DEMO_SCHEDULER_METRICS_PORT', 'DEMO_WORKER_1_METRICS_PORT', 'DEMO_WORKER_2_METRICS_PORT'].map((k) =>
      Number(env[k]),
    ),
  ];
}

/** Sends `signal` to npm alone and checks that every process under it exits and every port closes. */
async function stopThroughNpm(demo: RunningDemo, signal: NodeJS.Signals): Promise<void> {
  const pids = [...new Set([...demo.pids, ...descendants(demo.npmPid)])];
  assert.ok(
    pids.length >= 6,
    `npm's process tree: the demo, sim, api, scheduler, two workers (${pids.join(', ')})`,
  );
  const ports = demoPorts();
  for (const port of ports) assert.ok(await listening(port), `port ${port} is open while the demo runs`);
  process.kill(demo.npmPid, signal);
  await demo.exited;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const live = processTable();
    const left = pids.filter((p) => live.has(p));
    if (left.length === 0) break;
    if (Date.now() > deadline) {
      const described = left.map(
        (p) => `${p} ${readFileSync(`/proc/${p}/cmdline`, 'utf8').replaceAll('\0', ' ')}`,
      );
      assert.fail(`still running 60 s after ${signal} to npm: ${described.join('; ')}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  for (const port of ports)
    assert.equal(await listening(port), false, `port ${port} is closed after the demo stopped`);
  assert.match(demo.stderr(), /demo: stopped/);
}

const running: RunningDemo[] = [];
after(() => {
  // Whatever failed, leave nothing running.
  for (const demo of running) {
    for (const pid of [...demo.pids, ...descendants(demo.npmPid), demo.npmPid]) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
});

test(
  'npm run demo loads through today, refreshes, writes its env; SIGTERM to npm stops it all',
  { timeout: 10 * 60_000 },
  async () => {
    const demo = await startDemo(3);
    const stdout = demo.stdout();

    // Its environment, and how to use it.
    const envFile = path.join(dir, 'env');
    const env = parseEnvFile(readFileSync(envFile, 'utf8'));
    assert.equal(env.DATABASE_URL, db.url);
    assert.equal(env.REDIS_URL, process.env.REDIS_URL);
    assert.equal(env.QUEUE_PREFIX, prefix);
    assert.match(env.AWS_ENDPOINT_URL ?? '', /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.ok(env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY, 'dummy AWS keys');
    assert.ok(
      demoPorts().every((p) => p > 0),
      `ports in the env file: ${demoPorts().join(', ')}`,
    );
    assert.ok(
      stdout.includes(`set -a; . ${envFile}; set +a`),
      `the banner says how to use the env file:\n${stdout}`,
    );
    assert.match(stdout, /node bin\/costwatch\.mjs org list/);
    const apiUrl = env.COSTWATCH_API_URL ?? '';

    // Loaded through today and refreshed, before printing anything: one manual refresh per
    // organization, whose windows run through today (AWS's End is exclusive), rolled up.
    const { rows: orgs } = await db.pool.query<{ id: number }>(
      "SELECT id FROM organizations WHERE kind <> 'platform' ORDER BY id",
    );
    assert.equal(orgs.length, 2);
    // Its `backfill --all` leaves the platform organization (operators, no AWS account) alone.
    const { rows: platform } = await db.pool.query<{ status: string; last_error: string | null }>(
      "SELECT status, last_error FROM organizations WHERE kind = 'platform'",
    );
    assert.deepEqual(platform, [{ status: 'active', last_error: null }]);
    const asOf = /CostWatch is running on local data \(through (\d{4}-\d{2}-\d{2})\)/.exec(stdout)?.[1];
    assert.ok(asOf, stdout);
    const { rows: refreshes } = await db.pool.query<{
      organization_id: string;
      source: string;
      status: string;
      ends: string;
      rolled: boolean;
    }>(
      `SELECT organization_id, source, status, to_char(window_end - 1, 'YYYY-MM-DD') AS ends, rolled_up_at IS NOT NULL AS rolled
     FROM fetch_runs WHERE trigger = 'manual' ORDER BY organization_id, source`,
    );
    for (const org of orgs) {
      for (const source of ['costs', 'metrics']) {
        const run = refreshes.find((r) => Number(r.organization_id) === org.id && r.source === source);
        assert.ok(run, `org ${org.id} has a ${source} refresh run: ${JSON.stringify(refreshes)}`);
        assert.equal(run.status, 'succeeded');
        assert.equal(run.ends, asOf, `the ${source} refresh reads through today`);
        assert.ok(run.rolled, `the ${source} refresh is rolled up`);
      }
    }
    // What the banner's first "Try" commands show: today's costs and a month to date above 0.
    const login = await fetch(`${apiUrl}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'admin@acme.example', password: /password: (\S+)\)/.exec(stdout)?.[1] }),
    });
    assert.equal(login.status, 200);
    const authorization = {
      authorization: `Bearer ${((await login.json()) as { access_token: string }).access_token}`,
    };
    const daily = (await (
      await fetch(`${apiUrl}/api/v1/costs/daily?from=${asOf}&to=${asOf}&group_by=service`, {
        headers: authorization,
      })
    ).json()) as { items?: unknown[] };
    assert.ok(
      (daily.items ?? []).length > 0,
      `today (${asOf}) has costs: ${JSON.stringify(daily).slice(0, 300)}`,
    );
    const summary = (await (
      await fetch(`${apiUrl}/api/v1/costs/summary`, { headers: authorization })
    ).json()) as {
      month_to_date?: { total?: { amount?: string } };
    };
    assert.ok(
      Number(summary.month_to_date?.total?.amount) > 0,
      `month to date above 0: ${JSON.stringify(summary)}`,
    );

    await stopThroughNpm(demo, 'SIGTERM');
  },
);

test(
  'a closed terminal (SIGHUP to npm) stops every process of the demo too',
  { timeout: 10 * 60_000 },
  async () => {
    // The same database again: the organizations and users exist and are reused.
    const demo = await startDemo(1);
    const { rows } = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM organizations');
    assert.equal(
      rows[0]?.n,
      3,
      'the second run reused the demo organizations (two customers, the platform org)',
    );
    await stopThroughNpm(demo, 'SIGHUP');
  },
);

test(
  'a role that cannot start stops the demo at once, with the end of its log; nothing is left running',
  { timeout: 10 * 60_000 },
  async () => {
    // The api's own metrics port is taken: the api exits while starting (EADDRINUSE).
    const busy = net.createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const taken = (busy.address() as net.AddressInfo).port;
    try {
      const demo = spawnDemo(1, { API_METRICS_PORT: String(taken) });
      const seen = new Set<number>();
      const watch = setInterval(() => {
        for (const pid of descendants(demo.npmPid)) seen.add(pid);
      }, 100);
      await demo.exited;
      clearInterval(watch);
      const stderr = demo.stderr();
      assert.equal(demo.exitCode(), 1, stderr);
      assert.match(stderr, /demo: api exited \(1\); the end of \S+api\.log:\n/, stderr);
      assert.match(stderr, /\| .*EADDRINUSE/, `the api's own error is shown:\n${stderr}`);
      assert.match(stderr, /api exited \(1\) while starting/, stderr);
      assert.doesNotMatch(stderr, /did not answer within/, 'no wait for a role that has exited');
      assert.match(stderr, /demo: stopped/);
      assert.equal(demo.stdout().includes('CostWatch is running'), false);
      const live = processTable();
      const left = [...seen].filter((p) => live.has(p));
      assert.deepEqual(left, [], 'every process the demo started has exited');
    } finally {
      await new Promise((resolve) => busy.close(resolve));
    }
  },
);
