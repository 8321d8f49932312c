// `npm run demo`: CostWatch end to end on this machine. Provisions Postgres and Redis, migrates,
// starts the AWS simulator, the api, the scheduler and two workers, creates demo organizations and
// users, backfills their last 90 days, then prints the API URL, a login, an example curl and the
// Bull Board URL. Ctrl-C stops everything it started (Postgres and Redis keep running: `npm run
// stack:down` stops them). `npm run demo -- --smoke` exits after checking the API serves data.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ensureNpmDependencies, root, stackUp } from './ensure-deps.mjs';

const smoke = process.argv.includes('--smoke');
const log = (line) => process.stderr.write(`demo: ${line}\n`);

ensureNpmDependencies();
const stack = stackUp();
const logDir = path.join(root, '.costwatch', 'demo');
mkdirSync(logDir, { recursive: true });

async function freePort(preferred) {
  const tryPort = (port) =>
    new Promise((resolve) => {
      const server = net.createServer();
      server.once('error', () => resolve(null));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(server.address()?.port ?? port)));
    });
  return (await tryPort(preferred)) ?? (await tryPort(0));
}

const simPort = await freePort(4566);
const apiPort = await freePort(8002);
const env = {
  ...process.env,
  DATABASE_URL: stack.DATABASE_URL,
  REDIS_URL: stack.REDIS_URL,
  JWT_SECRET_KEY: stack.JWT_SECRET_KEY,
  // The simulator is the demo's AWS; the SDK signs with these dummy keys, roles are assumed through it.
  AWS_ENDPOINT_URL: `http://127.0.0.1:${simPort}`,
  AWS_ACCESS_KEY_ID: 'AKIACOSTWATCHDEMO',
  AWS_SECRET_ACCESS_KEY: 'costwatch-demo-secret',
  AWS_REGION: 'us-east-1',
  QUEUE_PREFIX: 'costwatch-demo',
  PORT: String(apiPort),
  HOST: '127.0.0.1',
  METRICS_PORT: '0',
  LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
  CE_RATE_PER_ORG: '50',
  CW_RATE_PER_ORG: '100',
  REFRESH_CRON: '*/15 * * * *',
};
const cli = path.join(root, 'bin', 'costwatch.mjs');

function run(args, input) {
  const result = spawnSync(process.execPath, [cli, ...args], { env, encoding: 'utf8', input });
  if (result.status !== 0) {
    process.stderr.write(result.stdout + result.stderr);
    throw new Error(`costwatch ${args.join(' ')} failed`);
  }
  return result.stdout.trim();
}

const children = [];
function start(name, args) {
  const out = openSync(path.join(logDir, `${name}.log`), 'a');
  const child = spawn(process.execPath, [cli, ...args], { env, stdio: ['ignore', out, out] });
  children.push({ name, child });
  child.on('exit', (code, signal) => {
    if (!stopping) log(`${name} exited (${signal ?? code}); see .costwatch/demo/${name}.log`);
  });
  return child;
}

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

let stopping = false;
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
  log('stopped (Postgres and Redis keep running; `npm run stack:down` stops them)');
  process.exit(code);
}
process.on('SIGINT', () => void stopAll(0));
process.on('SIGTERM', () => void stopAll(0));

const DEMO = [
  { name: 'Acme Retail', account: '111122223333', externalId: 'acme-costwatch-demo' },
  { name: 'Globex Labs', account: '444455556666', externalId: 'globex-costwatch-demo' },
];
const PASSWORD = 'Blue-Ledger-Harbor-42';
const USERS = [
  { email: 'admin@acme.example', org: 0, role: 'admin' },
  { email: 'viewer@globex.example', org: 1, role: 'viewer' },
  { email: 'ops@costwatch.example', org: 0, role: 'operator' },
];

try {
  log(run(['migrate', 'up']).split('\n').at(-1));
  start('sim', ['sim', '--port', String(simPort), ...DEMO.flatMap((o) => ['--external-id', `${o.account}=${o.externalId}`])]);
  await waitFor(`http://127.0.0.1:${simPort}/_sim/health`, 30_000);

  const existing = JSON.parse(run(['org', 'list', '--json']));
  const orgIds = DEMO.map((o) => {
    const found = existing.find((e) => e.name === o.name);
    if (found) return found.id;
    return Number(
      run(['org', 'create', '--name', o.name, '--aws-account-id', o.account, '--role-arn', `arn:aws:iam::${o.account}:role/CostWatchRead`, '--external-id', o.externalId]),
    );
  });
  // Every demo org tracks the `team` cost allocation tag (one more Cost Explorer query per window).
  for (const id of orgIds) run(['org', 'track', '--org', String(id), '--tags', 'team']);
  const users = run(['user', 'list']);
  for (const u of USERS) {
    if (!users.includes(u.email)) run(['user', 'create', '--org', String(orgIds[u.org]), '--email', u.email, '--role', u.role], `${PASSWORD}\n`);
  }

  start('api', ['api']);
  start('scheduler', ['scheduler']);
  start('worker-1', ['worker']);
  start('worker-2', ['worker']);
  await waitFor(`http://127.0.0.1:${apiPort}/ready`, 60_000);

  const today = new Date().toISOString().slice(0, 10);
  const day = (offset) => new Date(Date.parse(`${today}T00:00:00Z`) + offset * 86_400_000).toISOString().slice(0, 10);
  log(`backfilling ${DEMO.length} organizations, ${day(-90)}..${day(-1)} (cost and CloudWatch data)...`);
  const backfill = spawnSync(process.execPath, [cli, 'backfill', '--all', '--from', day(-90), '--to', day(-1), '--wait', '--timeout', '10'], {
    env,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  if (backfill.status !== 0) log('some windows did not load; see `costwatch org list` and .costwatch/demo/worker-*.log');

  const api = `http://127.0.0.1:${apiPort}`;
  const login = await fetch(`${api}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'admin@acme.example', password: PASSWORD }),
  });
  const token = (await login.json()).access_token;
  const daily = await fetch(`${api}/api/v1/costs/daily?from=${day(-30)}&to=${day(-1)}&group_by=service&limit=5`, {
    headers: { authorization: `Bearer ${token}` },
  });
  const body = await daily.json();
  const items = body.items ?? body.data ?? [];
  if (!daily.ok || items.length === 0) throw new Error(`the cost endpoint returned no data: ${daily.status} ${JSON.stringify(body).slice(0, 300)}`);

  process.stdout.write(`
CostWatch is running on local data.

  API            ${api}/api/v1   (OpenAPI: ${api}/api/v1/openapi.json)
  Bull Board     ${api}/admin/queues   (log in as ops@costwatch.example)
  AWS simulator  http://127.0.0.1:${simPort}   (request counter: /_sim/requests)
  Logs           .costwatch/demo/*.log

  Logins (password: ${PASSWORD})
    admin@acme.example     admin of Acme Retail
    viewer@globex.example  viewer of Globex Labs
    ops@costwatch.example  operator (every organization, Bull Board)

  Try:
    TOKEN=$(curl -s -X POST ${api}/api/v1/auth/login -H 'content-type: application/json' \\
      -d '{"email":"admin@acme.example","password":"${PASSWORD}"}' | sed 's/.*"access_token":"\\([^"]*\\)".*/\\1/')
    curl -s "${api}/api/v1/costs/summary" -H "authorization: Bearer $TOKEN"
    curl -s "${api}/api/v1/costs/daily?from=${day(-30)}&to=${day(-1)}&group_by=service" -H "authorization: Bearer $TOKEN"
    curl -s "${api}/api/v1/costs/top?from=${day(-30)}&to=${day(-1)}&dimension=tag:team" -H "authorization: Bearer $TOKEN"

`);
  if (smoke) {
    log(`smoke check passed: ${items.length} daily rows served from rollups`);
    await stopAll(0);
  } else {
    log('press Ctrl-C to stop');
  }
} catch (error) {
  log(error instanceof Error ? error.message : String(error));
  await stopAll(1);
}
