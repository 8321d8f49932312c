// `npm run demo`: CostWatch end to end on this machine. Provisions Postgres and Redis, migrates,
// starts the AWS simulator, the api, the scheduler and two workers, creates demo organizations and
// users, backfills their last 90 days through today, runs one refresh of each organization (the
// scheduler's refresh: restatement window, rollups, forecast), then prints the API URL, the logins,
// example curls, Bull Board, and how to run the CLI against the demo (its environment is written to
// .costwatch/demo/env). `npm run demo -- --smoke` exits after checking that the API serves today's data.
//
// Stopping: SIGINT (Ctrl-C), SIGTERM or SIGHUP (a closed terminal), to this process or to the `npm`
// that runs it, stops every process it started (Postgres and Redis keep running: `npm run
// stack:down` stops them). The roles run in their own process groups and are stopped by this
// process alone, gracefully; if its parent dies without a signal it notices and stops them too;
// if it is killed with SIGKILL, the next `npm run demo` stops what it had left (.costwatch/demo/pids).
//
// Options: --days N (history to backfill, default 90), --api-port / --sim-port (default 8002 /
// 4566 when free, 0 = any free port), --queue-prefix (default costwatch-demo), --dir (logs, env
// and pid files; default .costwatch/demo).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setInterval } from 'node:timers';
import { parseArgs } from 'node:util';
import { ensureNpmDependencies, root, stackUp } from './ensure-deps.mjs';
import { describeDemoAnomaly, injectDemoAnomaly } from './demo-anomalies.mjs';

const log = (line) => process.stderr.write(`demo: ${line}\n`);

const { values: opts } = parseArgs({
  options: {
    smoke: { type: 'boolean', default: false },
    days: { type: 'string', default: '90' },
    'api-port': { type: 'string', default: '8002' },
    'sim-port': { type: 'string', default: '4566' },
    'queue-prefix': { type: 'string', default: 'costwatch-demo' },
    dir: { type: 'string', default: path.join(root, '.costwatch', 'demo') },
  },
});
const days = Number(opts.days);
if (!Number.isInteger(days) || days < 1 || days > 365) {
  log(`--days: must be a whole number of days from 1 to 365 (got ${JSON.stringify(opts.days)})`);
  process.exit(1);
}
for (const flag of ['api-port', 'sim-port']) {
  const port = Number(opts[flag]);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    log(`--${flag}: must be a port number 0..65535 (got ${JSON.stringify(opts[flag])})`);
    process.exit(1);
  }
}
const demoDir = path.resolve(opts.dir);
// Paths inside the checkout are shown relative to it, others as they are.
const shown = (file) => {
  const rel = path.relative(process.cwd(), file);
  return rel === '' ? '.' : rel.startsWith('..') ? file : rel;
};

// ---- stopping: everything the demo started, whichever way it is asked to stop --------------------
const children = [];
let stopping = false;
const pidFile = path.join(demoDir, 'pids');

function writePids() {
  const alive = children.filter(({ child }) => child.exitCode === null && child.signalCode === null);
  writeFileSync(pidFile, `${JSON.stringify(alive.map(({ name, child }) => ({ name, pid: child.pid })))}\n`);
}

async function stopAll(code) {
  if (stopping) return;
  stopping = true;
  log('stopping the api, scheduler, workers and simulator...');
  await Promise.all(
    children.map(
      ({ child }) =>
        new Promise((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', resolve);
          child.kill('SIGTERM');
          setTimeout(() => child.kill('SIGKILL'), 30_000).unref();
        }),
    ),
  );
  rmSync(pidFile, { force: true });
  log('stopped (Postgres and Redis keep running; `npm run stack:down` stops them)');
  process.exit(code);
}
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => void stopAll(0));
// `npm run` runs this through `sh -c`: if npm or the shell dies without passing a signal on, this
// process is re-parented; then it stops too.
const parentPid = process.ppid;
setInterval(() => {
  if (process.ppid !== parentPid) {
    log(`the parent process (${parentPid}) is gone`);
    void stopAll(0);
  }
}, 500).unref();

/** Stops what a previous demo left running (it was killed without a chance to stop them). */
function stopLeftovers() {
  if (!existsSync(pidFile)) return;
  const readOr = (read, fallback) => {
    try {
      return read();
    } catch {
      return fallback;
    }
  };
  const previous = readOr(() => JSON.parse(readFileSync(pidFile, 'utf8')), []);
  for (const { name, pid } of previous) {
    const cmdline = readOr(() => readFileSync(`/proc/${pid}/cmdline`, 'utf8'), '');
    // Gone, or the pid now belongs to something else.
    if (!cmdline.includes('costwatch.mjs')) continue;
    log(`stopping ${name} (pid ${pid}) left by a previous demo`);
    readOr(() => process.kill(pid, 'SIGTERM'), false);
  }
  rmSync(pidFile, { force: true });
}

// ---- set-up ----------------------------------------------------------------------------------------
ensureNpmDependencies();
const stack = stackUp();
mkdirSync(demoDir, { recursive: true });
stopLeftovers();

// The demo's own TypeScript helpers (producers' refresh, the clock) run through tsx, as the CLI does.
const { register } = await import('tsx/esm/api');
register();
const { refreshDemoOrganizations } = await import('./demo-refresh.ts');

/**
 * `preferred` when it is free now, else 0. Port 0 is passed on to the role, which binds a free port
 * itself and names it in its log (see `announced`): a port picked here and bound later could be
 * taken in between (another process's listener or outgoing connection), as a CI run once showed.
 */
async function portOrAny(preferred) {
  if (preferred <= 0) return 0;
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(0));
    server.listen(preferred, '127.0.0.1', () => server.close(() => resolve(preferred)));
  });
}

const simPortWanted = await portOrAny(Number(opts['sim-port']));
const apiPortWanted = await portOrAny(Number(opts['api-port']));
// The ports the roles bound, read from their start lines.
let simPort;
let apiPort;
const metricsPorts = { scheduler: 0, 'worker-1': 0, 'worker-2': 0 };
// What the CLI needs to reach the demo (written to <dir>/env); the roles get more below.
const cliEnv = {
  DATABASE_URL: stack.DATABASE_URL,
  REDIS_URL: stack.REDIS_URL,
  QUEUE_PREFIX: opts['queue-prefix'],
  // The simulator is the demo's AWS (AWS_ENDPOINT_URL is added once it has said its port); the SDK
  // signs with these dummy keys, roles are assumed through it.
  AWS_REGION: 'us-east-1',
  ALLOW_INSECURE_AWS_ENDPOINT: 'true',
  AWS_ACCESS_KEY_ID: 'AKIACOSTWATCHDEMO',
  AWS_SECRET_ACCESS_KEY: 'costwatch-demo-secret',
  // The api's token key (local to this machine, like the stack's passwords): `doctor` checks it.
  JWT_SECRET_KEY: stack.JWT_SECRET_KEY,
};
const env = {
  ...process.env,
  ...cliEnv,
  HOST: '127.0.0.1',
  METRICS_PORT: '0',
  // The roles' start lines (their ports) are logged at info: a quieter LOG_LEVEL is raised to info.
  LOG_LEVEL: ['debug', 'trace'].includes(process.env.LOG_LEVEL ?? '') ? process.env.LOG_LEVEL : 'info',
  CE_RATE_PER_ORG: '50',
  CW_RATE_PER_ORG: '100',
  REFRESH_CRON: '*/15 * * * *',
  SHUTDOWN_GRACE_SECONDS: '10',
};
const envFile = path.join(demoDir, 'env');
const quote = (value) => `'${String(value).replaceAll("'", "'\\''")}'`;
/** Writes <dir>/env once the ports are known. */
function writeEnvFile() {
  writeFileSync(
    envFile,
    [
      '# The environment of the running `npm run demo`. Use the CLI against it with:',
      `#   set -a; . ${shown(envFile)}; set +a; node bin/costwatch.mjs org list`,
      ...Object.entries(cliEnv).map(([k, v]) => `${k}=${quote(v)}`),
      `COSTWATCH_API_URL=${quote(`http://127.0.0.1:${apiPort}`)}`,
      '# /health, /ready and /metrics of the other roles (METRICS_PORT of each):',
      ...Object.entries(metricsPorts).map(
        ([name, port]) => `DEMO_${name.toUpperCase().replace('-', '_')}_METRICS_PORT=${port}`,
      ),
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
}
const cli = path.join(root, 'bin', 'costwatch.mjs');

/** Runs `costwatch <args>` to completion (asynchronously, so a signal is handled at once). */
function run(args, { input, stdio } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], {
      env,
      stdio: stdio ?? ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    const entry = { name: `costwatch ${args[0]}`, child };
    children.push(entry);
    let out = '';
    child.stdout?.on('data', (d) => (out += d));
    child.stderr?.on('data', (d) => (out += d));
    if (child.stdin) child.stdin.end(input ?? '');
    child.on('error', reject);
    child.on('exit', (code) => {
      children.splice(children.indexOf(entry), 1);
      if (code === 0) resolve(out.trim());
      else if (stopping) resolve('');
      else
        reject(
          Object.assign(new Error(`costwatch ${args.join(' ')} failed (exit ${code})\n${out}`), { code }),
        );
    });
  });
}

/** The last `lines` lines of a role's log file. */
function logTail(name, lines = 15) {
  try {
    return readFileSync(path.join(demoDir, `${name}.log`), 'utf8')
      .trimEnd()
      .split('\n')
      .slice(-lines)
      .join('\n');
  } catch {
    return '';
  }
}

function start(name, args, extraEnv = {}) {
  const file = path.join(demoDir, `${name}.log`);
  // Logs are appended across runs: this run's lines start here.
  const offset = existsSync(file) ? statSync(file).size : 0;
  const out = openSync(file, 'a');
  const child = spawn(process.execPath, [cli, ...args], {
    env: { ...env, ...extraEnv },
    stdio: ['ignore', out, out],
    detached: true,
  });
  const role = { name, child, offset };
  children.push(role);
  writePids();
  child.on('exit', (code, signal) => {
    if (!stopping)
      log(
        `${name} exited (${signal ?? code}); the end of ${shown(file)}:\n${logTail(name).replace(/^/gm, '  | ')}`,
      );
  });
  return role;
}

/**
 * What the role's first log line since it started says, once `find` recognises it (its port); fails
 * at once, with the end of its log, when the role exits first.
 */
async function announced(role, find, ms) {
  const file = path.join(demoDir, `${role.name}.log`);
  const deadline = Date.now() + ms;
  for (;;) {
    const text = readFileSync(file).subarray(role.offset).toString('utf8');
    for (const line of text.split('\n')) {
      const found = find(line);
      if (found !== undefined) return found;
    }
    const gone = role.child.exitCode ?? role.child.signalCode;
    if (gone !== null)
      throw new Error(`${role.name} exited (${gone}) while starting (the end of its log is above)`);
    if (Date.now() > deadline)
      throw new Error(
        `${role.name} did not start within ${ms} ms; the end of ${shown(file)}:\n${logTail(role.name)}`,
      );
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The field `field` of a JSON log line whose message is `msg` (a port), else undefined. */
const jsonField = (msg, field) => (line) => {
  if (!line.startsWith('{')) return undefined;
  try {
    const entry = JSON.parse(line);
    return entry.msg === msg && typeof entry[field] === 'number' ? entry[field] : undefined;
  } catch {
    return undefined;
  }
};

async function waitFor(url, ms) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} did not answer within ${ms} ms`);
}

const DEMO = [
  { name: 'Acme Retail', account: '111122223333' },
  { name: 'Globex Labs', account: '444455556666' },
];
const PASSWORD = 'Blue-Ledger-Harbor-42';
const USERS = [
  { email: 'admin@acme.example', org: 0, role: 'admin' },
  { email: 'viewer@globex.example', org: 1, role: 'viewer' },
  { email: 'ops@costwatch.example', org: 'platform', role: 'operator' },
];

try {
  log((await run(['migrate', 'up'])).split('\n').at(-1));
  const sim = start('sim', ['sim', '--port', String(simPortWanted)]);
  simPort = await announced(
    sim,
    (line) => {
      const port = /AWS endpoint listening on http:\/\/[^\s/]+:(\d+)/.exec(line)?.[1];
      return port ? Number(port) : undefined;
    },
    60_000,
  );
  env.AWS_ENDPOINT_URL = cliEnv.AWS_ENDPOINT_URL = `http://127.0.0.1:${simPort}`;
  await waitFor(`http://127.0.0.1:${simPort}/_sim/health`, 60_000);
  await injectDemoAnomaly(`http://127.0.0.1:${simPort}`, DEMO[0].account);

  const existing = JSON.parse(await run(['org', 'list', '--json']));
  const orgs = [];
  for (const o of DEMO) {
    const found = existing.find((e) => e.name === o.name);
    if (found) {
      orgs.push({ id: found.id, externalId: found.external_id });
      continue;
    }
    const created = JSON.parse(
      await run([
        'org',
        'create',
        '--name',
        o.name,
        '--aws-account-id',
        o.account,
        '--role-arn',
        `arn:aws:iam::${o.account}:role/CostWatchRead`,
        '--json',
      ]),
    );
    orgs.push({ id: created.id, externalId: created.external_id });
  }
  // The simulated roles trust each organization's generated external id, as a customer's trust policy would.
  for (const [i, o] of orgs.entries()) {
    await fetch(`http://127.0.0.1:${simPort}/_sim/external-ids`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ accountId: DEMO[i].account, externalId: o.externalId }),
    });
  }
  const platform =
    existing.find((e) => e.kind === 'platform')?.id ??
    JSON.parse(await run(['org', 'create', '--platform', '--name', 'CostWatch operators', '--json'])).id;
  const demoOrgIds = orgs.map((o) => o.id);
  // Users name their organization by index into DEMO, or 'platform' (operators live there).
  const orgIds = { ...demoOrgIds, platform };
  // Every demo org tracks the `team` cost allocation tag (one more Cost Explorer query per window).
  for (const id of demoOrgIds) await run(['org', 'track', '--org', String(id), '--tags', 'team']);
  const users = await run(['user', 'list']);
  for (const u of USERS) {
    if (!users.includes(u.email)) {
      await run(['user', 'create', '--org', String(orgIds[u.org]), '--email', u.email, '--role', u.role], {
        input: `${PASSWORD}\n`,
      });
    }
  }

  const apiRole = start('api', ['api'], { PORT: String(apiPortWanted) });
  const roles = Object.keys(metricsPorts).map((name) =>
    start(name, [name.startsWith('worker') ? 'worker' : 'scheduler']),
  );
  apiPort = await announced(apiRole, jsonField('api listening', 'port'), 90_000);
  for (const role of roles) {
    const started = role.name === 'scheduler' ? 'scheduler started' : 'worker started';
    metricsPorts[role.name] = await announced(role, jsonField(started, 'metricsPort'), 90_000);
  }
  await waitFor(`http://127.0.0.1:${apiPort}/ready`, 90_000);
  for (const port of Object.values(metricsPorts)) await waitFor(`http://127.0.0.1:${port}/ready`, 90_000);
  writeEnvFile();

  // Every role (simulator included) reads the clock CLOCK_START pins, else the wall clock: ask it.
  const { today } = await (await fetch(`http://127.0.0.1:${simPort}/_sim/health`)).json();
  const day = (offset) =>
    new Date(Date.parse(`${today}T00:00:00Z`) + offset * 86_400_000).toISOString().slice(0, 10);
  log(`backfilling ${DEMO.length} organizations, ${day(-days)}..${today} (cost and CloudWatch data)...`);
  try {
    await run(['backfill', '--all', '--from', day(-days), '--to', today, '--wait', '--timeout', '10'], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
  } catch {
    if (!stopping)
      log(`some windows did not load; see \`costwatch org list\` and ${shown(demoDir)}/worker-*.log`);
  }
  if (stopping) await new Promise(() => undefined);

  log("refreshing each organization (the scheduler's refresh: restatement window, rollups, forecast)...");
  const refresh = await refreshDemoOrganizations(env, demoOrgIds, { timeoutMs: 300_000 });
  for (const line of refresh.lines) log(`  ${line}`);
  if (!refresh.ok) log('the refresh did not fully succeed; see the lines above and the worker logs');

  const api = `http://127.0.0.1:${apiPort}`;
  const login = await fetch(`${api}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'admin@acme.example', password: PASSWORD }),
  });
  const token = (await login.json()).access_token;
  const authorization = { authorization: `Bearer ${token}` };
  const daily = await fetch(`${api}/api/v1/costs/daily?from=${today}&to=${today}&group_by=service&limit=5`, {
    headers: authorization,
  });
  const body = await daily.json();
  const items = body.items ?? body.data ?? [];
  if (!daily.ok || items.length === 0)
    throw new Error(
      `the cost endpoint returned no data for today: ${daily.status} ${JSON.stringify(body).slice(0, 300)}`,
    );
  const summary = await (await fetch(`${api}/api/v1/costs/summary`, { headers: authorization })).json();
  const monthToDate = summary?.month_to_date?.total?.amount;
  if (!(Number(monthToDate) > 0))
    throw new Error(`the summary shows no month-to-date cost: ${JSON.stringify(summary).slice(0, 300)}`);
  // Budgets: a budget the forecast crosses at 80%, notified to a webhook receiver (scripts/demo-budgets.mjs).
  await (await import('./demo-budgets.mjs')).runBudgetsDemo({ api, token, log });
  const anomaly = await describeDemoAnomaly(api, token, today);

  process.stdout.write(`
CostWatch is running on local data (through ${today}).

  API            ${api}/api/v1   (OpenAPI: ${api}/api/v1/openapi.json)
  Bull Board     ${api}/admin/queues   (log in as ops@costwatch.example)
  AWS simulator  http://127.0.0.1:${simPort}   (request counter: /_sim/requests)
  Logs           ${shown(demoDir)}/*.log
${anomaly}

  Logins (password: ${PASSWORD})
    admin@acme.example     admin of Acme Retail
    viewer@globex.example  viewer of Globex Labs
    ops@costwatch.example  operator (every organization, Bull Board)

  Try:
    TOKEN=$(curl -s -X POST ${api}/api/v1/auth/login -H 'content-type: application/json' \\
      -d '{"email":"admin@acme.example","password":"${PASSWORD}"}' | sed 's/.*"access_token":"\\([^"]*\\)".*/\\1/')
    curl -s "${api}/api/v1/costs/summary" -H "authorization: Bearer $TOKEN"
    curl -s "${api}/api/v1/costs/daily?from=${day(-30)}&to=${today}&group_by=service" -H "authorization: Bearer $TOKEN"
    curl -s "${api}/api/v1/costs/top?from=${day(-30)}&to=${today}&dimension=tag:team" -H "authorization: Bearer $TOKEN"

  The CLI against this demo (its environment is in ${shown(envFile)}):
    set -a; . ${shown(envFile)}; set +a
    node bin/costwatch.mjs org list
    node bin/costwatch.mjs doctor --metrics-url http://127.0.0.1:${metricsPorts['worker-1']}/metrics
    node bin/costwatch.mjs backfill --all --from ${day(-7)} --to ${today} --wait

`);
  if (opts.smoke) {
    log(
      `smoke check passed: ${items.length} rows for today, month to date ${monthToDate} ${summary.month_to_date.total.unit ?? ''}`,
    );
    await stopAll(0);
  } else {
    log('press Ctrl-C to stop');
  }
} catch (error) {
  if (!stopping) {
    log(error instanceof Error ? error.message : String(error));
    await stopAll(1);
  }
}
