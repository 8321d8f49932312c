/**
 * Hostile tests of the AWS trust chain, tenant-visible errors, AWS paging limits, http: AWS
 * endpoints and operator placement (issue 12 items 3, 7, 8, 9): real workers against the
 * simulator, the real `costwatch` CLI and a running `costwatch api` on the same database.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ConfigError, parseConfig } from '../lib/config.js';
import { PROJECT_ROOT } from '../lib/paths.js';
import { createOrganization, getOrganization } from '../database/repositories/organizations.repository.js';
import { trustFindings } from '../database/repositories/trust.repository.js';
import { checkTrust } from '../cli/doctor/trust.check.js';
import { enqueueBackfill } from '../producers/enqueue.js';
import { startTestPipeline, type TestPipeline } from './helpers/pipeline.js';
import { spawnRole, type RoleProcess } from './helpers/processes.js';

const PASSWORD = 'Quiet-Harbor-Ledger-77';
const CW_PRINCIPAL = /arn:aws:(sts|iam)::\d{12}:(assumed-role\/CostWatchRole|user\/costwatch)/;

let p: TestPipeline;
let api: RoleProcess;
let base: string;
let cliEnv: Record<string, string>;

function cli(args: string[], input?: string): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [path.join(PROJECT_ROOT, 'bin', 'costwatch.mjs'), ...args], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...cliEnv },
    input: input ?? '',
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function login(email: string): Promise<string> {
  const res = await fetch(`${base}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password: PASSWORD }),
  });
  assert.equal(res.status, 200, `login ${email}`);
  return ((await res.json()) as { access_token: string }).access_token;
}

async function getJson(pathname: string, token: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${base}${pathname}`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(res.status, 200, `${pathname}: ${res.status}`);
  return (await res.json()) as Record<string, unknown>;
}

let backfills = 0;
/** Backfills 2026-03-01..08 (one costs and one metrics job per org) and waits until the queues are idle. */
async function fetchOnce(orgIds: number[], timeoutMs = 60_000): Promise<void> {
  backfills += 1;
  await enqueueBackfill(
    p.queues,
    orgIds,
    { from: '2026-03-01', to: '2026-03-08' },
    7,
    `bf-trust-${backfills}`,
  );
  await p.waitForIdle(timeoutMs);
}

async function failedRuns(orgId: number): Promise<
  Array<{
    source: string;
    error: string;
    error_code: string;
    aws_requests_by_operation: Record<string, number>;
    duration_ms: number;
  }>
> {
  const { rows } = await p.db.pool.query<{
    source: string;
    error: string;
    error_code: string;
    aws_requests_by_operation: Record<string, number>;
    duration_ms: number;
  }>(
    `SELECT source, error, error_code, aws_requests_by_operation, duration_ms FROM fetch_runs WHERE organization_id = $1 AND status = 'failed' ORDER BY id`,
    [orgId],
  );
  return rows;
}

async function orgRow(id: number) {
  const org = await getOrganization(p.db.pool, id);
  assert.ok(org);
  return org;
}

before(async () => {
  // CostWatch's own identity in the simulator is account 123456789012 (the static test key).
  process.env.AWS_ACCESS_KEY_ID = 'AKIA123456789012TEST';
  p = await startTestPipeline({
    sim: { today: '2026-03-15' },
    env: { FETCH_ATTEMPTS: '2', AWS_MAX_PAGES: '5' },
  });
  cliEnv = {
    DATABASE_URL: p.db.url,
    REDIS_URL: p.config.REDIS_URL,
    LOG_LEVEL: 'silent',
    AWS_PRINCIPAL_ARN: 'arn:aws:iam::123456789012:role/costwatch-role',
  };
  api = await spawnRole(
    ['api'],
    {
      ...cliEnv,
      JWT_SECRET_KEY: p.config.JWT_SECRET_KEY ?? randomBytes(32).toString('hex'),
      QUEUE_PREFIX: p.config.QUEUE_PREFIX,
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      LOGIN_ATTEMPTS_PER_15MIN: '1000',
    },
    'api listening',
  );
  const port = /"port":(\d+)/.exec(api.output())?.[1];
  assert.ok(port, api.output());
  base = `http://127.0.0.1:${port}`;
});

after(async () => {
  api?.child.kill('SIGTERM');
  await api?.exited;
  await p?.close();
});

describe('item 3: the AWS trust chain', () => {
  test('org create generates a unique external id and prints the trust policy; show prints them again', () => {
    const args = (name: string, account: string) => [
      'org',
      'create',
      '--name',
      name,
      '--aws-account-id',
      account,
      '--role-arn',
      `arn:aws:iam::${account}:role/CostWatchRead`,
      '--json',
    ];
    const a = cli(args('trust-a', '210000000001'));
    const b = cli(args('trust-b', '210000000002'));
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    const ja = JSON.parse(a.stdout) as {
      id: number;
      external_id: string;
      external_id_source: string;
      trust_policy: {
        Statement: Array<{ Principal: { AWS: string }; Condition: Record<string, Record<string, string>> }>;
      };
    };
    const jb = JSON.parse(b.stdout) as { external_id: string };
    assert.match(ja.external_id, /^cw-[0-9a-f]{40}$/);
    assert.notEqual(ja.external_id, jb.external_id);
    assert.equal(ja.external_id_source, 'costwatch');
    const statement = ja.trust_policy.Statement[0];
    assert.equal(statement?.Principal.AWS, 'arn:aws:iam::123456789012:role/costwatch-role');
    assert.equal(statement?.Condition.StringEquals?.['sts:ExternalId'], ja.external_id);
    const shown = cli(['org', 'show', '--id', String(ja.id)]);
    assert.equal(shown.code, 0, shown.stderr);
    assert.ok(shown.stdout.includes(ja.external_id), shown.stdout);
    assert.match(shown.stdout, /"sts:ExternalId"/);
  });

  test('the CLI refuses a chosen external id, a role in another account, and an org with neither role nor --self', () => {
    const chosen = cli([
      'org',
      'create',
      '--name',
      'x1',
      '--aws-account-id',
      '210000000003',
      '--role-arn',
      'arn:aws:iam::210000000003:role/R',
      '--external-id',
      'victims-id',
    ]);
    assert.notEqual(chosen.code, 0);
    assert.match(chosen.stderr, /--external-id: CostWatch generates the external id/);
    const foreign = cli([
      'org',
      'create',
      '--name',
      'x2',
      '--aws-account-id',
      '210000000003',
      '--role-arn',
      'arn:aws:iam::999999999999:role/Victim',
    ]);
    assert.notEqual(foreign.code, 0);
    assert.match(
      foreign.stderr,
      /--role-arn: the role arn:aws:iam::999999999999:role\/Victim is in account 999999999999, not in the organization's account 210000000003/,
    );
    const none = cli(['org', 'create', '--name', 'x3', '--aws-account-id', '210000000003']);
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /--role-arn: required.*--self/);
    const update = cli(['org', 'update', '--id', '1', '--role-arn', 'arn:aws:iam::999999999999:role/Victim']);
    assert.notEqual(update.code, 0);
    assert.match(update.stderr, /--role-arn: the role .* is in account 999999999999/);
    // Nothing was stored by the refused commands.
    const list = JSON.parse(cli(['org', 'list', '--json']).stdout) as Array<{ name: string }>;
    assert.deepEqual(
      list.filter((o) => /^x\d$/.test(o.name)),
      [],
    );
  });

  test('the repository refuses the same (every other creator goes through it)', async () => {
    await assert.rejects(
      createOrganization(p.db.pool, {
        name: 'repo-foreign',
        awsAccountId: '210000000004',
        roleArn: 'arn:aws:iam::999999999999:role/Victim',
      }),
      /is in account 999999999999, not in the organization's account 210000000004/,
    );
    await assert.rejects(
      createOrganization(p.db.pool, { name: 'repo-none', awsAccountId: '210000000004' }),
      /--self/,
    );
  });

  test('a wrong external id gets AccessDenied: the org stops (no retries) with a remedy; the right one reads', async () => {
    const org = await p.createOrg('210000000005');
    p.sim.control.registerExternalId(
      `arn:aws:iam::210000000005:role/CostWatchRead`,
      'what-the-customer-trusts',
    );
    p.sim.control.resetCounts();
    await fetchOnce([org.id]);
    const stopped = await orgRow(org.id);
    assert.equal(stopped.status, 'access_denied');
    assert.match(stopped.lastError ?? '', /AccessDenied/);
    assert.match(stopped.lastErrorRemedy ?? '', /trust policy/);
    // At most one denial per job and never retried (FETCH_ATTEMPTS=2 would otherwise show 4).
    const assumed = p.sim.control.requestCounts().byAccount['210000000005']?.['sts:AssumeRole'] ?? 0;
    assert.ok(assumed >= 1 && assumed <= 2, `AssumeRole ${assumed} times`);

    const good = await p.createOrg('210000000006');
    p.sim.control.registerExternalId('210000000006', good.externalId ?? '');
    await fetchOnce([good.id]);
    assert.deepEqual(await failedRuns(good.id), []);
    assert.equal((await orgRow(good.id)).status, 'active');
  });

  test('GetCallerIdentity of another account is refused: a legacy role in another account, and --self in a foreign account', async () => {
    // A row as an old CostWatch stored it (no account check then): the role lives in another account.
    const { rows } = await p.db.pool.query<{ id: number }>(
      `INSERT INTO organizations (name, aws_account_id, role_arn) VALUES ('legacy-foreign', '210000000007', 'arn:aws:iam::999999999999:role/Victim') RETURNING id`,
    );
    const legacy = rows[0]?.id ?? 0;
    // --self for an account CostWatch's identity (123456789012) is not in.
    const selfForeign = await createOrganization(p.db.pool, {
      name: 'self-foreign',
      awsAccountId: '210000000008',
      selfIdentity: true,
    });
    const selfOwn = await createOrganization(p.db.pool, {
      name: 'self-own',
      awsAccountId: '123456789012',
      selfIdentity: true,
    });
    p.sim.control.resetCounts();
    await fetchOnce([legacy, selfForeign.id, selfOwn.id]);
    const legacyRow = await orgRow(legacy);
    assert.equal(legacyRow.status, 'access_denied');
    assert.match(
      legacyRow.lastError ?? '',
      /is in account 999999999999, not in organization \d+'s account 210000000007/,
    );
    const foreignRow = await orgRow(selfForeign.id);
    assert.equal(foreignRow.status, 'access_denied');
    assert.match(
      foreignRow.lastError ?? '',
      /GetCallerIdentity says CostWatch's own identity.*in account 123456789012, not organization \d+'s account 210000000008/,
    );
    assert.match(
      foreignRow.lastErrorRemedy ?? '',
      /costwatch org update --id \d+ --role-arn arn:aws:iam::210000000008:role\/ROLE_NAME/,
    );
    assert.equal((await orgRow(selfOwn.id)).status, 'active');
    const counts = p.sim.control.requestCounts().byAccount;
    // The victim's role was never assumed; no Cost Explorer request went out for a refused org.
    assert.equal(counts['999999999999'], undefined);
    assert.ok((counts['123456789012']?.['sts:GetCallerIdentity'] ?? 0) >= 1);
    assert.equal(
      counts['123456789012']?.['ce:GetCostAndUsage'] !== undefined,
      true,
      'the matching --self org read',
    );
    // GetCallerIdentity is counted per org and operation like every AWS request.
    const { rows: runs } = await p.db.pool.query<{ n: number }>(
      `SELECT coalesce(sum((aws_requests_by_operation->>'GetCallerIdentity')::int), 0)::int AS n FROM fetch_runs WHERE organization_id = $1`,
      [selfOwn.id],
    );
    assert.ok((runs[0]?.n ?? 0) >= 1, JSON.stringify(runs));
  });
});

describe('item 7: errors shown to tenants', () => {
  test('a viewer gets a code and a sanitised message; an operator gets the full text', async () => {
    const platform = cli(['org', 'create', '--platform', '--name', 'CostWatch operators', '--json']);
    assert.equal(platform.code, 0, platform.stderr);
    const platformId = (JSON.parse(platform.stdout) as { id: number }).id;
    const org = await p.createOrg('210000000009');
    p.sim.control.setOptions({ accessDeniedAccounts: ['210000000009'] });
    await fetchOnce([org.id]);
    assert.ok((await failedRuns(org.id)).length >= 1);
    for (const [id, email, role] of [
      [org.id, 'viewer@tenant.test', 'viewer'],
      [platformId, 'ops@platform.test', 'operator'],
    ] as const) {
      const r = cli(
        ['user', 'create', '--org', String(id), '--email', email, '--role', role, '--bcrypt-cost', '4'],
        `${PASSWORD}\n`,
      );
      assert.equal(r.code, 0, r.stderr);
    }
    const viewer = await login('viewer@tenant.test');
    const operator = await login('ops@platform.test');
    const runsPath = `/api/v1/ingestion/runs?org_id=${org.id}`;
    const statusPath = `/api/v1/ingestion/status?org_id=${org.id}`;
    const tenantRuns = (await getJson(runsPath, viewer)).items as Array<{
      error: string | null;
      error_code: string | null;
    }>;
    const opsRuns = (await getJson(runsPath, operator)).items as Array<{
      error: string | null;
      error_code: string | null;
    }>;
    assert.ok(tenantRuns.length > 0);
    for (const run of tenantRuns) {
      assert.equal(run.error_code, 'aws_assume_role_denied');
      assert.doesNotMatch(run.error ?? '', CW_PRINCIPAL);
      assert.doesNotMatch(run.error ?? '', /not authorized|User:|127\.0\.0\.1|costwatch org enable/);
      assert.match(
        run.error ?? '',
        /AWS did not let CostWatch assume the role arn:aws:iam::210000000009:role\/CostWatchRead/,
      );
    }
    assert.ok(
      opsRuns.some((r) => CW_PRINCIPAL.test(r.error ?? '')),
      JSON.stringify(opsRuns),
    );
    const tenantStatus = (await getJson(statusPath, viewer)).organization as {
      last_error: { code: string; message: string; remedy: string };
    };
    const opsStatus = (await getJson(statusPath, operator)).organization as {
      last_error: { code: string; message: string; remedy: string };
    };
    assert.equal(tenantStatus.last_error.code, 'aws_assume_role_denied');
    assert.doesNotMatch(`${tenantStatus.last_error.message} ${tenantStatus.last_error.remedy}`, CW_PRINCIPAL);
    assert.doesNotMatch(tenantStatus.last_error.remedy, /costwatch org enable/);
    assert.match(opsStatus.last_error.message, CW_PRINCIPAL);
    assert.match(opsStatus.last_error.remedy, /costwatch org enable --id/);
    p.sim.control.setOptions({ accessDeniedAccounts: [] });
  });

  test('a Postgres / network failure text (hosts, SQL) never reaches a tenant: legacy runs read generically', async () => {
    const org = await p.createOrg('210000000010');
    await p.db.pool.query(
      `INSERT INTO fetch_runs (organization_id, source, window_start, window_end, status, trigger, error)
       VALUES ($1, 'costs', '2026-03-01', '2026-03-02', 'failed', 'manual', 'connect ECONNREFUSED 10.0.3.7:5432; relation "cost_data_2026_03" does not exist')`,
      [org.id],
    );
    const r = cli(
      [
        'user',
        'create',
        '--org',
        String(org.id),
        '--email',
        'viewer2@tenant.test',
        '--role',
        'viewer',
        '--bcrypt-cost',
        '4',
      ],
      `${PASSWORD}\n`,
    );
    assert.equal(r.code, 0, r.stderr);
    const viewer = await login('viewer2@tenant.test');
    const items = (await getJson('/api/v1/ingestion/runs', viewer)).items as Array<{
      error: string;
      error_code: string;
    }>;
    assert.equal(items[0]?.error_code, 'internal');
    assert.doesNotMatch(items[0]?.error ?? '', /10\.0\.3\.7|relation|ECONNREFUSED/);
  });
});

describe('item 8: AWS paging cap, job deadline, http: endpoints', () => {
  test('a query that pages forever stops at AWS_MAX_PAGES with a clear error; the org stays active', async () => {
    const org = await p.createOrg('210000000011');
    p.sim.control.setOptions({ endlessPagingAccounts: ['210000000011'] });
    try {
      await fetchOnce([org.id]);
    } finally {
      p.sim.control.setOptions({ endlessPagingAccounts: [] });
    }
    const rows = await failedRuns(org.id);
    const costs = rows.find((r) => r.source === 'costs');
    assert.match(
      costs?.error ?? '',
      /GetCostAndUsage kept answering with a NextPageToken after 5 pages of one query \(AWS_MAX_PAGES=5\)/,
    );
    assert.equal(costs?.error_code, 'aws_page_limit');
    // Failed for good on the first attempt: at most 5 pages per query (two groupings), no retry.
    assert.ok((costs?.aws_requests_by_operation.GetCostAndUsage ?? 0) <= 10, JSON.stringify(costs));
    assert.equal(rows.length, 2, 'one failed run per job, no retries');
    assert.equal((await orgRow(org.id)).status, 'active');
  });

  test('a job past AWS_JOB_DEADLINE_SECONDS stops before its next AWS request', async () => {
    const org = await p.createOrg('210000000012');
    await p.workers?.stop();
    p.workers = null;
    await p.startWorkers({ AWS_JOB_DEADLINE_SECONDS: '10', AWS_MAX_PAGES: '100000' });
    p.sim.control.setOptions({ endlessPagingAccounts: ['210000000012'], latencyMs: 400 });
    try {
      await fetchOnce([org.id], 120_000);
    } finally {
      p.sim.control.setOptions({ endlessPagingAccounts: [], latencyMs: 0 });
    }
    const rows = (await failedRuns(org.id)).filter((r) => r.source === 'costs');
    assert.equal(rows.length, 1);
    assert.match(rows[0]?.error ?? '', /past its deadline of 10 s \(AWS_JOB_DEADLINE_SECONDS\)/);
    assert.equal(rows[0]?.error_code, 'aws_job_deadline');
    assert.ok((rows[0]?.duration_ms ?? 0) < 20_000, JSON.stringify(rows));
  });

  test('an http: AWS_ENDPOINT_URL is refused unless ALLOW_INSECURE_AWS_ENDPOINT is set', () => {
    const env = {
      DATABASE_URL: 'postgresql://u:p@h/db',
      REDIS_URL: 'redis://h:1',
      JWT_SECRET_KEY: 'k'.repeat(40),
    };
    assert.throws(
      () => parseConfig('worker', { ...env, AWS_ENDPOINT_URL: 'http://aws-proxy.internal:4566' }),
      (e: unknown) =>
        e instanceof ConfigError &&
        /^AWS_ENDPOINT_URL: http:\/\/ would send AWS credentials .* ALLOW_INSECURE_AWS_ENDPOINT=true/.test(
          e.problems.join('\n'),
        ),
    );
    assert.equal(
      parseConfig('worker', { ...env, AWS_ENDPOINT_URL: 'https://ce.example' }).AWS_ENDPOINT_URL,
      'https://ce.example',
    );
    assert.equal(
      parseConfig('worker', {
        ...env,
        AWS_ENDPOINT_URL: 'http://127.0.0.1:4566',
        ALLOW_INSECURE_AWS_ENDPOINT: 'true',
      }).AWS_ENDPOINT_URL,
      'http://127.0.0.1:4566',
    );
    // A real worker process refuses to start with it, naming the variable.
    const r = spawnSync(process.execPath, [path.join(PROJECT_ROOT, 'bin', 'costwatch.mjs'), 'worker'], {
      env: {
        PATH: process.env.PATH ?? '',
        ...cliEnv,
        JWT_SECRET_KEY: 'k'.repeat(40),
        AWS_ENDPOINT_URL: p.sim.url,
      },
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /config error: AWS_ENDPOINT_URL: http:\/\//);
  });
});

describe('item 9: operators live in the platform organization only', () => {
  test('user create --role operator is refused in a customer org; the doctor warns about existing ones', async () => {
    const org = await p.createOrg('210000000013');
    const refused = cli(
      [
        'user',
        'create',
        '--org',
        String(org.id),
        '--email',
        'ops@customer.test',
        '--role',
        'operator',
        '--bcrypt-cost',
        '4',
      ],
      `${PASSWORD}\n`,
    );
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /--role operator: operators belong to the platform organization/);
    const platformId = (await trustFindings(p.db.pool)).platformOrgId;
    assert.ok(platformId !== null);
    const viewerInPlatform = cli(
      [
        'user',
        'create',
        '--org',
        String(platformId),
        '--email',
        'v@platform.test',
        '--role',
        'viewer',
        '--bcrypt-cost',
        '4',
      ],
      `${PASSWORD}\n`,
    );
    assert.notEqual(viewerInPlatform.code, 0);
    assert.match(viewerInPlatform.stderr, /holds operators only/);
    const second = cli(['org', 'create', '--platform', '--name', 'another platform']);
    assert.notEqual(second.code, 0);
    assert.match(second.stderr, /--platform: a platform organization already exists/);
    const list = cli(['org', 'list']);
    assert.match(list.stdout, new RegExp(`${platformId}\\s+CostWatch operators\\s+platform`));

    // An operator created in a customer org before this change (SQL as the old CLI wrote it).
    await p.db.pool.query(
      `INSERT INTO users (organization_id, email, password_hash, role) VALUES ($1, 'legacy-ops@customer.test', '$2b$04$abcdefghijklmnopqrstuu', 'operator')`,
      [org.id],
    );
    const results = await checkTrust(p.db.pool);
    const operators = results.find((r) => r.name === 'operators');
    assert.equal(operators?.status, 'warn');
    assert.match(operators?.detail ?? '', /legacy-ops@customer\.test/);
    assert.match(
      operators?.fix ?? '',
      new RegExp(`costwatch user create --org ${platformId} .* --role operator`),
    );
  });

  test('the doctor warns about orgs without a generated external id and orgs reading with --self', async () => {
    const results = await checkTrust(p.db.pool);
    const external = results.find((r) => r.name === 'external ids');
    const self = results.find((r) => r.name === 'self identity');
    assert.equal(external?.status, 'warn');
    assert.match(external?.detail ?? '', /legacy-foreign, none/);
    assert.match(external?.fix ?? '', /costwatch org update --id ID --rotate-external-id/);
    assert.equal(self?.status, 'warn');
    assert.match(self?.detail ?? '', /self-foreign, account 210000000008/);
  });
});
