/**
 * What every benchmark shares: a dedicated, migrated database; the machine note printed with
 * every result (this machine is shared and noisy, so results are ratios against a reference
 * measured in the same run, plus absolutes); medians; a hard timeout; progress on stderr and a
 * JSON copy of the results under bench/results/.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../tests/helpers/db.js';

export const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
export const RESULTS_DIR = path.join(BENCH_DIR, 'results');

/**
 * The pinned "now" of every benchmark: a mid-month day, so what a run fetches and loads does not
 * move with the calendar (on the 1st the refresh window also holds the previous month). The
 * simulator, the workers, the scheduler tick and the API all read it; nothing in bench/ reads the
 * real date (run timestamps and durations aside).
 */
export const BENCH_NOW = '2026-11-15T06:00:00Z';
/** The 1st of a month, which the steady refresh reports as its own row. */
export const BENCH_MONTH_START_NOW = '2026-12-01T06:00:00Z';

/** CLOCK_START / CLOCK_FROZEN pinning a spawned role (worker, api) at `at`, standing still. */
export function benchClockEnv(at: string = BENCH_NOW): { CLOCK_START: string; CLOCK_FROZEN: string } {
  return { CLOCK_START: at, CLOCK_FROZEN: 'true' };
}

/** `--quick` (smaller sizes) and `--name=value` flags of a benchmark file. */
export interface BenchArgs {
  quick: boolean;
  flags: Map<string, string>;
}

export function parseArgs(argv: string[] = process.argv.slice(2)): BenchArgs {
  const flags = new Map<string, string>();
  for (const arg of argv) {
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (match?.[1]) flags.set(match[1], match[2] ?? 'true');
  }
  return { quick: flags.get('quick') === 'true' || process.env.BENCH_QUICK === '1', flags };
}

export function numberFlag(args: BenchArgs, name: string, fallback: number): number {
  const raw = args.flags.get(name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0)
    throw new Error(`--${name}: must be a positive number (got ${JSON.stringify(raw)})`);
  return value;
}

export function adminUrl(): string {
  const url = process.env.DATABASE_URL;
  if (!url)
    throw new Error('DATABASE_URL: environment variable required (run the benchmarks with `npm run bench`)');
  return url;
}

export function redisUrl(): string {
  const url = process.env.REDIS_URL;
  if (!url)
    throw new Error('REDIS_URL: environment variable required (run the benchmarks with `npm run bench`)');
  return url;
}

export type BenchDatabase = TestDatabase;

const created = new Set<string>();

async function dropDatabase(name: string): Promise<void> {
  const c = new pg.Client({ connectionString: adminUrl() });
  await c.connect();
  await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await c.end();
  created.delete(name);
}

/** CREATE DATABASE cw_bench_<random> + every migration, and a pool on it (the tests' helper). */
export async function createBenchDatabase(poolSize = 10): Promise<BenchDatabase> {
  const db = await createTestDatabase({ poolSize, prefix: 'cw_bench_', applicationName: 'costwatch-bench' });
  created.add(db.name);
  return {
    ...db,
    async drop() {
      await db.drop();
      created.delete(db.name);
    },
  };
}

export interface MachineNote {
  date: string;
  nproc: number;
  cpuModel: string;
  memoryGiB: string;
  freeG: string;
  loadAverage: string;
  node: string;
  postgres: string;
  postgresSettings: Record<string, string>;
}

/** nproc, memory, `free -g`, Node and Postgres versions: printed with every result. */
export async function machineNote(db: pg.Pool | pg.Client): Promise<MachineNote> {
  let freeG: string;
  try {
    freeG =
      execFileSync('free', ['-g'], { encoding: 'utf8' }).split('\n')[1]?.replace(/\s+/g, ' ').trim() ?? '';
  } catch {
    freeG = 'free(1) not available';
  }
  const version = await db.query<{ v: string }>('SELECT version() AS v');
  const settings = await db.query<{ name: string; setting: string; unit: string | null }>(
    `SELECT name, setting, unit FROM pg_settings
     WHERE name IN ('shared_buffers', 'max_wal_size', 'synchronous_commit', 'fsync', 'work_mem', 'maintenance_work_mem', 'max_connections')`,
  );
  return {
    date: new Date().toISOString(),
    nproc: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: (os.totalmem() / 2 ** 30).toFixed(1),
    freeG,
    loadAverage: os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' '),
    node: process.version,
    postgres: (version.rows[0]?.v ?? 'unknown').split(' on ')[0] ?? 'unknown',
    postgresSettings: Object.fromEntries(
      settings.rows.map((r) => [r.name, r.unit ? `${r.setting} (${r.unit})` : r.setting]),
    ),
  };
}

export function printMachine(note: MachineNote): void {
  process.stdout.write(
    `machine: ${note.date} | nproc ${note.nproc} (${note.cpuModel}) | memory ${note.memoryGiB} GiB | free -g: ${note.freeG} | ` +
      `load ${note.loadAverage} | node ${note.node} | ${note.postgres} | ${Object.entries(
        note.postgresSettings,
      )
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')}\n`,
  );
}

export function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const hi = sorted[mid] ?? Number.NaN;
  const lo = sorted[mid - 1] ?? hi;
  return sorted.length % 2 === 1 ? hi : (lo + hi) / 2;
}

export function progress(message: string): void {
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

/** Kills the benchmark (exit 2) if it runs longer than `ms`, so `npm run bench` stays bounded. */
export function hardTimeout(ms: number, name: string): NodeJS.Timeout {
  const timer = setTimeout(() => {
    process.stderr.write(
      `${name}: hard timeout of ${Math.round(ms / 1000)} s reached; dropping its databases and aborting\n`,
    );
    const cleanup = Promise.allSettled([...created].map((db) => dropDatabase(db)));
    void Promise.race([cleanup, sleep(10_000)]).finally(() => process.exit(2));
  }, ms);
  timer.unref();
  return timer;
}

export const fmt = {
  int: (n: number) => Math.round(n).toLocaleString('en-US'),
  s: (ms: number) => `${(ms / 1000).toFixed(2)} s`,
  ratio: (r: number) => `${r.toFixed(2)}x`,
  mb: (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MB`,
};

/** Prints a markdown table (the format docs/BENCHMARKS.md uses). */
export function printTable(title: string, header: string[], rows: Array<Array<string | number>>): void {
  const lines = [`\n### ${title}`, `| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`];
  for (const row of rows) lines.push(`| ${row.join(' | ')} |`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** Writes the run's results as JSON to bench/results/<name>.json (ignored by git). */
export function saveResults(name: string, results: unknown): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, `${name}.json`);
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  return file;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
