/** Sizes of the chaos suite's two modes, the result of a scenario, and the figures table. */
import { addDays, todayUtc } from '../../lib/dates.js';
import { TEST_NOW } from '../helpers/clock.js';

export interface ChaosSize {
  mode: 'quick' | 'full';
  /** Organizations of the backfill scenarios (accounts below). */
  orgs: number;
  /** Days of the backfill range (ending 5 days before the pinned today, TEST_NOW: no Estimated days). */
  days: number;
  windowDays: number;
  /** kill -9s of the worker-kill scenario, and its worker processes. */
  kills: number;
  workers: number;
  /** Seconds of sustained API load. */
  apiSeconds: number;
  /** Waiting jobs of the queue-flood scenario. */
  queueJobs: number;
}

export const SIZES: Record<'quick' | 'full', ChaosSize> = {
  quick: { mode: 'quick', orgs: 2, days: 28, windowDays: 7, kills: 2, workers: 2, apiSeconds: 20, queueJobs: 10_000 },
  full: { mode: 'full', orgs: 5, days: 140, windowDays: 7, kills: 6, workers: 3, apiSeconds: 180, queueJobs: 100_000 },
};

/** The simulator accounts the scenarios use (each has its own deterministic bill and fleet). */
export const ACCOUNTS = ['310000000001', '320000000002', '330000000003', '340000000004', '350000000005'];

export function backfillRange(size: ChaosSize): { from: string; to: string } {
  const to = addDays(todayUtc(new Date(TEST_NOW)), -5);
  return { from: addDays(to, -size.days), to };
}

export interface ScenarioResult {
  name: string;
  pass: boolean;
  /** Windows complete / enqueued. */
  windows?: string;
  /** Rows found / expected. */
  rows?: string;
  duplicates?: number;
  errors?: string;
  latency?: string;
  rss?: string;
  rate?: string;
  /** Other figures of the scenario, `k=v; ...`. */
  other: string;
  failures: string[];
  seconds: number;
}

/** Collects a scenario's figures and failed expectations. */
export class Figures {
  readonly result: ScenarioResult;
  private readonly started = Date.now();
  private readonly others: string[] = [];

  constructor(name: string) {
    this.result = { name, pass: false, other: '', failures: [], seconds: 0 };
  }

  set<K extends 'windows' | 'rows' | 'duplicates' | 'errors' | 'latency' | 'rss' | 'rate'>(key: K, value: ScenarioResult[K]): void {
    this.result[key] = value;
  }

  note(text: string): void {
    this.others.push(text);
  }

  /** Records a failed expectation unless `ok`. */
  expect(ok: boolean, failure: string): void {
    if (!ok) this.result.failures.push(failure);
  }

  done(): ScenarioResult {
    this.result.other = this.others.join('; ');
    this.result.pass = this.result.failures.length === 0;
    this.result.seconds = Math.round((Date.now() - this.started) / 100) / 10;
    return this.result;
  }

  /** A scenario that threw: its figures so far and the error. */
  crashed(error: unknown): ScenarioResult {
    this.result.failures.push(`crashed: ${error instanceof Error ? (error.stack ?? error.message).split('\n').slice(0, 3).join(' | ') : String(error)}`);
    return this.done();
  }
}

const COLUMNS: Array<[string, (r: ScenarioResult) => string]> = [
  ['scenario', (r) => r.name],
  ['windows', (r) => r.windows ?? '—'],
  ['rows found/expected', (r) => r.rows ?? '—'],
  ['dup', (r) => (r.duplicates === undefined ? '—' : String(r.duplicates))],
  ['errors', (r) => r.errors ?? '—'],
  ['p50/p99', (r) => r.latency ?? '—'],
  ['RSS', (r) => r.rss ?? '—'],
  ['requests/s', (r) => r.rate ?? '—'],
  ['other figures', (r) => r.other || '—'],
  ['s', (r) => String(r.seconds)],
  ['result', (r) => (r.pass ? 'PASS' : 'FAIL')],
];

/** A Markdown table of the results (readable in a terminal too), then each failure. */
export function formatTable(results: ScenarioResult[]): string {
  const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const lines = [
    `| ${COLUMNS.map(([h]) => h).join(' | ')} |`,
    `| ${COLUMNS.map(() => '---').join(' | ')} |`,
    ...results.map((r) => `| ${COLUMNS.map(([, f]) => cell(f(r))).join(' | ')} |`),
  ];
  const failures = results.flatMap((r) => r.failures.map((f) => `- ${r.name}: ${f}`));
  return [...lines, ...(failures.length ? ['', 'Failures:', ...failures] : [])].join('\n');
}

/** Median and 99th percentile of samples (ms). */
export function percentiles(samples: number[]): { p50: number; p99: number } {
  if (samples.length === 0) return { p50: 0, p99: 0 };
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  return { p50: at(0.5), p99: at(0.99) };
}

/** Least-squares slope of (t seconds, value) samples, per minute. */
export function slopePerMinute(samples: Array<{ t: number; v: number }>): number {
  const n = samples.length;
  if (n < 2) return 0;
  const mt = samples.reduce((s, x) => s + x.t, 0) / n;
  const mv = samples.reduce((s, x) => s + x.v, 0) / n;
  const num = samples.reduce((s, x) => s + (x.t - mt) * (x.v - mv), 0);
  const den = samples.reduce((s, x) => s + (x.t - mt) ** 2, 0);
  return den === 0 ? 0 : (num / den) * 60;
}
