/**
 * What a finished load must look like: per (org, day, grouping) the cost rows and sums of the
 * simulator's truth (sums: `expectedDailyTotal`; row counts: a clean reference load of the same
 * accounts and range), metric rows per (org, day) as the reference, no duplicated natural key,
 * and the cost rollups equal to cost_data.
 */
import type { Pool, Queryable } from '../../lib/db.js';
import { expectedDailyTotal } from '../../sim/data.js';
import { eachDay } from '../../lib/dates.js';
import type { CustomerOrganization as Organization } from '../../database/repositories/organizations.repository.js';
import { startChaosRun } from './infra.js';

/** Row counts by `${account}|costs|${day}|${grouping}` and `${account}|metrics|${day}`. */
export type Reference = Map<string, number>;

export function norm(decimal: string): string {
  const negative = decimal.startsWith('-');
  const [int = '0', frac = ''] = decimal.replace('-', '').split('.');
  const f = frac.replace(/0+$/, '');
  const out = f ? `${int.replace(/^0+(?=\d)/, '')}.${f}` : int.replace(/^0+(?=\d)/, '');
  return negative && out !== '0' ? `-${out}` : out;
}

interface CountRow {
  key: string;
  n: number;
  total: string | null;
}

/** Row counts (and cost sums) per key, for the organizations' accounts in [from, to). */
export async function loadCounts(db: Queryable, from: string, to: string): Promise<Map<string, CountRow>> {
  const costs = await db.query<CountRow>(
    `SELECT o.aws_account_id || '|costs|' || c.cost_date::text || '|' || c.grouping AS key, count(*)::int AS n, sum(c.unblended_cost)::text AS total
     FROM cost_data c JOIN organizations o ON o.id = c.organization_id
     WHERE c.cost_date >= $1 AND c.cost_date < $2 GROUP BY 1`,
    [from, to],
  );
  const metrics = await db.query<CountRow>(
    `SELECT o.aws_account_id || '|metrics|' || (m.ts AT TIME ZONE 'UTC')::date::text AS key, count(*)::int AS n, NULL::text AS total
     FROM cloudwatch_metrics m JOIN organizations o ON o.id = m.organization_id
     WHERE m.ts >= $1::date AND m.ts < $2::date GROUP BY 1`,
    [from, to],
  );
  return new Map([...costs.rows, ...metrics.rows].map((r) => [r.key, r]));
}

interface CleanRun {
  counts: Reference;
  /** GetCostAndUsage requests the simulator answered for the clean load: what a run without faults costs. */
  ceRequests: number;
}

const references = new Map<string, Promise<CleanRun>>();

function cleanRun(accounts: string[], from: string, to: string, windowDays: number): Promise<CleanRun> {
  const cacheKey = `${accounts.join(',')}|${from}|${to}|${windowDays}`;
  let found = references.get(cacheKey);
  if (!found) {
    found = (async () => {
      const run = await startChaosRun({ env: { WORKER_CONCURRENCY: '6', BACKFILL_WINDOW_DAYS: String(windowDays) } });
      try {
        const orgs = await run.createOrgs(accounts);
        await run.spawnWorker();
        const { backfillId, jobs } = await run.backfill(orgs.map((o) => o.id), from, to, windowDays);
        const done = await run.waitBackfill(backfillId, jobs, 600_000);
        if (done.failed > 0) throw new Error(`reference load: ${done.failed} windows failed`);
        const counts = await loadCounts(run.db.pool, from, to);
        const ceRequests = Object.values(run.sim.control.requestCounts().byAccount).reduce((a, ops) => a + (ops['ce:GetCostAndUsage'] ?? 0), 0);
        return { counts: new Map([...counts].map(([k, v]) => [k, v.n])), ceRequests };
      } finally {
        await run.close();
      }
    })();
    references.set(cacheKey, found);
  }
  return found;
}

/**
 * A clean load (one worker process, no faults) of the accounts over [from, to): its row counts
 * are what every faulty run must end with. Cached per process.
 */
export async function referenceLoad(accounts: string[], from: string, to: string, windowDays: number): Promise<Reference> {
  return (await cleanRun(accounts, from, to, windowDays)).counts;
}

/** The GetCostAndUsage requests of that clean load (the same run, cached): the denominator of what faults cost. */
export async function referenceCeRequests(accounts: string[], from: string, to: string, windowDays: number): Promise<number> {
  return (await cleanRun(accounts, from, to, windowDays)).ceRequests;
}

export interface LoadCheck {
  rowsExpected: number;
  rowsFound: number;
  /** Keys (org, day, grouping | metrics) whose row count differs from the reference. */
  countMismatches: number;
  /** (org, day, grouping) whose cost sum differs from the simulator's truth. */
  sumMismatches: number;
  /** Natural keys present more than once (cost_data + cloudwatch_metrics). */
  duplicates: number;
  /** Rollup rows (daily service / region) that differ from cost_data. */
  rollupMismatches: number;
  problems: string[];
}

export async function checkLoad(
  pool: Pool,
  orgs: Array<Pick<Organization, 'awsAccountId'>>,
  from: string,
  to: string,
  reference: Reference,
  sources: Array<'costs' | 'metrics'> = ['costs', 'metrics'],
): Promise<LoadCheck> {
  const counts = await loadCounts(pool, from, to);
  const check: LoadCheck = { rowsExpected: 0, rowsFound: 0, countMismatches: 0, sumMismatches: 0, duplicates: 0, rollupMismatches: 0, problems: [] };
  for (const org of orgs) {
    for (const day of eachDay(from, to)) {
      const keys = [
        ...(sources.includes('costs') ? [`${org.awsAccountId}|costs|${day}|account_service`, `${org.awsAccountId}|costs|${day}|region_service`] : []),
        ...(sources.includes('metrics') ? [`${org.awsAccountId}|metrics|${day}`] : []),
      ];
      for (const key of keys) {
        const expected = reference.get(key) ?? 0;
        const found = counts.get(key);
        check.rowsExpected += expected;
        check.rowsFound += found?.n ?? 0;
        if ((found?.n ?? 0) !== expected) {
          check.countMismatches++;
          if (check.problems.length < 5) check.problems.push(`${key}: ${found?.n ?? 0} rows, expected ${expected}`);
        }
        if (key.includes('|costs|')) {
          const truth = norm(expectedDailyTotal(org.awsAccountId, day));
          if (norm(found?.total ?? '0') !== truth) {
            check.sumMismatches++;
            if (check.problems.length < 5) check.problems.push(`${key}: sum ${found?.total ?? 'none'}, truth ${truth}`);
          }
        }
      }
    }
  }
  const dup = await pool.query<{ n: number }>(
    `SELECT ((SELECT count(*) FROM (SELECT 1 FROM cost_data GROUP BY organization_id, cost_date, grouping, service, linked_account, region, dim_value HAVING count(*) > 1) c)
           + (SELECT count(*) FROM (SELECT 1 FROM cloudwatch_metrics GROUP BY organization_id, namespace, metric_name, resource_id, stat, ts HAVING count(*) > 1) m))::int AS n`,
  );
  check.duplicates = dup.rows[0]?.n ?? 0;
  if (sources.includes('costs')) {
    const rollups = await pool.query<{ n: number }>(
      `WITH d AS (SELECT organization_id, cost_date AS day, service AS k, sum(unblended_cost) AS s FROM cost_data
                  WHERE grouping = 'account_service' AND cost_date >= $1 AND cost_date < $2 GROUP BY 1, 2, 3),
            r AS (SELECT organization_id, day, service AS k, unblended_cost AS s FROM cost_daily_service WHERE day >= $1 AND day < $2),
            dr AS (SELECT organization_id, cost_date AS day, region AS k, sum(unblended_cost) AS s FROM cost_data
                  WHERE grouping = 'region_service' AND cost_date >= $1 AND cost_date < $2 GROUP BY 1, 2, 3),
            rr AS (SELECT organization_id, day, region AS k, unblended_cost AS s FROM cost_daily_region WHERE day >= $1 AND day < $2)
       SELECT ((SELECT count(*) FROM d FULL JOIN r USING (organization_id, day, k) WHERE d.s IS DISTINCT FROM r.s)
             + (SELECT count(*) FROM dr FULL JOIN rr USING (organization_id, day, k) WHERE dr.s IS DISTINCT FROM rr.s))::int AS n`,
      [from, to],
    );
    check.rollupMismatches = rollups.rows[0]?.n ?? 0;
  }
  return check;
}

/** True when a load check shows the truth, exactly once, rolled up. */
export function loadIsExact(c: LoadCheck): boolean {
  return c.countMismatches === 0 && c.sumMismatches === 0 && c.duplicates === 0 && c.rollupMismatches === 0 && c.rowsFound === c.rowsExpected;
}
