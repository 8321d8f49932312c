/**
 * Throwaway API process of the API benchmark: the real app (createApp: auth, validation, the same
 * handlers and JSON), but every read of a rollup table is answered from cost_data instead. The
 * pool is wrapped so that each `FROM cost_rollup_daily` (by_service, monthly) becomes the
 * subquery that rebuildCostRollups itself runs over cost_data; Postgres pushes the organization,
 * date and filter predicates into it (partition pruning, the natural-key index). So this is "the
 * same endpoint computed from cost_data directly", and its answers equal the API's (the benchmark
 * checks that). Started like `costwatch api`, from the same environment; response cache off.
 *
 *   node --import tsx bench/api-raw-child.ts   (PORT, HOST, DATABASE_URL, REDIS_URL, ...)
 */
import type { AddressInfo } from 'node:net';
import { clockFromConfig } from '../lib/clock.js';
import { asApiConfig, loadConfig } from '../lib/config.js';
import { createPool, type Pool } from '../lib/db.js';
import { createLogger } from '../lib/logger.js';
import { createRedis } from '../lib/redis.js';
import { createQueues } from '../producers/queues.js';
import { createApp } from '../api/app.js';

const SUMS = `sum(unblended_cost) AS unblended_cost, sum(amortized_cost) AS amortized_cost,
  sum(net_unblended_cost) AS net_unblended_cost,
  CASE WHEN count(*) = count(net_amortized_cost) THEN sum(net_amortized_cost) END AS net_amortized_cost,
  sum(usage_quantity) AS usage_quantity,
  CASE WHEN min(usage_unit) = max(usage_unit) THEN min(usage_unit) ELSE '' END AS usage_unit,
  min(unit) AS unit, bool_or(estimated) AS estimated`;

/** The value of a cost_data row in its grouping's dimension (as cw_rebuild_cost_rollups keys it). */
const KEY = `CASE grouping WHEN 'account_service' THEN linked_account WHEN 'region_service' THEN region ELSE dim_value END`;

/**
 * The per-(dimension, day, value) rows from cost_data: the service dimension from the SERVICE x
 * LINKED_ACCOUNT grouping, every other dimension from its own grouping. `period` is the day or
 * its month; `bound` limits cost_date where the caller's predicate is on the month.
 */
function perDimension(period: string, bound: string, extra: string): string {
  return `(SELECT organization_id, 'service'::text AS dimension, ${period}, service AS key, ${SUMS}${extra}
     FROM cost_data WHERE grouping = 'account_service'${bound} GROUP BY 1, 2, 3, 4
   UNION ALL
   SELECT organization_id, cw_grouping_dimension(grouping), ${period}, ${KEY}, ${SUMS}${extra}
     FROM cost_data WHERE true${bound} GROUP BY 1, 2, 3, 4)`;
}

/**
 * Each rollup table of migration 0008 as the aggregate over cost_data it is built from
 * (cw_rebuild_cost_rollups). Postgres pushes the organization, dimension, day and value
 * predicates of the API's queries into every branch (partition pruning, the natural-key index).
 */
export const RAW_SOURCES: Record<string, string> = {
  cost_rollup_daily_by_service: `(SELECT organization_id, cw_grouping_dimension(grouping) AS dimension,
            cost_date AS day, service, ${KEY} AS key, ${SUMS}
     FROM cost_data GROUP BY 1, 2, 3, 4, 5)`,
  cost_rollup_daily: perDimension('cost_date AS day', '', ''),
  // The monthly queries take ($3, $4) = (from, to): bound cost_date by them too, as a hand-written
  // query would, so that partitions are pruned (a predicate on date_trunc(cost_date) prunes none).
  cost_rollup_monthly: perDimension(
    "date_trunc('month', cost_date)::date AS month",
    ` AND cost_date >= date_trunc('month', $3::date)::date
      AND cost_date < (date_trunc('month', $4::date) + interval '1 month')::date`,
    ', count(DISTINCT cost_date)::int AS days',
  ),
};

export function rewriteToRaw(sql: string): string {
  return sql.replace(
    /\bFROM (cost_rollup_daily_by_service|cost_rollup_daily|cost_rollup_monthly)\b/g,
    (_m, table: string) => `FROM ${RAW_SOURCES[table] ?? table} AS ${table}`,
  );
}

/** The pool, with the rollup tables of every query text replaced by their cost_data aggregate. */
function rawPool(pool: Pool): Pool {
  return new Proxy(pool, {
    get(target, prop, receiver) {
      if (prop !== 'query') return Reflect.get(target, prop, receiver) as unknown;
      return (...args: unknown[]) => {
        const [first, ...rest] = args;
        const text = typeof first === 'string' ? rewriteToRaw(first) : first;
        return (target.query as (...a: unknown[]) => unknown).call(target, text, ...rest);
      };
    },
  });
}

const config = asApiConfig(loadConfig('api'));
const log = createLogger({ level: config.LOG_LEVEL, name: 'api-raw' });
const pool = createPool({
  connectionString: config.DATABASE_URL,
  max: config.DB_POOL_SIZE,
  applicationName: 'costwatch-bench-raw',
  log,
  statementTimeoutMs: 15_000,
});
const redis = createRedis(config.REDIS_URL, 'cache', log);
const queueRedis = createRedis(config.REDIS_URL, 'producer', log);
const queues = createQueues(queueRedis, { prefix: config.QUEUE_PREFIX, attempts: 1, backoffMs: 1000 });
// Its clock is the API's (CLOCK_START=BENCH_NOW), so the summary answers are comparable.
const app = createApp({
  config,
  db: rawPool(pool),
  redis,
  queues,
  log,
  options: { now: clockFromConfig(config) },
});
const server = app.listen(config.PORT, config.HOST);
server.once('listening', () => {
  const { port } = server.address() as AddressInfo;
  log.info({ port }, 'raw cost_data api listening');
});
process.once('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => {
    void Promise.allSettled([queues.close(), redis.quit(), queueRedis.quit(), pool.end()]).then(() =>
      process.exit(0),
    );
  });
});
