/**
 * The chaos suite's own Postgres and Redis (under .costwatch/chaos/, ports 54339 and 63799; the
 * quick mode in `npm test`: .costwatch/chaos-ci/, 54349 and 63809): the scenarios restart them, so
 * they never touch the shared test instances on 54329/63790. Then a
 * run: a fresh migrated database, a queue prefix, the AWS simulator in process, real worker
 * processes (`costwatch worker`) that the run started and alone may kill.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { LOCAL_STATE_DIR, stackUp, type StackInfo } from '../../scripts/local-stack.js';
import { restartLocalPostgres, restartLocalRedis, type LocalStackRef } from './restarts.js';
import { createPool, type Pool } from '../../lib/db.js';
import { createRedis, type Redis } from '../../lib/redis.js';
import { migrateUp } from '../../database/migrator.js';
import { createQueues, type Queues } from '../../producers/queues.js';
import { enqueueBackfill, enqueueFetches, type FetchSource } from '../../producers/enqueue.js';
import { splitWindows } from '../../lib/dates.js';
import { backfillProgress } from '../../database/repositories/fetch-runs.repository.js';
import { createOrganization, type CustomerOrganization as Organization } from '../../database/repositories/organizations.repository.js';
import { startSimulator, type RunningSimulator, type SimOptions } from '../../sim/server.js';
import { spawnRole, type RoleProcess } from '../helpers/processes.js';
import { pinnedClockEnv, TEST_NOW } from '../helpers/clock.js';
import { discardQueues } from '../helpers/queues.js';

export interface ChaosInstance {
  stateDir: string;
  pgPort: number;
  redisPort: number;
}

/** `npm run test:chaos`'s instances. */
export const CHAOS_INSTANCE: ChaosInstance = { stateDir: path.join(LOCAL_STATE_DIR, 'chaos'), pgPort: 54339, redisPort: 63799 };
/** The quick mode inside `npm test` has its own, so a full run and `npm test` may overlap. */
export const CHAOS_CI_INSTANCE: ChaosInstance = { stateDir: path.join(LOCAL_STATE_DIR, 'chaos-ci'), pgPort: 54349, redisPort: 63809 };

let instance: ChaosInstance = CHAOS_INSTANCE;

/** Chooses the instances of this process (before the first scenario). */
export function useChaosInstance(chosen: ChaosInstance): void {
  if (stack) throw new Error('useChaosInstance must be called before the chaos stack starts');
  instance = chosen;
}

const stackRef = (): LocalStackRef => ({ stateDir: instance.stateDir, redisPort: instance.redisPort, log: () => undefined });

/**
 * One run at a time per instance (its scenarios restart Postgres and Redis): a lock file holding
 * the owner's pid, waited for (at most 40 minutes) while that process lives, removed at exit.
 */
async function lockInstance(): Promise<void> {
  const file = `${instance.stateDir}.lock`;
  mkdirSync(path.dirname(file), { recursive: true });
  const deadline = Date.now() + 40 * 60_000;
  for (let announced = false; ; ) {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' });
      process.once('exit', () => rmSync(file, { force: true }));
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = Number(readFileSync(file, 'utf8').trim());
    let alive: boolean;
    try {
      // Signal 0 only checks that the process exists.
      alive = Number.isInteger(owner) && owner > 0 && process.kill(owner, 0);
    } catch {
      alive = false;
    }
    if (!alive) {
      rmSync(file, { force: true });
      continue;
    }
    if (Date.now() > deadline) throw new Error(`${file}: chaos instance still used by process ${owner}`);
    if (!announced) process.stderr.write(`chaos: waiting for process ${owner} to finish with ${instance.stateDir}\n`);
    announced = true;
    await sleep(2_000);
  }
}

const AWS_KEYS = { AWS_ACCESS_KEY_ID: 'AKIACOSTWATCHTEST', AWS_SECRET_ACCESS_KEY: 'costwatch-test-secret' };
process.env.AWS_ACCESS_KEY_ID ??= AWS_KEYS.AWS_ACCESS_KEY_ID;
process.env.AWS_SECRET_ACCESS_KEY ??= AWS_KEYS.AWS_SECRET_ACCESS_KEY;

let stack: Promise<StackInfo> | null = null;

/** Starts (once per process) the chaos suite's dedicated local Postgres and Redis. */
export function chaosStack(): Promise<StackInfo> {
  stack ??= lockInstance()
    .then(() =>
      stackUp({
        stateDir: instance.stateDir,
        pgPort: instance.pgPort,
        redisPort: instance.redisPort,
        docker: false,
        log: (line) => process.stderr.write(`chaos stack: ${line}\n`),
      }),
    )
    .then(async (info) => {
      // Local instances run with synchronous_commit = off (a crash may lose the last commits). The
      // crash scenarios need production durability: otherwise a rollup or load that committed
      // just before pg_ctl -m immediate is lost although its job completed.
      const admin = new pg.Client({ connectionString: info.DATABASE_URL });
      await admin.connect();
      await admin.query(`ALTER SYSTEM SET synchronous_commit = 'on'`);
      await admin.query('SELECT pg_reload_conf()');
      await admin.end();
      return info;
    });
  return stack;
}

/** `pg_ctl stop -m mode`, down for `downMs`, start: only ever the chaos instance. */
export const restartChaosPostgres = (mode: 'fast' | 'immediate', downMs: number) => restartLocalPostgres(stackRef(), mode, downMs);
/** Redis SHUTDOWN [NOSAVE], down for `downMs`, start on the same AOF dir: only ever the chaos instance. */
export const restartChaosRedis = (mode: 'clean' | 'nosave', downMs: number) => restartLocalRedis(stackRef(), mode, downMs);

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface ChaosDb {
  url: string;
  pool: Pool;
  drop(): Promise<void>;
}

/** A fresh, migrated database on the chaos Postgres. */
export async function createChaosDb(info: StackInfo, poolSize = 8): Promise<ChaosDb> {
  const name = `cw_chaos_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: info.DATABASE_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const parsed = new URL(info.DATABASE_URL);
  parsed.pathname = `/${name}`;
  const url = parsed.toString();
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await migrateUp(client);
  await client.end();
  const pool = createPool({ connectionString: url, max: poolSize, applicationName: 'costwatch-chaos' });
  // The chaos scenarios restart Postgres under this pool: idle clients error, and must not crash us.
  pool.on('error', () => undefined);
  return {
    url,
    pool,
    async drop() {
      await pool.end().catch(() => undefined);
      const c = new pg.Client({ connectionString: info.DATABASE_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

export interface ChaosRunOptions {
  sim?: Partial<SimOptions>;
  /** Environment of every process of the run (over the defaults below). */
  env?: Record<string, string>;
}

export interface ChaosRun {
  info: StackInfo;
  db: ChaosDb;
  sim: RunningSimulator;
  prefix: string;
  env: Record<string, string>;
  redis: Redis;
  queues: Queues;
  /** Worker processes currently running (started by this run). */
  workers: RoleProcess[];
  /** Workers that exited without being told to: exit code or signal and their last output lines. */
  unexpectedExits: string[];
  spawnWorker(extra?: Record<string, string>): Promise<RoleProcess>;
  /** Starts another role (`api`, `scheduler`) with the run's environment; resolves when `readyText` is logged. */
  spawn(args: string[], readyText: string, extra?: Record<string, string>): Promise<RoleProcess>;
  createOrgs(accounts: string[]): Promise<Organization[]>;
  /** Enqueues a backfill (both sources unless `sources` says otherwise); returns its id and job count. */
  backfill(orgIds: number[], from: string, to: string, windowDays: number, sources?: FetchSource[]): Promise<{ backfillId: string; jobs: number }>;
  /** Waits until `jobs` windows of the backfill are rolled up or failed for good. */
  waitBackfill(backfillId: string, jobs: number, timeoutMs: number): Promise<{ rolledUp: number; failed: number; ms: number }>;
  /** SIGTERM to a process of the run, SIGKILL after `graceMs`; its exit code. */
  stop(p: RoleProcess, graceMs?: number): Promise<number | null>;
  /** kill -9 of a process of the run. */
  kill9(p: RoleProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM to every worker of the run, SIGKILL after `graceMs`; returns their exit codes. */
  stopWorkers(graceMs?: number): Promise<Array<number | null>>;
  close(): Promise<void>;
}

// Every process any run of this process started, until it exits.
const started = new Set<RoleProcess>();

function track(p: RoleProcess): RoleProcess {
  started.add(p);
  void p.exited.then(() => started.delete(p));
  return p;
}

/**
 * kill -9 of every process the runs of this process started and that is still running: for a
 * scenario abandoned on a timeout, whose own cleanup never ran (its children would keep the test
 * process alive).
 */
export async function killAllStarted(): Promise<number> {
  const left = [...started];
  for (const p of left) p.child.kill('SIGKILL');
  await Promise.all(left.map((p) => p.exited));
  return left.length;
}

/** Stops a process this run started: SIGTERM, then SIGKILL after `graceMs`. */
export async function stopProcess(p: RoleProcess, graceMs = 15_000): Promise<number | null> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return p.child.exitCode;
  p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), graceMs);
  const { code } = await p.exited;
  clearTimeout(timer);
  return code;
}

export async function startChaosRun(options: ChaosRunOptions = {}): Promise<ChaosRun> {
  const info = await chaosStack();
  const db = await createChaosDb(info);
  // One pinned clock (TEST_NOW) for the simulator and every process of the run.
  const sim = await startSimulator({ port: 0, clockStart: TEST_NOW, clockFrozen: true, ...options.sim });
  const prefix = `chaos${randomBytes(4).toString('hex')}`;
  const env: Record<string, string> = {
    DATABASE_URL: db.url,
    REDIS_URL: info.REDIS_URL,
    JWT_SECRET_KEY: info.JWT_SECRET_KEY,
    QUEUE_PREFIX: prefix,
    AWS_ENDPOINT_URL: sim.url,
    ALLOW_INSECURE_AWS_ENDPOINT: 'true',
    ...AWS_KEYS,
    HOST: '127.0.0.1',
    METRICS_PORT: '0',
    LOG_LEVEL: 'info',
    JOB_LOCK_SECONDS: '5',
    RETRY_BACKOFF_MS: '200',
    THROTTLE_BACKOFF_MS: '300',
    SHUTDOWN_GRACE_SECONDS: '5',
    WORKER_CONCURRENCY: '4',
    DB_POOL_SIZE: '8',
    CE_RATE_PER_ORG: '100',
    CW_RATE_PER_ORG: '200',
    ...pinnedClockEnv(TEST_NOW),
    ...options.env,
  };
  const redis = createRedis(info.REDIS_URL, 'producer');
  // Job options come from the producer: the same attempts and backoff the run's processes are given.
  const queues = createQueues(redis, { prefix, attempts: Number(env.FETCH_ATTEMPTS ?? 6), backoffMs: Number(env.RETRY_BACKOFF_MS ?? 2000) });
  const extras: RoleProcess[] = [];
  // Processes this run stopped or killed on purpose.
  const told = new Set<RoleProcess>();
  queues.all.forEach((q) => q.on('error', () => undefined));
  const run: ChaosRun = {
    info,
    db,
    sim,
    prefix,
    env,
    redis,
    queues,
    workers: [],
    unexpectedExits: [],
    async spawnWorker(extra = {}) {
      const p = track(await spawnRole(['worker'], { ...env, ...extra }, 'worker started', 60_000));
      keepLog(p, `${prefix}-worker-${p.child.pid}`);
      run.workers.push(p);
      void p.exited.then(({ code, signal }) => {
        run.workers = run.workers.filter((w) => w !== p);
        if (!told.has(p)) run.unexpectedExits.push(`worker exited (code ${code}, signal ${signal}): ${p.output().trim().split('\n').slice(-4).join(' / ').slice(0, 1200)}`);
      });
      return p;
    },
    async spawn(args, readyText, extra = {}) {
      const p = track(await spawnRole(args, { ...env, ...extra }, readyText, 60_000));
      keepLog(p, `${prefix}-${args[0] ?? 'role'}-${p.child.pid}`);
      extras.push(p);
      return p;
    },
    async createOrgs(accounts) {
      const orgs: Organization[] = [];
      for (const account of accounts) {
        orgs.push(
          await createOrganization(db.pool, {
            name: `chaos-${account}-${randomBytes(2).toString('hex')}`,
            awsAccountId: account,
            roleArn: `arn:aws:iam::${account}:role/CostWatchRead`,
            externalId: null,
          }),
        );
      }
      return orgs;
    },
    async backfill(orgIds, from, to, windowDays, sources = ['costs', 'metrics']) {
      const backfillId = `chaos-${randomBytes(4).toString('hex')}`;
      if (sources.length === 2) {
        const { windows } = await enqueueBackfill(queues, orgIds, { from, to }, windowDays, backfillId);
        return { backfillId, jobs: windows * 2 };
      }
      const jobs = orgIds.flatMap((orgId) => splitWindows(from, to, windowDays).map((w) => ({ orgId, ...w, trigger: 'backfill' as const, backfillId })));
      for (const source of sources) await enqueueFetches(queues, source, jobs);
      return { backfillId, jobs: jobs.length * sources.length };
    },
    async waitBackfill(backfillId, jobs, timeoutMs) {
      const started = Date.now();
      for (;;) {
        const p = await backfillProgress(db.pool, backfillId).catch(() => null);
        if (p && p.rolledUp + p.failed >= jobs) return { rolledUp: p.rolledUp, failed: p.failed, ms: Date.now() - started };
        if (run.workers.length === 0 && run.unexpectedExits.length > 0) throw new Error(`every worker died: ${run.unexpectedExits.join(' | ')}`);
        if (Date.now() - started > timeoutMs) {
          throw new Error(`backfill ${backfillId}: ${JSON.stringify(p)} of ${jobs} windows after ${timeoutMs} ms`);
        }
        await sleep(250);
      }
    },
    async stopWorkers(graceMs = 15_000) {
      return Promise.all([...run.workers].map((w) => run.stop(w, graceMs)));
    },
    stop(p, graceMs = 15_000) {
      told.add(p);
      return stopProcess(p, graceMs);
    },
    kill9(p) {
      told.add(p);
      p.child.kill('SIGKILL');
      return p.exited;
    },
    async close() {
      await run.stopWorkers();
      await Promise.all(extras.map((p) => run.stop(p)));
      await discardQueues(queues).catch(() => undefined);
      await deleteKeys(redis, `${prefix}:*`).catch(() => undefined);
      redis.disconnect();
      await sim.close();
      await db.drop();
    },
  };
  return run;
}

/** Copies a process's output to .costwatch/chaos/logs/<name>.log, for the post-mortem of a failed scenario. */
function keepLog(p: RoleProcess, name: string): void {
  const dir = path.join(instance.stateDir, 'logs');
  mkdirSync(dir, { recursive: true });
  const file = createWriteStream(path.join(dir, `${name}.log`));
  file.write(p.output());
  p.child.stdout?.pipe(file, { end: false });
  p.child.stderr?.pipe(file, { end: false });
  void p.exited.then(() => file.end());
}

/** Deletes every key matching `pattern` (SCAN, bounded batches). */
export async function deleteKeys(redis: Redis, pattern: string): Promise<number> {
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) deleted += await redis.del(...keys);
  } while (cursor !== '0');
  return deleted;
}

/** Counts keys matching `pattern`. */
export async function countKeys(redis: Redis, pattern: string): Promise<number> {
  let cursor = '0';
  let n = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    n += keys.length;
  } while (cursor !== '0');
  return n;
}

/** Resident set size of a process in MB (Linux /proc), or null once it is gone. */
export async function rssMb(pid: number | undefined): Promise<number | null> {
  if (pid === undefined) return null;
  try {
    const { readFile } = await import('node:fs/promises');
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = /VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1];
    return kb ? Number(kb) / 1024 : null;
  } catch {
    return null;
  }
}
