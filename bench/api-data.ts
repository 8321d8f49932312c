/**
 * The API benchmark's dataset: a dedicated database (`costwatch_bench_api`, or
 * `costwatch_bench_api_quick`) kept between runs, because generating it takes minutes.
 *
 *   orgs x DAYS days (ending the pinned today, BENCH_NOW) x (SERVICES x ACCOUNTS account_service rows + SERVICES x
 *   REGIONS region_service rows) cost_data rows, exact numeric amounts, generated in SQL
 *   (INSERT ... SELECT over generate_series, one month partition per statement, two at a time)
 *   after ensure_monthly_partitions; then the rollups with the real rebuildCostRollups (per org,
 *   per month), one forecast per org, one viewer per org, VACUUM ANALYZE.
 *
 * A `bench_api_meta` row written last marks the dataset complete. It is regenerated when missing,
 * incomplete, of another shape or generator version, not ending on the pinned today (BENCH_NOW: the
 * windows and the summary are relative to it), or with `--fresh`. Pending migrations are applied on every run.
 */
import pg from 'pg';
import pLimit from 'p-limit';
import { createPool, type Pool } from '../lib/db.js';
import { addDays, addMonths, startOfMonth, todayUtc } from '../lib/dates.js';
import { migrateUp } from '../database/migrator.js';
import { rebuildCostRollups } from '../database/repositories/rollups.repository.js';
import { createUser } from '../database/repositories/users.repository.js';
import { hashPassword } from '../api/auth/passwords.js';
import { adminUrl, BENCH_NOW, progress } from './support.js';
import { withDatabase } from '../tests/helpers/db.js';

/** Bump when the generator changes what it writes: cached datasets of another version are rebuilt. */
const GENERATOR_VERSION = 2;
export const DAYS = 400;
export const SERVICES = 20;
export const ACCOUNTS = 8;
export const REGIONS = 8;
/** cost_data rows per organization and day (both groupings). */
export const ROWS_PER_ORG_DAY = SERVICES * ACCOUNTS + SERVICES * REGIONS;
export const BENCH_PASSWORD = 'bench password: correct horse battery staple';
const BENCH_HASH_COST = 4;

export interface DatasetMeta {
  version: number;
  orgs: number;
  days: number;
  from: string;
  to: string;
  costRows: number;
  rollupRows: { daily_service: number; daily_account: number; daily_region: number; monthly_service: number };
  generatedMs: { costData: number; rollups: number; vacuum: number; total: number };
  completedAt: string;
}

export interface BenchUser {
  orgId: number;
  email: string;
}

export interface Dataset {
  name: string;
  url: string;
  meta: DatasetMeta;
  /** True when this run generated it (false: reused from an earlier run). */
  generated: boolean;
  users: BenchUser[];
  sizes: Record<string, string>;
}

async function withClient<T>(url: string, work: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** The meta row of a complete dataset, or why it cannot be reused. */
async function existingMeta(url: string, orgs: number): Promise<DatasetMeta | string> {
  return withClient(url, async (c) => {
    const table = await c.query<{ t: string | null }>(`SELECT to_regclass('bench_api_meta')::text AS t`);
    if (!table.rows[0]?.t) return 'incomplete (no bench_api_meta)';
    const { rows } = await c.query<{ meta: DatasetMeta }>('SELECT meta FROM bench_api_meta LIMIT 1');
    const meta = rows[0]?.meta;
    if (!meta) return 'incomplete (empty bench_api_meta)';
    if (meta.version !== GENERATOR_VERSION)
      return `generator version ${meta.version} != ${GENERATOR_VERSION}`;
    if (meta.orgs !== orgs || meta.days !== DAYS)
      return `shape ${meta.orgs} orgs x ${meta.days} days differs`;
    const today = todayUtc(new Date(BENCH_NOW));
    if (meta.to !== today) return `data ends ${meta.to}, not on the pinned today ${today} (BENCH_NOW)`;
    return meta;
  });
}

async function generate(url: string, orgs: number): Promise<DatasetMeta> {
  const t0 = Date.now();
  const to = todayUtc(new Date(BENCH_NOW));
  const from = addDays(to, -(DAYS - 1));
  const pool: Pool = createPool({ connectionString: url, max: 3, applicationName: 'costwatch-bench-gen' });
  try {
    await pool.query(
      `INSERT INTO organizations (name, aws_account_id, role_arn)
       SELECT 'bench api org ' || i, lpad((400000000000 + i * 7919)::text, 12, '0'),
              'arn:aws:iam::' || lpad((400000000000 + i * 7919)::text, 12, '0') || ':role/CostWatchRead'
         FROM generate_series(1, $1::int) AS i ORDER BY i`,
      [orgs],
    );
    await pool.query(`SELECT ensure_monthly_partitions('cost_data', $1::date, $2::date)`, [from, to]);

    // One statement per month partition, two at a time (2 cores). Amounts: deterministic, exact
    // numeric with 6..10 decimals, skewed so a few services dominate (as on real bills). Rows are
    // written org by org, day by day, as fetch jobs COPY them (an org's window is contiguous on
    // disk); without the ORDER BY the planner's join order scatters an org's rows over every page.
    const months: Array<{ from: string; to: string }> = [];
    for (let m = startOfMonth(from); m <= to; m = addMonths(m, 1)) {
      const last = addDays(addMonths(m, 1), -1);
      months.push({ from: m < from ? from : m, to: last > to ? to : last });
    }
    const limit = pLimit(2);
    let done = 0;
    await Promise.all(
      months.map((m) =>
        limit(async () => {
          const client = await pool.connect();
          try {
            await client.query('SET synchronous_commit = off');
            await client.query(`SET work_mem = '256MB'`);
            await client.query(
              `INSERT INTO cost_data (organization_id, cost_date, grouping, service, linked_account, region,
                                      unblended_cost, amortized_cost, net_unblended_cost, usage_quantity, unit, estimated)
               SELECT o.id, d.day, g.grouping, s.name, g.account, g.region,
                      c.amount, round(c.amount * 0.97, 10), round(c.amount * 0.955, 10), round(c.amount * 3.7, 6),
                      'USD', d.day > $3::date - 3
                 FROM (SELECT id FROM organizations ORDER BY id) o
                CROSS JOIN (SELECT gs::date AS day FROM generate_series($1::date, $2::date, interval '1 day') gs) d
                CROSS JOIN (SELECT i, CASE i WHEN 1 THEN 'Amazon Elastic Compute Cloud - Compute'
                                             WHEN 2 THEN 'Amazon Simple Storage Service'
                                             WHEN 3 THEN 'Amazon Relational Database Service'
                                             ELSE 'AWS Service ' || lpad(i::text, 2, '0') END AS name,
                                   ((${SERVICES + 1} - i) * (${SERVICES + 1} - i))::numeric / 40 AS weight
                              FROM generate_series(1, ${SERVICES}) i) s
                CROSS JOIN (SELECT i, 'account_service' AS grouping,
                                   lpad((500000000000 + i * 104729)::text, 12, '0') AS account, '' AS region
                              FROM generate_series(1, ${ACCOUNTS}) i
                            UNION ALL
                            SELECT ${ACCOUNTS} + i, 'region_service', '',
                                   (ARRAY['us-east-1','us-east-2','us-west-1','us-west-2','eu-west-1','eu-central-1','ap-southeast-1','ap-northeast-1'])[i]
                              FROM generate_series(1, ${REGIONS}) i) g
                CROSS JOIN LATERAL (
                  SELECT round(((o.id * 1000003 + (d.day - date '2000-01-01') * 7919 + s.i * 104729 + g.i * 15485863)
                                % 9999991)::numeric / 1000000 * s.weight, 10) AS amount) c
                ORDER BY o.id, d.day, g.i, s.i`,
              [m.from, m.to, to],
            );
          } finally {
            client.release();
          }
          done++;
          progress(
            `api bench data: cost_data ${m.from.slice(0, 7)} loaded (${done}/${months.length} months)`,
          );
        }),
      ),
    );
    const costDataMs = Date.now() - t0;
    const { rows: countRows } = await pool.query<{ n: number }>('SELECT count(*)::int8 AS n FROM cost_data');
    const costRows = countRows[0]?.n ?? 0;
    progress(
      `api bench data: ${costRows.toLocaleString('en-US')} cost_data rows in ${(costDataMs / 1000).toFixed(0)} s`,
    );

    // Rollups with the production code: per org, per month (as rollup jobs of monthly windows).
    const t1 = Date.now();
    const { rows: orgRows } = await pool.query<{ id: number }>('SELECT id FROM organizations ORDER BY id');
    const rollupLimit = pLimit(2);
    let rolled = 0;
    await Promise.all(
      orgRows.map(({ id }) =>
        rollupLimit(async () => {
          for (const m of months) await rebuildCostRollups(pool, id, m.from, addDays(m.to, 1));
          rolled++;
          if (rolled % 10 === 0 || rolled === orgRows.length)
            progress(`api bench data: rollups of ${rolled}/${orgRows.length} orgs`);
        }),
      ),
    );
    const rollupsMs = Date.now() - t1;

    await pool.query(
      `INSERT INTO cost_forecasts (organization_id, month, amount, lower_bound, upper_bound, unit)
       SELECT o.id, m.month, t.total * 1.02, t.total * 0.9, t.total * 1.1, 'USD'
         FROM organizations o
        CROSS JOIN (VALUES (date_trunc('month', $1::date)::date), ((date_trunc('month', $1::date) + interval '1 month')::date)) m(month)
        CROSS JOIN LATERAL (SELECT coalesce(sum(unblended_cost), 0) AS total FROM cost_monthly_service
                             WHERE organization_id = o.id AND month = date_trunc('month', $1::date - 31)::date) t`,
      [to],
    );
    const hash = await hashPassword(BENCH_PASSWORD, BENCH_HASH_COST);
    for (const { id } of orgRows)
      await createUser(pool, {
        organizationId: id,
        email: `viewer${id}@bench.costwatch.test`,
        passwordHash: hash,
        role: 'viewer',
      });

    // VACUUM now, so that autovacuum does not wake up on the fresh partitions during the runs.
    const t2 = Date.now();
    await pool.query('VACUUM (ANALYZE)');
    const vacuumMs = Date.now() - t2;

    const rollupCount = async (table: string) =>
      (await pool.query<{ n: number }>(`SELECT count(*)::int8 AS n FROM ${table}`)).rows[0]?.n ?? 0;
    const meta: DatasetMeta = {
      version: GENERATOR_VERSION,
      orgs,
      days: DAYS,
      from,
      to,
      costRows,
      rollupRows: {
        daily_service: await rollupCount('cost_daily_service'),
        daily_account: await rollupCount('cost_daily_account'),
        daily_region: await rollupCount('cost_daily_region'),
        monthly_service: await rollupCount('cost_monthly_service'),
      },
      generatedMs: { costData: costDataMs, rollups: rollupsMs, vacuum: vacuumMs, total: Date.now() - t0 },
      completedAt: new Date().toISOString(),
    };
    await pool.query('CREATE TABLE bench_api_meta (meta jsonb NOT NULL)');
    await pool.query('INSERT INTO bench_api_meta (meta) VALUES ($1)', [JSON.stringify(meta)]);
    return meta;
  } finally {
    await pool.end();
  }
}

/** Returns the dataset for `orgs` organizations, generating it when needed (or when `fresh`). */
export async function ensureDataset(options: {
  orgs: number;
  quick: boolean;
  fresh: boolean;
  /** Database name (`--dataset=`), e.g. to compare two checkouts on one dataset apart from other runs. */
  name?: string | undefined;
}): Promise<Dataset> {
  const name = options.name ?? (options.quick ? 'costwatch_bench_api_quick' : 'costwatch_bench_api');
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`--dataset: not a plain database name: ${name}`);
  const url = withDatabase(adminUrl(), name);
  const exists = await withClient(adminUrl(), async (c) => {
    const { rowCount } = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    return (rowCount ?? 0) > 0;
  });
  let reason = options.fresh ? '--fresh' : exists ? null : 'missing';
  let meta: DatasetMeta | null = null;
  if (reason === null) {
    const found = await existingMeta(url, options.orgs);
    if (typeof found === 'string') reason = found;
    else meta = found;
  }
  if (meta === null) {
    progress(`api bench data: (re)generating ${name}: ${reason ?? 'unknown'}`);
    await withClient(adminUrl(), async (c) => {
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.query(`CREATE DATABASE ${name}`);
    });
  }
  // Pending migrations (e.g. a new index) apply to a cached dataset too.
  const applied = await withClient(url, (c) => migrateUp(c));
  if (applied.length > 0) {
    progress(`api bench data: applied ${applied.join(', ')}`);
    if (meta !== null) await withClient(url, (c) => c.query('ANALYZE'));
  }
  const generated = meta === null;
  meta ??= await generate(url, options.orgs);
  const { users, sizes } = await withClient(url, async (c) => {
    const u = await c.query<{ organization_id: number; email: string }>(
      `SELECT organization_id, email FROM users WHERE email LIKE 'viewer%@bench.costwatch.test' ORDER BY organization_id`,
    );
    const s = await c.query<{ t: string; size: string }>(
      `SELECT t, pg_size_pretty(sum(pg_total_relation_size(c.oid))) AS size
         FROM (VALUES ('cost_data'), ('cost_rollup_daily'), ('cost_rollup_daily_by_service'), ('cost_rollup_monthly')) v(t)
         JOIN pg_class c ON c.relname = v.t OR c.oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = v.t::regclass)
        GROUP BY t`,
    );
    return {
      users: u.rows.map((r) => ({ orgId: r.organization_id, email: r.email })),
      sizes: Object.fromEntries(s.rows.map((r) => [r.t, r.size])),
    };
  });
  return { name, url, meta, generated, users, sizes };
}
