/**
 * Child process of the load-path benchmark: streams generated rows (a generator, never an array)
 * through replaceCostWindow into BENCH_DATABASE_URL and prints one JSON line with the peak RSS
 * (process.memoryUsage().rss sampled every 50 ms, and resourceUsage().maxRSS) and the timing.
 *
 *   BENCH_DATABASE_URL=... node --import tsx bench/load-rss-child.ts --rows=1000000 --from=2026-01-01 --days=31
 */
import { resourceUsage } from 'node:process';
import { createPool } from '../lib/db.js';
import { replaceCostWindow } from '../database/repositories/cost-data.repository.js';
import { addDays } from '../lib/dates.js';
import { streamCostRowBatches } from './cost-rows.js';
import { numberFlag, parseArgs } from './support.js';

export interface RssReport {
  rows: number;
  ms: number;
  rowsPerSecond: number;
  baselineRss: number;
  peakRss: number;
  maxRss: number;
  peakHeapUsed: number;
}

const args = parseArgs();
const url = process.env.BENCH_DATABASE_URL;
const from = args.flags.get('from');
if (!url || !from) {
  process.stderr.write(
    'usage: BENCH_DATABASE_URL=... node --import tsx bench/load-rss-child.ts --from=YYYY-MM-01 --days=N [--rows=N]\n',
  );
  process.exit(1);
}
const rows = numberFlag(args, 'rows', 1_000_000);
const days = numberFlag(args, 'days', 28);
const orgId = numberFlag(args, 'org', 7);

const pool = createPool({ connectionString: url, max: 2, applicationName: 'costwatch-bench-rss' });
await pool.query('SELECT 1');
global.gc?.();
const baselineRss = process.memoryUsage().rss;
let peakRss = baselineRss;
let peakHeapUsed = 0;
const sampler = setInterval(() => {
  const usage = process.memoryUsage();
  if (usage.rss > peakRss) peakRss = usage.rss;
  if (usage.heapUsed > peakHeapUsed) peakHeapUsed = usage.heapUsed;
}, 50);

const started = performance.now();
const result = await replaceCostWindow(
  pool,
  orgId,
  { from, to: addDays(from, days) },
  streamCostRowBatches({ from, days, rows, seed: 7 }),
);
const ms = performance.now() - started;
clearInterval(sampler);
const final = process.memoryUsage().rss;
if (final > peakRss) peakRss = final;
await pool.end();

const report: RssReport = {
  rows: result.rows,
  ms,
  rowsPerSecond: result.rows / (ms / 1000),
  baselineRss,
  peakRss,
  maxRss: resourceUsage().maxRSS * 1024,
  peakHeapUsed,
};
process.stdout.write(`${JSON.stringify(report)}\n`);
