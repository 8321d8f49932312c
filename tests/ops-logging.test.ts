/**
 * Logs: every role writes pino JSON lines; worker lines carry job ids; and at LOG_LEVEL=debug no
 * secret (JWT_SECRET_KEY, the DATABASE_URL and REDIS_URL passwords, the Authorization header and
 * access token, a user's password, AWS secret keys, an organization's external id) appears in any
 * role's output, nor in `costwatch doctor`'s.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createTestDatabase } from './helpers/db.js';
import { startSimulator } from '../sim/server.js';
import { createOrganization } from '../database/repositories/organizations.repository.js';
import { createUser } from '../database/repositories/users.repository.js';
import { hashPassword } from '../api/auth/passwords.js';
import { createRedis } from '../lib/redis.js';
import { createQueues } from '../producers/queues.js';
import { enqueueBackfill } from '../producers/enqueue.js';
import { addDays, todayUtc } from '../lib/dates.js';
import { baseEnv, runCli, startRole, waitUntil, type RunningRole } from './ops-support.js';
import { discardQueues } from './helpers/queues.js';
import { pinnedClockEnv, TEST_NOW } from './helpers/clock.js';

describe('logs', { timeout: 180_000 }, () => {
  test('JSON lines with job ids, and no secret in any role at LOG_LEVEL=debug', async (t) => {
    const db = await createTestDatabase();
    // The simulator and the spawned roles read one pinned clock (TEST_NOW).
    const sim = await startSimulator({ port: 0, clockStart: TEST_NOW, clockFrozen: true });
    const prefix = `cwops${randomBytes(4).toString('hex')}`;
    const redisUrl = process.env.REDIS_URL ?? '';
    const redis = createRedis(redisUrl, 'producer');
    const queues = createQueues(redis, { prefix, attempts: 2, backoffMs: 50 });
    const jwt = `jwt-${randomBytes(24).toString('hex')}`;
    const awsSecret = `aws-secret-${randomBytes(12).toString('hex')}`;
    const externalId = `ext-${randomBytes(8).toString('hex')}`;
    const userPassword = `pw-${randomBytes(12).toString('hex')}`;
    const env = baseEnv({
      DATABASE_URL: db.url,
      REDIS_URL: redisUrl,
      JWT_SECRET_KEY: jwt,
      AWS_SECRET_ACCESS_KEY: awsSecret,
      QUEUE_PREFIX: prefix,
      AWS_ENDPOINT_URL: sim.url,
      ...pinnedClockEnv(TEST_NOW),
      ALLOW_INSECURE_AWS_ENDPOINT: 'true',
      METRICS_PORT: '0',
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'debug',
      CE_RATE_PER_ORG: '100',
      CW_RATE_PER_ORG: '200',
      RETRY_BACKOFF_MS: '50',
    });
    const roles: RunningRole[] = [];
    try {
      sim.control.registerExternalId('678901234567', externalId);
      const org = await createOrganization(db.pool, {
        name: 'logs',
        awsAccountId: '678901234567',
        roleArn: 'arn:aws:iam::678901234567:role/CostWatchRead',
        externalId,
      });
      const denied = await createOrganization(db.pool, {
        name: 'logs-denied',
        awsAccountId: '789012345678',
        roleArn: 'arn:aws:iam::789012345678:role/CostWatchRead',
      });
      sim.control.setOptions({ accessDeniedAccounts: ['789012345678'] });
      await createUser(db.pool, {
        organizationId: org.id,
        email: 'logs@example.com',
        passwordHash: await hashPassword(userPassword, 4),
        role: 'admin',
      });

      const worker = startRole(['worker'], env);
      const scheduler = startRole(['scheduler'], env);
      const api = startRole(['api'], env);
      roles.push(worker, scheduler, api);
      await worker.waitForLog((l) => l.msg === 'worker started');
      await scheduler.waitForLog((l) => l.msg === 'scheduler started');
      const base = `http://127.0.0.1:${Number((await api.waitForLog((l) => l.msg === 'api listening')).port)}`;

      // Worker: fetches that succeed, and fetches that AWS denies (error logs with the remedy).
      const to = addDays(todayUtc(new Date(TEST_NOW)), -3);
      const { windows } = await enqueueBackfill(
        queues,
        [org.id, denied.id],
        { from: addDays(to, -5), to },
        31,
        'bf-logs',
      );
      // Every fetch job finished in BullMQ: completed or failed for good. Runs are not what to count:
      // once one job of the denied org records the denial, the org is stopped and its other jobs that
      // start after that are skipped without a run (which of its two jobs runs first is a race).
      const fetchQueues = [queues.fetchCosts, queues.fetchMetrics];
      const finishedJobs = async (backfillId: string) => {
        const jobs = await Promise.all(fetchQueues.map((q) => q.getJobs(['completed', 'failed'])));
        return jobs.flat().filter((j) => (j.data as { backfillId?: string }).backfillId === backfillId);
      };
      const fetchesFinished = (backfillId: string, jobs: number) =>
        waitUntil(
          `every fetch job of ${backfillId} finished`,
          async () => (await finishedJobs(backfillId)).length >= jobs,
          60_000,
          200,
        );
      await fetchesFinished('bf-logs', windows * 2);
      // Runs of backfills only (a refresh tick of REFRESH_CRON could fire during the test).
      const runs = async (orgId: number) =>
        (
          await db.pool.query<{ source: string; status: string; job_id: string }>(
            `SELECT source, status, job_id FROM fetch_runs WHERE organization_id = $1 AND trigger = 'backfill' ORDER BY id`,
            [orgId],
          )
        ).rows;
      assert.deepEqual((await runs(org.id)).map((r) => `${r.source} ${r.status}`).sort(), [
        'costs succeeded',
        'metrics succeeded',
      ]);
      const deniedRuns = await runs(denied.id);
      assert.ok(deniedRuns.length >= 1, 'the denied org recorded its denial');
      assert.ok(
        deniedRuns.every((r) => r.status === 'failed'),
        `denied org runs: ${JSON.stringify(deniedRuns)}`,
      );
      // A later backfill of the stopped org: every job is skipped (no run, no AWS request) and finishes.
      const deniedRequests = () => {
        const seen = sim.control.requestCounts().byAccount['789012345678'] ?? {};
        return Object.values(seen).reduce((s, n) => s + n, 0);
      };
      const requestsBefore = deniedRequests();
      const later = await enqueueBackfill(
        queues,
        [denied.id],
        { from: addDays(to, -10), to: addDays(to, -5) },
        31,
        'bf-logs-stopped',
      );
      await fetchesFinished('bf-logs-stopped', later.windows * 2);
      assert.equal((await runs(denied.id)).length, deniedRuns.length, 'skipped windows record no run');
      assert.equal(deniedRequests(), requestsBefore, 'a stopped org is not asked again');
      // API: a failed and a successful login, authenticated and forged-token requests.
      const login = (password: string) =>
        fetch(`${base}/api/v1/auth/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ email: 'logs@example.com', password }),
        });
      assert.equal((await login(`${userPassword}-wrong`)).status, 401);
      const ok = await login(userPassword);
      assert.equal(ok.status, 200);
      const token = ((await ok.json()) as { access_token: string }).access_token;
      for (const auth of [`Bearer ${token}`, `Bearer ${token}x`]) {
        await fetch(`${base}/api/v1/costs/daily?from=2026-01-01&to=2026-01-02`, {
          headers: { authorization: auth },
        }).then((r) => r.arrayBuffer());
      }
      await fetch(`${base}/api/v1/ingestion/runs`, { headers: { authorization: `Bearer ${token}` } }).then(
        (r) => r.arrayBuffer(),
      );

      for (const role of roles) role.child.kill('SIGTERM');
      for (const role of roles) assert.equal((await role.exited(30_000)).code, 0);

      const doctor = await runCli(
        ['doctor', '--api-replicas', '1', '--worker-replicas', '1', '--scheduler-replicas', '1'],
        env,
      );

      const dbPassword = decodeURIComponent(new URL(db.url).password);
      const redisPassword = decodeURIComponent(new URL(redisUrl).password);
      const secrets: Record<string, string> = {
        JWT_SECRET_KEY: jwt,
        'access token': token,
        'user password': userPassword,
        AWS_SECRET_ACCESS_KEY: awsSecret,
        'external id': externalId,
      };
      if (dbPassword) secrets['DATABASE_URL password'] = dbPassword;
      if (redisPassword) secrets['REDIS_URL password'] = redisPassword;
      // The token's signature alone must not leak either (a log of a truncated header).
      secrets['access token signature'] = token.split('.')[2] ?? token;

      const outputs: Record<string, string[]> = {
        worker: worker.lines,
        scheduler: scheduler.lines,
        api: api.lines,
        doctor: doctor.stdout.split('\n').concat(doctor.stderr.split('\n')),
      };
      for (const [role, lines] of Object.entries(outputs)) {
        for (const [what, value] of Object.entries(secrets)) {
          const leaked = lines.find((l) => l.includes(value));
          assert.equal(leaked, undefined, `${what} appears in the ${role} output: ${leaked ?? ''}`);
        }
      }
      // Every log line of the roles is JSON with level, time and msg (Node's own warnings aside).
      for (const [role, lines] of Object.entries({
        worker: worker.lines,
        scheduler: scheduler.lines,
        api: api.lines,
      })) {
        const json = lines.filter((l) => l.startsWith('{'));
        assert.ok(json.length > 0, `${role} logged nothing`);
        for (const line of json) {
          const entry = JSON.parse(line) as Record<string, unknown>;
          assert.ok(
            typeof entry.level === 'string' &&
              typeof entry.time === 'string' &&
              typeof entry.msg === 'string',
            `${role}: ${line}`,
          );
          assert.equal(entry.role, role);
        }
        const other = lines.filter((l) => l.trim() !== '' && !l.startsWith('{'));
        if (other.length > 0) t.diagnostic(`${role} non-JSON stderr lines (Node warnings): ${other.length}`);
      }
      const entries = worker.lines
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      const completed = entries.filter((e) => e.msg === 'job completed');
      assert.ok(completed.length >= windows, 'successful jobs are logged');
      assert.ok(
        completed.every((e) => typeof e.jobId === 'string' && e.jobId !== ''),
        'with their job id',
      );
      const deniedLog = entries.find(
        (e) => e.level === 'error' && typeof e.msg === 'string' && e.msg.includes('AWS denied'),
      );
      assert.ok(deniedLog, 'the permission error is logged');
      assert.equal(typeof deniedLog.jobId, 'string');
      assert.match(String(deniedLog.remedy), /sts:AssumeRole/);
      // Each fetch job of the denied org left a run (its denial) or a skip line with its job id.
      const skipped = entries.filter((e) => e.msg === 'organization not active; fetch skipped');
      const deniedJobs = [
        ...(await finishedJobs('bf-logs')),
        ...(await finishedJobs('bf-logs-stopped')),
      ].filter((j) => (j.data as { orgId: number }).orgId === denied.id);
      assert.equal(deniedJobs.length, windows + 2 * later.windows, "the denied org's jobs of both backfills");
      for (const job of deniedJobs) {
        const source = job.queueName === queues.fetchCosts.name ? 'costs' : 'metrics';
        const ran = deniedRuns.some((r) => r.source === source && r.job_id === job.id);
        const skip = skipped.some((e) => e.source === source && e.jobId === job.id);
        assert.ok(ran !== skip, `${source} job ${job.id} of the denied org: one run or one skip line`);
      }
      t.diagnostic(
        `worker ${worker.lines.length} lines, scheduler ${scheduler.lines.length}, api ${api.lines.length}; ${completed.length} 'job completed' lines with jobId; ${skipped.length} fetches of the stopped org skipped`,
      );
    } finally {
      for (const role of roles) role.kill();
      await discardQueues(queues);
      redis.disconnect();
      await sim.close();
      await db.drop();
    }
  });
});
