/**
 * Pipeline benchmark harness: a dedicated migrated database, a unique QUEUE_PREFIX, the AWS
 * simulator in its own process (bench/sim-child.ts), N organizations with role ARNs, and workers
 * either in this process (`startWorkers`) or as `costwatch worker` processes. CPU time is taken per
 * component: this process, worker processes and the simulator (their own counters), and the
 * Postgres backends serving the benchmark database (/proc, sampled while the run lasts).
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createClock, type Now } from '../lib/clock.js';
import { parseConfig, asServiceConfig, type ServiceConfig } from '../lib/config.js';
import { createRedis, type Redis } from '../lib/redis.js';
import { createLogger } from '../lib/logger.js';
import { createQueues, type Queues } from '../producers/queues.js';
import { startWorkers, type WorkerQueue } from '../workers/main.js';
import type { SimOptions } from '../sim/server.js';
import type { SimMessage, SimStats } from './sim-child.js';
import {
  BENCH_DIR,
  BENCH_NOW,
  benchClockEnv,
  createBenchDatabase,
  redisUrl,
  sleep,
  type BenchDatabase,
} from './support.js';
import { discardQueues } from '../tests/helpers/queues.js';

const ROOT = path.resolve(BENCH_DIR, '..');

export interface SimProcess {
  url: string;
  pid: number;
  stats(): Promise<SimStats>;
  reset(): Promise<void>;
  /** Changes simulator options (e.g. moves its clock: `{ clockStart, clockFrozen }`). */
  setOptions(options: Partial<SimOptions>): Promise<void>;
  close(): Promise<void>;
}

export async function startSimProcess(options: Partial<SimOptions>): Promise<SimProcess> {
  const child = fork(path.join(BENCH_DIR, 'sim-child.ts'), [JSON.stringify(options)], {
    // BENCH_SIM_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof-sim" profiles the simulator.
    execArgv: ['--import', 'tsx', ...(process.env.BENCH_SIM_NODE_ARGS ?? '').split(' ').filter(Boolean)],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const request = <T>(message: SimMessage, reply: string): Promise<T> =>
    new Promise((resolve) => {
      const onMessage = (m: { type: string } & Record<string, unknown>) => {
        if (m.type !== reply) return;
        child.off('message', onMessage);
        resolve(m as T);
      };
      child.on('message', onMessage);
      child.send(message);
    });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`simulator process exited with ${code}`)));
    child.on('message', (m: { type: string; url?: string }) => {
      if (m.type === 'ready' && m.url) resolve(m.url);
    });
  });
  child.removeAllListeners('exit');
  return {
    url,
    pid: child.pid ?? 0,
    stats: async () => (await request<{ stats: SimStats }>({ type: 'stats' }, 'stats')).stats,
    reset: async () => {
      await request({ type: 'reset' }, 'reset');
    },
    setOptions: async (o) => {
      await request({ type: 'options', options: o }, 'options');
    },
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.disconnect();
        setTimeout(() => child.kill('SIGKILL'), 5000).unref();
      }),
  };
}

const CLK_TCK = 100;

/** utime + stime of a process in ms, from /proc (0 when it is gone). */
export function procCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
  } catch {
    return 0;
  }
}

/** CPU of the Postgres backends connected to one database, sampled until stopped. */
export function samplePostgresCpu(db: BenchDatabase): { stop(): Promise<number> } {
  const last = new Map<number, number>();
  const base = new Map<number, number>();
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        const { rows } = await db.pool.query<{ pid: number }>(
          'SELECT pid FROM pg_stat_activity WHERE datname = current_database()',
        );
        for (const { pid } of rows) {
          const cpu = procCpuMs(pid);
          if (!base.has(pid)) base.set(pid, cpu);
          if (cpu > 0) last.set(pid, cpu);
        }
      } catch {
        // the pool is closing
      }
      await sleep(1000);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      let total = 0;
      // Backends already open when sampling started count from their first sample.
      for (const [pid, cpu] of last) total += cpu - (base.get(pid) ?? 0);
      return total;
    },
  };
}

/** Postgres execution time of one kind of statement during a run (pg_stat_statements). */
export interface StatementTime {
  kind: string;
  calls: number;
  totalMs: number;
}

const STATEMENT_KINDS: Array<[RegExp, string]> = [
  [/^COPY /i, 'COPY (loads)'],
  // The contributor breakdown (anomalies.repository.ts) reads cost_data by day without naming anomalies.
  [/cw_detect|anomal|AS contributor/i, 'anomaly detection'],
  [/budget/i, 'budget evaluation'],
  [/cost_full_reads|GROUP BY cost_date|sum\(unblended_cost\)/i, 'probe: stored day totals, full reads'],
  [/forecast_refreshes/, 'forecast runs'],
  [/cw_clear_(cost|metrics)_window/, 'lock + DELETE of the window'],
  [/cw_rebuild_cost_rollups/, 'cost rollups'],
  [/cw_rebuild_metric_rollups/, 'metric rollups'],
  [/^(BEGIN|COMMIT|ROLLBACK)/i, 'BEGIN / COMMIT'],
  [/ensure_monthly_partitions/, 'partition checks'],
  [/pg_stat_activity|count\(\*\) FILTER \(WHERE status = 'succeeded'\)/, "the benchmark's own polling"],
  [/fetch_runs/, 'fetch run ledger (start, finish)'],
  [/cost_forecasts|organizations/, 'organization status, forecast'],
];

/**
 * Where Postgres's time goes during a run, by kind of statement, from pg_stat_statements (loaded
 * by `npm run stack:up` when the server ships it). Returns null when it is not available.
 */
export async function sampleStatements(
  db: BenchDatabase,
): Promise<{ stop(): Promise<StatementTime[] | null> }> {
  const available = await db.pool
    .query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements')
    .then(() => db.pool.query('SELECT pg_stat_statements_reset()'))
    .then(() => true)
    .catch(() => false);
  return {
    async stop() {
      if (!available) return null;
      const { rows } = await db.pool.query<{ query: string; calls: string; total: number }>(
        `SELECT query, calls, total_exec_time AS total FROM pg_stat_statements
         WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())`,
      );
      const kinds = new Map<string, StatementTime>();
      for (const row of rows) {
        const kind = STATEMENT_KINDS.find(([pattern]) => pattern.test(row.query))?.[1] ?? 'other';
        const entry = kinds.get(kind) ?? { kind, calls: 0, totalMs: 0 };
        entry.calls += Number(row.calls);
        entry.totalMs += row.total;
        kinds.set(kind, entry);
      }
      return [...kinds.values()].sort((a, b) => b.totalMs - a.totalMs);
    },
  };
}

export interface Harness {
  db: BenchDatabase;
  sim: SimProcess;
  prefix: string;
  env: Record<string, string>;
  config: ServiceConfig;
  redis: Redis;
  queues: Queues;
  orgIds: number[];
  /** The run's pinned clock (frozen): the simulator's, the workers' and the tick's now. */
  now: Now;
  close(): Promise<void>;
}

export function accountOf(i: number): string {
  return String(300_000_000_000 + i * 7919).padStart(12, '0');
}

export async function startHarness(options: {
  orgs: number;
  sim: Partial<SimOptions>;
  env: Record<string, string>;
  /** The pinned instant of the run (default BENCH_NOW). */
  at?: string;
}): Promise<Harness> {
  const at = options.at ?? BENCH_NOW;
  const db = await createBenchDatabase(6);
  const sim = await startSimProcess({ clockStart: at, clockFrozen: true, ...options.sim });
  const prefix = `cwbench${randomBytes(4).toString('hex')}`;
  process.env.AWS_ACCESS_KEY_ID ??= 'AKIACOSTWATCHBENCH';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'costwatch-bench-secret';
  const env: Record<string, string> = {
    DATABASE_URL: db.url,
    REDIS_URL: redisUrl(),
    JWT_SECRET_KEY: process.env.JWT_SECRET_KEY ?? 'bench-secret-bench-secret-bench-secret-1234',
    LOG_LEVEL: 'silent',
    METRICS_PORT: '0',
    HOST: '127.0.0.1',
    QUEUE_PREFIX: prefix,
    AWS_ENDPOINT_URL: sim.url,
    ALLOW_INSECURE_AWS_ENDPOINT: 'true',
    AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY,
    ...benchClockEnv(at),
    ...options.env,
  };
  const config = asServiceConfig(parseConfig('worker', env));
  const redis = createRedis(config.REDIS_URL, 'producer');
  const queues = createQueues(redis, {
    prefix,
    attempts: config.FETCH_ATTEMPTS,
    backoffMs: config.RETRY_BACKOFF_MS,
  });
  const { rows } = await db.pool.query<{ id: number }>(
    `INSERT INTO organizations (name, aws_account_id, role_arn)
     SELECT 'bench org ' || i, lpad((300000000000 + i * 7919)::text, 12, '0'),
            'arn:aws:iam::' || lpad((300000000000 + i * 7919)::text, 12, '0') || ':role/CostWatchRead'
     FROM generate_series(1, $1::int) AS i ORDER BY i RETURNING id`,
    [options.orgs],
  );
  return {
    db,
    sim,
    prefix,
    env,
    config,
    redis,
    queues,
    orgIds: rows.map((r) => r.id),
    now: createClock({ startAt: new Date(at), frozen: true }),
    async close() {
      await discardQueues(queues);
      redis.disconnect();
      await sim.close();
      await db.drop();
    },
  };
}

export interface WorkerSet {
  mode: string;
  /** CPU ms of the worker processes (or of this process for in-process workers) since start. */
  cpuMs(): number;
  stop(): Promise<void>;
}

/** Workers in this process (`startWorkers`), sharing its event loop with the benchmark driver. */
export async function inProcessWorkers(
  harness: Harness,
  queues?: WorkerQueue[],
  /** The workers' clock (default the run's pinned now), e.g. the day before for a seeding refresh. */
  now: Now = harness.now,
): Promise<WorkerSet> {
  const base = process.cpuUsage();
  const running = await startWorkers(harness.config, {
    log: createLogger({ level: 'silent', name: 'worker' }),
    now,
    ...(queues ? { queues } : {}),
  });
  return {
    mode: 'in-process startWorkers',
    cpuMs: () => {
      const u = process.cpuUsage(base);
      return (u.user + u.system) / 1000;
    },
    stop: () => running.stop(),
  };
}

/** `costwatch worker` processes, as deployed. */
export async function workerProcesses(
  harness: Harness,
  count: number,
  queues?: WorkerQueue[],
): Promise<WorkerSet> {
  const children: ChildProcess[] = [];
  for (let i = 0; i < count; i++) {
    // BENCH_WORKER_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof", profiles the worker processes.
    const nodeArgs = (process.env.BENCH_WORKER_NODE_ARGS ?? '').split(' ').filter(Boolean);
    const args = [
      ...nodeArgs,
      path.join(ROOT, 'bin', 'costwatch.mjs'),
      'worker',
      ...(queues ? ['--queues', queues.join(',')] : []),
    ];
    const child = spawn(process.execPath, args, {
      cwd: ROOT,
      env: { ...process.env, ...harness.env },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    children.push(child);
  }
  // Ready once every process has a worker connection registered in Redis.
  const deadline = Date.now() + 60_000;
  for (;;) {
    const workers = await harness.queues.fetchCosts.getWorkers().catch(() => []);
    if (workers.length >= count || (queues && !queues.includes('fetch-costs'))) break;
    if (Date.now() > deadline) throw new Error('worker processes did not start within 60 s');
    if (children.some((c) => c.exitCode !== null)) throw new Error('a worker process exited at start');
    await sleep(200);
  }
  let lastCpu = children.map(() => 0);
  return {
    mode: `${count} \`costwatch worker\` process${count > 1 ? 'es' : ''}`,
    cpuMs: () => {
      lastCpu = children.map((c, i) => Math.max(lastCpu[i] ?? 0, c.pid ? procCpuMs(c.pid) : 0));
      return lastCpu.reduce((a, b) => a + b, 0);
    },
    async stop() {
      await Promise.all(
        children.map(
          (c) =>
            new Promise<void>((resolve) => {
              if (c.exitCode !== null) return resolve();
              c.once('exit', () => resolve());
              c.kill('SIGTERM');
              setTimeout(() => c.kill('SIGKILL'), 30_000).unref();
            }),
        ),
      );
    },
  };
}
