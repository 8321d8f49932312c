/**
 * `costwatch doctor`, run as the real CLI against real services, each failure provoked for real:
 * a healthy deployment, a stopped Redis, a peer that accepts but never answers, a missing
 * variable, pending migrations, and organizations without AWS permissions (simulator).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { startSimulator, type RunningSimulator } from '../sim/server.js';
import { pinnedClockEnv } from './helpers/clock.js';

// The doctor and the simulator share a pinned clock. Years after the real calendar, so a doctor
// that read the wall clock would send Cost Explorer a forecast of the simulator's past and fail.
const DOCTOR_NOW = '2030-06-15T06:00:00Z';
import { createOrganization } from '../database/repositories/organizations.repository.js';
import { startHealthServer, type HealthServer } from '../lib/health-server.js';
import type { DoctorReport } from '../cli/doctor/run.js';
import { REDIS_CLI } from '../cli/doctor/check.js';
import { baseEnv, closedPort, runCli, waitUntil } from './ops-support.js';

const REDIS_URL = process.env.REDIS_URL ?? '';
const JWT = process.env.JWT_SECRET_KEY ?? 'ops-test-secret-ops-test-secret-0123456789';

function withoutKey(env: Record<string, string>, key: string): Record<string, string> {
  const copy = { ...env };
  delete copy[key];
  return copy;
}

function parseReport(stdout: string): DoctorReport {
  return JSON.parse(stdout) as DoctorReport;
}

function find(report: DoctorReport, name: string) {
  const found = report.checks.find((c) => c.name === name);
  assert.ok(found, `no check named ${name} in ${report.checks.map((c) => c.name).join(', ')}`);
  return found;
}

const SMALL = [
  '--api-replicas',
  '1',
  '--worker-replicas',
  '1',
  '--scheduler-replicas',
  '1',
  '--timeout',
  '3000',
];

describe('costwatch doctor', { timeout: 400_000 }, () => {
  let db: TestDatabase;
  let sim: RunningSimulator;
  let metrics: HealthServer;
  let env: Record<string, string>;

  before(async () => {
    db = await createTestDatabase();
    sim = await startSimulator({ port: 0, clockStart: DOCTOR_NOW, clockFrozen: true });
    metrics = await startHealthServer({ host: '127.0.0.1', port: 0, readiness: async () => null });
    env = baseEnv({
      DATABASE_URL: db.url,
      REDIS_URL,
      JWT_SECRET_KEY: JWT,
      QUEUE_PREFIX: `cwops${randomBytes(4).toString('hex')}`,
      AWS_ENDPOINT_URL: sim.url,
      ALLOW_INSECURE_AWS_ENDPOINT: 'true',
      DB_POOL_SIZE: '2',
      LOG_LEVEL: 'silent',
      ...pinnedClockEnv(DOCTOR_NOW),
    });
  });

  after(async () => {
    await metrics?.close();
    await sim?.close();
    await db?.drop();
  });

  test('a healthy deployment passes (exit 0) and reports the AWS requests it made', async () => {
    sim.control.registerExternalId('111122223333', 'ext-healthy-1');
    const org = await createOrganization(db.pool, {
      name: 'healthy',
      awsAccountId: '111122223333',
      roleArn: 'arn:aws:iam::111122223333:role/CostWatchRead',
      externalId: 'ext-healthy-1',
    });
    sim.control.resetCounts();
    const run = await runCli(
      ['doctor', '--json', ...SMALL, '--metrics-url', `http://127.0.0.1:${metrics.port}/metrics`],
      env,
    );
    const report = parseReport(run.stdout);
    const failed = report.checks.filter((c) => c.status === 'fail');
    assert.deepEqual(failed, [], `unexpected failures: ${JSON.stringify(failed, null, 2)}`);
    assert.equal(run.code, 0, run.stderr);
    for (const name of [
      'variables',
      'postgres',
      'migrations',
      'connection headroom',
      'ce daily cap',
      'redis',
      'redis eviction policy',
      'queue fetch-costs',
      `aws org ${org.id} (healthy)`,
    ]) {
      assert.equal(find(report, name).status, 'pass', name);
    }
    assert.match(
      find(report, 'connection headroom').detail,
      /\(1 api \+ 1 worker\) x DB_POOL_SIZE 2 \+ 1 scheduler x 2 \+ 1 worker x 2 page checkpoints \+ 10 reserve = 18 vs max_connections \d+/,
    );
    assert.match(
      find(report, `aws org ${org.id} (healthy)`).detail,
      /sts:AssumeRole ok; sts:GetCallerIdentity ok; ce:GetCostAndUsage ok; ce:GetCostForecast ok; cloudwatch:ListMetrics ok; cloudwatch:GetMetricData ok/,
    );
    assert.equal(find(report, `metrics http://127.0.0.1:${metrics.port}/metrics`).status, 'pass');
    // What the doctor says it sent is what "AWS" received: AssumeRole, the account check + one call per permission.
    assert.deepEqual(report.aws?.byOperation, {
      AssumeRole: 1,
      GetCallerIdentity: 1,
      GetCostAndUsage: 1,
      GetCostForecast: 1,
      ListMetrics: 1,
      GetMetricData: 1,
    });
    assert.equal(report.aws?.estimatedDollars, 0.02);
    assert.equal(sim.control.requestCounts().total, 6);
    // Every probe was a valid request: its dates are the simulator's today (DOCTOR_NOW), not the calendar's.
    assert.deepEqual(
      sim.control.requestCounts().errors,
      {},
      'no probe was refused (e.g. a forecast of the past)',
    );

    // The text output: one line per check with its symbol, the summary with the request count.
    const text = await runCli(
      [
        'doctor',
        ...SMALL,
        '--org',
        String(org.id),
        '--metrics-url',
        `http://127.0.0.1:${metrics.port}/metrics`,
      ],
      env,
    );
    assert.equal(text.code, 0, text.stdout + text.stderr);
    assert.match(text.stdout, /^\[ok\] postgres: postgresql:\/\/.*:\*\*\*@/m);
    assert.match(text.stdout, /AWS requests made by the doctor: 6 .*estimated cost \$0\.02/);
    assert.ok(
      !text.stdout.includes(new URL(db.url).password || '\u0000'),
      'the database password is printed',
    );
  });

  test('a stopped Redis is found, with the fix', async (t) => {
    const port = await closedPort();
    const server = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    const spawned = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.once('spawn', () => resolve(true));
    });
    if (!spawned) {
      t.diagnostic('redis-server not installed: using a closed port only');
    } else {
      try {
        await waitUntil('throwaway redis answers', async () => {
          const probe = new Redis(`redis://127.0.0.1:${port}`, {
            lazyConnect: true,
            retryStrategy: () => null,
            maxRetriesPerRequest: 0,
          });
          probe.on('error', () => undefined);
          try {
            await probe.connect();
            return (await probe.ping()) === 'PONG';
          } finally {
            probe.disconnect();
          }
        });
        const up = parseReport(
          (
            await runCli(['doctor', '--json', '--skip-aws', ...SMALL], {
              ...env,
              REDIS_URL: `redis://127.0.0.1:${port}`,
            })
          ).stdout,
        );
        assert.equal(find(up, 'redis').status, 'pass');
        // The throwaway server runs without AOF: a warning, not a failure.
        assert.equal(find(up, 'redis persistence').status, 'warn');
        assert.match(find(up, 'redis persistence').fix ?? '', /CONFIG SET appendonly yes/);
      } finally {
        server.kill('SIGTERM');
        await new Promise((resolve) => server.once('exit', resolve));
      }
    }
    const run = await runCli(['doctor', '--json', '--skip-aws', ...SMALL], {
      ...env,
      REDIS_URL: `redis://127.0.0.1:${port}`,
    });
    assert.equal(run.code, 1);
    const report = parseReport(run.stdout);
    const redis = find(report, 'redis');
    assert.equal(redis.status, 'fail');
    assert.match(redis.detail, /cannot connect to redis:\/\/127\.0\.0\.1:\d+.*ECONNREFUSED/);
    assert.ok((redis.fix ?? '').includes(`test it: ${REDIS_CLI} ping`), redis.fix ?? '');
    assert.match(redis.fix ?? '', /kubectl -n costwatch get pods -l app=redis/);
    assert.equal(find(report, 'queues').status, 'skip');
    assert.equal(find(report, 'postgres').status, 'pass', 'the other checks still run');
    t.diagnostic(`stopped redis: ${redis.detail}`);
  });

  test('a peer that accepts connections but never answers does not hang the doctor', async () => {
    const sockets = new Set<Socket>();
    const silent: Server = createServer((socket) => {
      sockets.add(socket); // accept, then say nothing
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const address = silent.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    try {
      const run = await runCli(
        [
          'doctor',
          '--json',
          '--skip-aws',
          ...SMALL.slice(0, -2),
          '--timeout',
          '1000',
          '--metrics-url',
          `http://127.0.0.1:${port}/metrics`,
        ],
        {
          ...env,
          REDIS_URL: `redis://127.0.0.1:${port}`,
          DATABASE_URL: `postgresql://u:p@127.0.0.1:${port}/x`,
        },
        30_000,
      );
      assert.equal(run.code, 1);
      const report = parseReport(run.stdout);
      assert.equal(find(report, 'postgres').status, 'fail');
      assert.equal(find(report, 'redis').status, 'fail');
      assert.equal(find(report, `metrics http://127.0.0.1:${port}/metrics`).status, 'fail');
      assert.ok(report.durationMs < 15_000, `took ${report.durationMs} ms`);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  test("JWT_SECRET_KEY is the api's: absent in a worker pod is no failure; a malformed one is named, with where to set it", async () => {
    // Issue 12: workers and the scheduler no longer receive the key, and the doctor runs in a worker pod.
    const missing = parseReport(
      (await runCli(['doctor', '--json', '--skip-aws', ...SMALL], withoutKey(env, 'JWT_SECRET_KEY'))).stdout,
    );
    assert.equal(find(missing, 'variables').status, 'pass');
    assert.equal(find(missing, 'jwt key').status, 'skip');
    const run = await runCli(['doctor', '--skip-aws', ...SMALL], { ...env, JWT_SECRET_KEY: 'too-short' });
    assert.equal(run.code, 1, run.stdout);
    assert.match(run.stdout, /^\[FAIL\] env JWT_SECRET_KEY: JWT_SECRET_KEY: must be at least 32 characters/m);
    assert.match(
      run.stdout,
      /fix: JWT_SECRET_KEY lives in the secret costwatch-secrets: kubectl -n costwatch get secret costwatch-secrets/,
    );
    assert.match(run.stdout, /kubectl -n costwatch rollout restart deployment/);
    assert.match(run.stdout, /^\[ok\] postgres: /m);
  });

  test('a malformed DATABASE_URL or REDIS_URL is called malformed, not "not set"', async () => {
    const report = parseReport(
      (
        await runCli(['doctor', '--json', '--skip-aws', ...SMALL], {
          ...env,
          DATABASE_URL: 'postgres//costwatch:secret@db:5432/costwatch',
          REDIS_URL: 'localhost:6379',
        })
      ).stdout,
    );
    const postgres = find(report, 'postgres');
    assert.equal(postgres.status, 'fail');
    assert.match(postgres.detail, /^DATABASE_URL is set but malformed/);
    assert.doesNotMatch(postgres.detail, /not set/);
    assert.match(postgres.fix ?? '', /format: postgresql:\/\/user:password@host:port\/database/);
    assert.equal(find(report, 'env DATABASE_URL').status, 'fail');
    const redis = find(report, 'redis');
    assert.match(redis.detail, /^REDIS_URL is set but malformed/);
    assert.equal(find(report, 'env REDIS_URL').status, 'fail');
  });

  test('pending migrations of a fresh database are listed, with the migrate commands', async () => {
    const fresh = await createTestDatabase({ migrate: false });
    try {
      const run = await runCli(['doctor', '--json', ...SMALL], { ...env, DATABASE_URL: fresh.url });
      assert.equal(run.code, 1);
      const report = parseReport(run.stdout);
      const migrations = find(report, 'migrations');
      assert.equal(migrations.status, 'fail');
      // Every migration of database/migrations is pending on a fresh database, in order.
      const names = [
        ...new Set(
          readdirSync(new URL('../database/migrations/', import.meta.url))
            .filter((f) => f.endsWith('.up.sql'))
            .map((f) => f.replace(/\.up\.sql$/, '')),
        ),
      ].sort();
      assert.ok(
        migrations.detail.startsWith(
          `${names.length} of ${names.length} pending: ${names.slice(0, 5).join(', ')}`,
        ),
        migrations.detail,
      );
      assert.match(migrations.fix ?? '', /costwatch migrate up/);
      assert.match(migrations.fix ?? '', /job\/costwatch-migrate/);
      assert.match(find(report, 'aws').detail, /organizations table is missing/);
    } finally {
      await fresh.drop();
    }
  });

  test('organizations without AWS permissions: the failure names the IAM action and the remedy', async () => {
    const deniedRole = await createOrganization(db.pool, {
      name: 'denied-role',
      awsAccountId: '222233334444',
      roleArn: 'arn:aws:iam::222233334444:role/CostWatchRead',
    });
    const deniedOwn = await createOrganization(db.pool, {
      name: 'denied-own',
      awsAccountId: '333344445555',
      selfIdentity: true,
    });
    // Calls without an assumed role are made as the simulator's default account.
    sim.control.setOptions({
      accessDeniedAccounts: ['222233334444', '333344445555'],
      defaultAccountId: '333344445555',
    });
    try {
      const run = await runCli(['doctor', '--json', ...SMALL], env);
      assert.equal(run.code, 1);
      const report = parseReport(run.stdout);
      const role = find(report, `aws org ${deniedRole.id} (denied-role)`);
      assert.equal(role.status, 'fail');
      assert.match(role.detail, /^sts:AssumeRole denied/);
      assert.match(
        role.fix ?? '',
        /could not assume arn:aws:iam::222233334444:role\/CostWatchRead.*sts:AssumeRole/,
      );
      assert.match(role.fix ?? '', new RegExp(`costwatch org enable --id ${deniedRole.id}`));
      const own = find(report, `aws org ${deniedOwn.id} (denied-own)`);
      assert.equal(own.status, 'fail');
      assert.match(own.detail, /ce:GetCostAndUsage denied/);
      assert.match(own.fix ?? '', /Allow ce:GetCostAndUsage to CostWatch's own role/);
      assert.match(own.fix ?? '', /docs\/SECURITY\.md/);
      const healthy = report.checks.find((c) => c.name.endsWith('(healthy)'));
      assert.equal(healthy?.status, 'pass', 'one organization without access does not fail the others');

      // --org limits the check (and its cost) to one organization.
      sim.control.resetCounts();
      const one = parseReport(
        (await runCli(['doctor', '--json', ...SMALL, '--org', String(deniedRole.id)], env)).stdout,
      );
      assert.deepEqual(
        one.checks.filter((c) => c.name.startsWith('aws')).map((c) => c.name),
        [`aws org ${deniedRole.id} (denied-role)`],
      );
      assert.deepEqual(one.aws?.byOperation, { AssumeRole: 1 });
      assert.equal(sim.control.requestCounts().total, 1);

      const skipped = parseReport((await runCli(['doctor', '--json', ...SMALL, '--skip-aws'], env)).stdout);
      assert.equal(skipped.aws, null);
      assert.equal(find(skipped, 'aws').status, 'skip');
    } finally {
      sim.control.setOptions({ accessDeniedAccounts: [], defaultAccountId: '123456789012' });
    }
  });
});
