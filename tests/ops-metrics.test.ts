/**
 * `promtool check metrics` on the live /metrics of each role (worker, scheduler, api) after some
 * work ran, so counters and histograms carry labels. Skipped with a message without promtool
 * (`npm test` installs Debian's prometheus package, which has it, when run as root).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createTestDatabase } from './helpers/db.js';
import { startSimulator } from '../sim/server.js';
import { createOrganization } from '../database/repositories/organizations.repository.js';
import { createRedis } from '../lib/redis.js';
import { createQueues } from '../producers/queues.js';
import { enqueueBackfill } from '../producers/enqueue.js';
import { addDays, todayUtc } from '../lib/dates.js';
import { baseEnv, startRole, waitUntil, type RunningRole } from './ops-support.js';
import { discardQueues } from './helpers/queues.js';
import { pinnedClockEnv, TEST_NOW } from './helpers/clock.js';

const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
const PROMTOOL_MISSING = promtool.error
  ? 'promtool not installed (apt-get install prometheus, or run `npm test` as root)'
  : false;

/** Pipes a scrape through `promtool check metrics`; resolves with its exit code and output. */
function promtoolCheck(text: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
    child.stdin.end(text);
  });
}

async function scrape(url: string): Promise<string> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  assert.equal(response.status, 200);
  return response.text();
}

describe('promtool check metrics on every role', { timeout: 180_000, skip: PROMTOOL_MISSING }, () => {
  test('worker, scheduler and api expose lint-clean metrics after real work', async (t) => {
    const db = await createTestDatabase();
    // The simulator and the spawned roles read one pinned clock (TEST_NOW).
    const sim = await startSimulator({ port: 0, clockStart: TEST_NOW, clockFrozen: true });
    const prefix = `cwops${randomBytes(4).toString('hex')}`;
    const redis = createRedis(process.env.REDIS_URL ?? '', 'producer');
    const queues = createQueues(redis, { prefix, attempts: 3, backoffMs: 100 });
    const env = baseEnv({
      DATABASE_URL: db.url,
      REDIS_URL: process.env.REDIS_URL,
      JWT_SECRET_KEY: process.env.JWT_SECRET_KEY ?? 'ops-test-secret-ops-test-secret-0123456789',
      QUEUE_PREFIX: prefix,
      AWS_ENDPOINT_URL: sim.url,
      ...pinnedClockEnv(TEST_NOW),
      ALLOW_INSECURE_AWS_ENDPOINT: 'true',
      METRICS_PORT: '0',
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      CE_RATE_PER_ORG: '100',
      CW_RATE_PER_ORG: '200',
    });
    const roles: RunningRole[] = [];
    try {
      const org = await createOrganization(db.pool, {
        name: 'metrics',
        awsAccountId: '567890123456',
        roleArn: 'arn:aws:iam::567890123456:role/CostWatchRead',
      });
      const worker = startRole(['worker'], env);
      const scheduler = startRole(['scheduler'], env);
      const api = startRole(['api'], env);
      roles.push(worker, scheduler, api);
      const workerPort = Number((await worker.waitForLog((l) => l.msg === 'worker started')).metricsPort);
      const schedulerPort = Number(
        (await scheduler.waitForLog((l) => l.msg === 'scheduler started')).metricsPort,
      );
      const apiPort = Number((await api.waitForLog((l) => l.msg === 'api listening')).port);

      // Work: a backfill (fetches, AWS requests, rows, rollups) and a few API requests (200, 401, 404).
      const to = addDays(todayUtc(new Date(TEST_NOW)), -3);
      const { windows } = await enqueueBackfill(
        queues,
        [org.id],
        { from: addDays(to, -10), to },
        31,
        'bf-metrics',
      );
      await waitUntil(
        'backfill fetched and rolled up',
        async () => {
          const { rows } = await db.pool.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM fetch_runs WHERE organization_id = $1 AND status = 'succeeded' AND rolled_up_at IS NOT NULL`,
            [org.id],
          );
          return (rows[0]?.n ?? 0) >= windows * 2;
        },
        60_000,
        200,
      );
      for (const path of [
        '/health',
        '/ready',
        '/api/v1/costs/daily?from=2026-01-01&to=2026-01-02',
        '/nope',
      ]) {
        await fetch(`http://127.0.0.1:${apiPort}${path}`).then((r) => r.arrayBuffer());
      }

      const endpoints = {
        worker: `http://127.0.0.1:${workerPort}/metrics`,
        scheduler: `http://127.0.0.1:${schedulerPort}/metrics`,
        api: `http://127.0.0.1:${apiPort}/metrics`,
      };
      const expected: Record<string, RegExp[]> = {
        worker: [
          /^costwatch_jobs_total\{queue="fetch-costs",outcome="completed"\} [1-9]/m,
          /^costwatch_aws_requests_total\{service="ce",operation="GetCostAndUsage"\} [1-9]/m,
          /^costwatch_rows_loaded_total\{source="costs"\} [1-9]/m,
          /^costwatch_job_duration_seconds_bucket\{le="[^"]+",queue="rollups"\}/m,
          /^costwatch_notifications_undelivered 0$/m,
        ],
        scheduler: [
          /^costwatch_organizations\{status="active"\} 1/m,
          /^costwatch_queue_jobs\{queue="fetch-costs",state="waiting"\}/m,
        ],
        api: [
          /^http_requests_total\{method="GET",route="[^"]+",status="(200|401|404)"\} [1-9]/m,
          /^http_request_duration_seconds_bucket\{/m,
        ],
      };
      for (const [role, url] of Object.entries(endpoints)) {
        const text = await scrape(url);
        for (const pattern of expected[role] ?? []) assert.match(text, pattern, `${role} /metrics`);
        const result = await promtoolCheck(text);
        t.diagnostic(
          `${role}: promtool check metrics exit ${result.code}${result.output.trim() ? `: ${result.output.trim()}` : ''}`,
        );
        assert.equal(result.code, 0, `promtool check metrics on the ${role} (${url}):\n${result.output}`);
      }
    } finally {
      for (const role of roles) role.child.kill('SIGTERM');
      await Promise.all(roles.map((r) => r.exited(30_000).catch(() => r.kill())));
      await discardQueues(queues);
      redis.disconnect();
      await sim.close();
      await db.drop();
    }
  });
});
