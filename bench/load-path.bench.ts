/**
 * Load path: SDK-shaped CostRow batches in memory -> replaceCostWindow -> window committed.
 *
 * Reference, measured in the same run and interleaved (order rotated each round): `psql \copy` of
 * the same rows from a text-format file into the same table, in one transaction with the same
 * DELETE of the window (`psql -1`). Also compared: multi-row INSERT (1000 rows a statement, bind
 * parameters, prepared) and a TEMP staging table + INSERT ... ON CONFLICT upsert (the alternative
 * replace strategy). Each is timed for a first load (empty window) and a reload (window full:
 * DELETE + load). Goal: replaceCostWindow >= 0.8x psql \copy (aim 0.9x).
 *
 * Then a child process streams 1M generated rows through replaceCostWindow and reports its peak
 * RSS (goal < 200 MB).
 *
 *   npm run bench -- load [--quick] [--rows=500000] [--rounds=3] [--rss-rows=1000000]
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, createWriteStream } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { PoolClient } from '../lib/db.js';
import { addMonths, daysBetween, todayUtc } from '../lib/dates.js';
import { replaceCostWindow, type CostRow } from '../database/repositories/cost-data.repository.js';
import { copyInto } from '../database/copy.js';
import { COST_COLUMNS, costRowBatchesInMemory, costRowParams, costRowText } from './cost-rows.js';
import type { RssReport } from './load-rss-child.js';
import {
  BENCH_DIR,
  BENCH_NOW,
  createBenchDatabase,
  fmt,
  hardTimeout,
  machineNote,
  median,
  numberFlag,
  parseArgs,
  printMachine,
  printTable,
  progress,
  saveResults,
  type BenchDatabase,
} from './support.js';

const run = promisify(execFile);
const args = parseArgs();
const ROWS = numberFlag(args, 'rows', args.quick ? 150_000 : 300_000);
const ROUNDS = numberFlag(args, 'rounds', args.quick ? 2 : 3);
const RSS_ROWS = numberFlag(args, 'rss-rows', 1_000_000);
const ORG = 1;
hardTimeout((args.quick ? 6 : 12) * 60_000, 'load-path');

type Variant = 'replaceCostWindow' | 'psql \\copy' | 'INSERT x1000' | 'staging upsert';
type Phase = 'first' | 'reload';
const VARIANTS: Variant[] = ['replaceCostWindow', 'psql \\copy', 'INSERT x1000', 'staging upsert'];

const db: BenchDatabase = await createBenchDatabase(4);
const tmp = mkdtempSync(path.join(os.tmpdir(), 'costwatch-bench-'));
try {
  const note = await machineNote(db.pool);
  printMachine(note);

  // One partition-month two months before the pinned today (BENCH_NOW), a closed month. Its
  // partition is made here, untimed, as the loaders other than replaceCostWindow need it too (the
  // migration's partitions follow the database server's calendar, not the pinned one).
  const from = addMonths(todayUtc(new Date(BENCH_NOW)), -2);
  const to = addMonths(from, 1);
  const days = daysBetween(from, to);
  const window = { from, to };
  const partition = `cost_data_y${from.slice(0, 4)}m${from.slice(5, 7)}`;
  await db.pool.query(`SELECT ensure_monthly_partitions('cost_data', $1::date, $2::date)`, [from, from]);

  progress(`generating ${fmt.int(ROWS)} rows for ${from}..${to} (${days} days)`);
  const batches = costRowBatchesInMemory({ from, days, rows: ROWS });
  const rowCount = batches.reduce((n, b) => n + b.length, 0);
  const file = path.join(tmp, 'cost_data.tsv');
  await writeTextFile(file, batches);

  const psqlStartMs = await psqlStartupMs(db.url);
  progress(`psql start-up + connect: ${psqlStartMs.toFixed(0)} ms (subtracted from every psql timing)`);

  const loaders: Record<Variant, () => Promise<void>> = {
    replaceCostWindow: async () => {
      const result = await replaceCostWindow(db.pool, ORG, window, fromArray(batches));
      if (result.rows !== rowCount)
        throw new Error(`replaceCostWindow loaded ${result.rows} rows, expected ${rowCount}`);
    },
    'psql \\copy': async () => {
      await run(
        'psql',
        [
          db.url,
          '-X',
          '-q',
          '-v',
          'ON_ERROR_STOP=1',
          '-1',
          '-c',
          `SELECT pg_advisory_xact_lock(1001, ${ORG})`,
          '-c',
          `DELETE FROM cost_data WHERE organization_id = ${ORG} AND cost_date >= '${from}' AND cost_date < '${to}'`,
          '-c',
          `\\copy cost_data (${COST_COLUMNS}) FROM '${file}'`,
        ],
        { maxBuffer: 1 << 20 },
      );
    },
    'INSERT x1000': () => inTransaction(async (client) => insertRows(client, batches)),
    'staging upsert': () => inTransaction(async (client) => stagingUpsert(client, batches)),
  };

  const times: Record<Variant, Record<Phase, number[]>> = Object.fromEntries(
    VARIANTS.map((v) => [v, { first: [] as number[], reload: [] as number[] }]),
  ) as Record<Variant, Record<Phase, number[]>>;

  let digest: string | null = null;
  for (let round = 0; round < ROUNDS; round++) {
    const order = VARIANTS.map((_, i) => VARIANTS[(i + round) % VARIANTS.length] as Variant);
    for (const variant of order) {
      for (const phase of ['first', 'reload'] as const) {
        if (phase === 'first') await db.pool.query('TRUNCATE cost_data');
        await db.pool.query('CHECKPOINT').catch(() => undefined);
        const started = performance.now();
        await loaders[variant]();
        let ms = performance.now() - started;
        if (variant === 'psql \\copy') ms -= psqlStartMs;
        times[variant][phase].push(ms);
        progress(
          `round ${round + 1}/${ROUNDS} ${variant} ${phase}: ${fmt.s(ms)} (${fmt.int(rowCount / (ms / 1000))} rows/s)`,
        );
        if (round === 0) {
          // Every variant must leave exactly the same window behind.
          const d = await windowDigest(db, from, to);
          if (d.rows !== rowCount)
            throw new Error(`${variant} ${phase} left ${d.rows} rows, expected ${rowCount}`);
          digest ??= d.digest;
          if (d.digest !== digest)
            throw new Error(`${variant} ${phase} loaded different data than replaceCostWindow`);
        }
      }
    }
  }

  const rate = (ms: number) => rowCount / (ms / 1000);
  const summary = VARIANTS.map((variant) => ({
    variant,
    firstMs: median(times[variant].first),
    reloadMs: median(times[variant].reload),
  }));
  const psqlRef = summary.find((s) => s.variant === 'psql \\copy');
  if (!psqlRef) throw new Error('no psql reference');
  // Paired ratios: replaceCostWindow against the psql run of the same round.
  const paired = (phase: Phase) =>
    median(
      times.replaceCostWindow[phase].map((ms, i) => (times['psql \\copy'][phase][i] ?? Number.NaN) / ms),
    );

  printTable(
    `Load path: ${fmt.int(rowCount)} rows, one org, window ${from}..${to} (partition ${partition}, unique index on 6 columns); median of ${ROUNDS} interleaved rounds`,
    [
      'loader',
      'first load',
      'rows/s',
      'vs psql \\copy',
      'reload (DELETE + load)',
      'rows/s',
      'vs psql \\copy',
    ],
    summary.map((s) => [
      s.variant,
      fmt.s(s.firstMs),
      fmt.int(rate(s.firstMs)),
      fmt.ratio(psqlRef.firstMs / s.firstMs),
      fmt.s(s.reloadMs),
      fmt.int(rate(s.reloadMs)),
      fmt.ratio(psqlRef.reloadMs / s.reloadMs),
    ]),
  );
  const firstRatio = paired('first');
  const reloadRatio = paired('reload');
  process.stdout.write(
    `replaceCostWindow / psql \\copy, median of per-round ratios: first load ${fmt.ratio(firstRatio)}, reload ${fmt.ratio(reloadRatio)} ` +
      `(goal >= 0.80x, aim 0.90x): ${Math.min(firstRatio, reloadRatio) >= 0.8 ? 'PASS' : 'FAIL'}\n`,
  );

  progress(`RSS: streaming ${fmt.int(RSS_ROWS)} generated rows through replaceCostWindow in a child process`);
  await db.pool.query('TRUNCATE cost_data');
  const rss = await rssChild(db.url, from, days, RSS_ROWS);
  printTable(
    'Worker memory while loading one window (child process, rows streamed from a generator)',
    [
      'rows',
      'time',
      'rows/s',
      'RSS before',
      'peak RSS (50 ms samples)',
      'maxRSS (getrusage)',
      'peak heap used',
      'goal',
    ],
    [
      [
        fmt.int(rss.rows),
        fmt.s(rss.ms),
        fmt.int(rss.rowsPerSecond),
        fmt.mb(rss.baselineRss),
        fmt.mb(rss.peakRss),
        fmt.mb(rss.maxRss),
        fmt.mb(rss.peakHeapUsed),
        `< 200 MB: ${rss.maxRss < 200 * 2 ** 20 ? 'PASS' : 'FAIL'}`,
      ],
    ],
  );

  const saved = saveResults('load-path', {
    machine: note,
    rows: rowCount,
    rounds: ROUNDS,
    window,
    psqlStartMs,
    times,
    summary,
    ratios: { first: firstRatio, reload: reloadRatio },
    rss,
  });
  progress(`results written to ${path.relative(process.cwd(), saved)}`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
  await db.drop();
}

async function* fromArray(batches: CostRow[][]): AsyncGenerator<CostRow[]> {
  for (const batch of batches) yield batch;
}

async function writeTextFile(file: string, batches: CostRow[][]): Promise<void> {
  const out = createWriteStream(file);
  for (const batch of batches) {
    let chunk = '';
    for (const row of batch) chunk += costRowText(ORG, row);
    if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
  }
  await new Promise<void>((resolve, reject) =>
    out.end((error?: Error | null) => (error ? reject(error) : resolve())),
  );
}

async function psqlStartupMs(url: string): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < 5; i++) {
    const started = performance.now();
    await run('psql', [url, '-X', '-q', '-c', 'SELECT 1']);
    samples.push(performance.now() - started);
  }
  return median(samples);
}

async function inTransaction(work: (client: PoolClient) => Promise<void>): Promise<void> {
  const client = await db.pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock(1001, $1)', [ORG]);
    await work(client);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

function windowOf(batches: CostRow[][]): { from: string; to: string } {
  const first = batches[0]?.[0];
  if (!first) throw new Error('no rows');
  return { from: first.costDate.slice(0, 8) + '01', to: addMonths(first.costDate, 1) };
}

function valuesList(rows: number, columns: number): string {
  const tuples: string[] = [];
  for (let r = 0; r < rows; r++) {
    const params: string[] = [];
    for (let c = 1; c <= columns; c++) params.push(`$${r * columns + c}`);
    tuples.push(`(${params.join(', ')})`);
  }
  return tuples.join(', ');
}

/** Multi-row INSERT, 1000 rows a statement (12,000 bind parameters), prepared once per size. */
async function insertRows(client: PoolClient, batches: CostRow[][]): Promise<void> {
  const { from, to } = windowOf(batches);
  await client.query(
    'DELETE FROM cost_data WHERE organization_id = $1 AND cost_date >= $2 AND cost_date < $3',
    [ORG, from, to],
  );
  const PER = 1000;
  const texts = new Map<number, string>();
  let pending: Array<string | number | boolean> = [];
  let count = 0;
  const flush = async () => {
    if (count === 0) return;
    let text = texts.get(count);
    if (!text) {
      text = `INSERT INTO cost_data (${COST_COLUMNS}) VALUES ${valuesList(count, 13)}`;
      texts.set(count, text);
    }
    await client.query({ name: `bench_insert_${count}`, text, values: pending });
    pending = [];
    count = 0;
  };
  for (const batch of batches) {
    for (const row of batch) {
      pending.push(...costRowParams(ORG, row));
      count++;
      if (count === PER) await flush();
    }
  }
  await flush();
}

/** COPY into a TEMP staging table, then upsert into cost_data and delete the rows that vanished. */
async function stagingUpsert(client: PoolClient, batches: CostRow[][]): Promise<void> {
  const { from, to } = windowOf(batches);
  await client.query('CREATE TEMP TABLE cost_stage (LIKE cost_data INCLUDING DEFAULTS) ON COMMIT DROP');
  // A freshly loaded partition has no statistics yet; without this the anti-join of the DELETE
  // below becomes a nested loop over both tables (observed: minutes instead of seconds).
  await client.query('SET LOCAL enable_nestloop = off');
  async function* lines(): AsyncGenerator<string> {
    for (const batch of batches) {
      let chunk = '';
      for (const row of batch) chunk += costRowText(ORG, row);
      yield chunk;
    }
  }
  await copyInto(client, `cost_stage (${COST_COLUMNS})`, lines());
  await client.query('ANALYZE cost_stage');
  await client.query(
    `INSERT INTO cost_data (${COST_COLUMNS}) SELECT ${COST_COLUMNS} FROM cost_stage
     ON CONFLICT (organization_id, cost_date, grouping, service, linked_account, region) DO UPDATE SET
       unblended_cost = EXCLUDED.unblended_cost, amortized_cost = EXCLUDED.amortized_cost,
       net_unblended_cost = EXCLUDED.net_unblended_cost, usage_quantity = EXCLUDED.usage_quantity,
       unit = EXCLUDED.unit, estimated = EXCLUDED.estimated, net_amortized_cost = EXCLUDED.net_amortized_cost,
       created_at = now()`,
  );
  await client.query(
    `DELETE FROM cost_data d WHERE d.organization_id = $1 AND d.cost_date >= $2 AND d.cost_date < $3
       AND NOT EXISTS (SELECT 1 FROM cost_stage s WHERE s.organization_id = d.organization_id AND s.cost_date = d.cost_date
         AND s.grouping = d.grouping AND s.service = d.service AND s.linked_account = d.linked_account AND s.region = d.region)`,
    [ORG, from, to],
  );
}

async function windowDigest(
  bench: BenchDatabase,
  from: string,
  to: string,
): Promise<{ rows: number; digest: string }> {
  const { rows } = await bench.pool.query<{ n: number; digest: string }>(
    `SELECT count(*)::int AS n, md5(string_agg(concat_ws('|', organization_id, cost_date, grouping, service, linked_account, region,
        unblended_cost, amortized_cost, net_unblended_cost, usage_quantity, unit, estimated), ',' ORDER BY cost_date, grouping, service, linked_account, region)) AS digest
     FROM cost_data WHERE cost_date >= $1 AND cost_date < $2`,
    [from, to],
  );
  return { rows: rows[0]?.n ?? 0, digest: rows[0]?.digest ?? '' };
}

function rssChild(url: string, from: string, days: number, rows: number): Promise<RssReport> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        path.join(BENCH_DIR, 'load-rss-child.ts'),
        `--from=${from}`,
        `--days=${days}`,
        `--rows=${rows}`,
      ],
      { env: { ...process.env, BENCH_DATABASE_URL: url }, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`load-rss-child exited with ${code}`));
      try {
        resolve(JSON.parse(out.trim().split('\n').pop() ?? '') as RssReport);
      } catch (error) {
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
  });
}
