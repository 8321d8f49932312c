/**
 * Export throughput and memory: GET /api/v1/costs/export (the API as its own process, over HTTP,
 * body read and discarded) against `psql -c "\copy (SELECT ...) TO STDOUT"` of the same rows
 * (the same SELECT, output to /dev/null; psql's start-up, measured apart, is subtracted), rounds
 * interleaved. The API process's RSS is sampled every 50 ms from /proc during its exports (and
 * VmHWM, the kernel's peak). Goal: >= 0.8x psql's rows/s; API peak RSS < 200 MB.
 *
 *   npm run bench -- export [--rows=1000000] [--rounds=3] [--format=csv|focus]
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { EXPORT_COPY_SQL } from '../database/repositories/export.repository.js';
import { createUser } from '../database/repositories/users.repository.js';
import { hashPassword } from '../api/auth/passwords.js';
import { loginAll, startApiProcess } from './api-load.js';
import {
  createBenchDatabase,
  fmt,
  hardTimeout,
  machineNote,
  median,
  numberFlag,
  parseArgs,
  printMachine,
  progress,
  redisUrl,
  saveResults,
} from './support.js';

const run = promisify(execFile);
const args = parseArgs();
const ROWS = numberFlag(args, 'rows', args.quick ? 200_000 : 1_000_000);
const ROUNDS = numberFlag(args, 'rounds', args.quick ? 2 : 3);
const FORMAT = args.flags.get('format') === 'focus' ? 'focus' : 'csv';
const SERVICES = 25;
/** Days of the export (the API allows at most 400); the accounts grow with --rows. */
const DAYS = 400;
const ACCOUNTS = Math.max(1, Math.ceil(ROWS / (SERVICES * DAYS)));
const PASSWORD = 'bench password: correct horse battery staple';
hardTimeout(30 * 60_000, 'export');

function vm(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match?.[1] ?? 0) / 1024;
}

async function main(): Promise<void> {
  const db = await createBenchDatabase(3);
  try {
    const note = await machineNote(db.pool);
    printMachine(note);
    const days = DAYS;
    const from = '2026-01-01';
    const { rows: org } = await db.pool.query<{ id: number }>(
      `INSERT INTO organizations (name, aws_account_id) VALUES ('export bench', '123456789012') RETURNING id`,
    );
    const orgId = org[0]?.id ?? 0;
    progress(
      `export bench: writing ${fmt.int(days * SERVICES * ACCOUNTS)} rollup rows (${days} days x ${SERVICES} services x ${ACCOUNTS} accounts)`,
    );
    await db.pool.query(
      `INSERT INTO cost_rollup_daily_by_service
       SELECT $1, 'account', $2::date + d, 'AWS Service ' || lpad(s::text, 2, '0'), lpad((500000000000 + a * 7919)::text, 12, '0'),
              round(((d * 7919 + s * 104729 + a::bigint * 15485863) % 9999991)::numeric / 100000, 10),
              round(((d * 7919 + s * 104729 + a::bigint * 15485863) % 9999991)::numeric / 103000, 10),
              round(((d * 7919 + s * 104729 + a::bigint * 15485863) % 9999991)::numeric / 104700, 10),
              round(((d * 31 + s) % 997)::numeric / 7, 6), 'Hrs', 'USD', false,
              round(((d * 7919 + s * 104729 + a::bigint * 15485863) % 9999991)::numeric / 106100, 10)
         FROM generate_series(0, $3::int - 1) d, generate_series(1, ${SERVICES}) s, generate_series(1, ${ACCOUNTS}) a`,
      [orgId, from, days],
    );
    await db.pool.query(
      `INSERT INTO aws_account_names SELECT $1, lpad((500000000000 + a * 7919)::text, 12, '0'), 'Account ' || a FROM generate_series(1, ${ACCOUNTS}) a`,
      [orgId],
    );
    await db.pool.query('VACUUM (ANALYZE) cost_rollup_daily_by_service');
    const to =
      (await db.pool.query<{ d: string }>(`SELECT ($1::date + $2::int - 1)::text AS d`, [from, days])).rows[0]
        ?.d ?? from;
    const rowCount = days * SERVICES * ACCOUNTS;
    await createUser(db.pool, {
      organizationId: orgId,
      email: 'viewer@export.bench',
      passwordHash: await hashPassword(PASSWORD, 4),
      role: 'viewer',
    });

    const api = await startApiProcess('api', {
      DATABASE_URL: db.url,
      REDIS_URL: redisUrl(),
      JWT_SECRET_KEY: process.env.JWT_SECRET_KEY ?? 'bench-secret-bench-secret-bench-secret-1234',
      LOG_LEVEL: 'warn',
      QUEUE_PREFIX: `cwexport${process.pid}`,
    });
    const rssBefore = vm(api.pid, 'VmRSS');
    let rssPeak = rssBefore;
    const sampler = setInterval(() => {
      rssPeak = Math.max(rssPeak, vm(api.pid, 'VmRSS'));
    }, 50);
    const tokens = await loginAll(api.url, [{ orgId, email: 'viewer@export.bench' }], PASSWORD);
    const token = tokens.get(orgId) ?? '';
    const url = `${api.url}/api/v1/costs/export?format=${FORMAT}&from=${from}&to=${to}&group_by=account`;

    const viaApi = async (): Promise<{ ms: number; bytes: number }> => {
      const started = performance.now();
      const res = await fetch(url, {
        headers: { authorization: `Bearer ${token}`, 'accept-encoding': 'identity' },
      });
      if (res.status !== 200 || !res.body)
        throw new Error(`export answered ${res.status}: ${await res.text()}`);
      let bytes = 0;
      for await (const chunk of res.body) bytes += (chunk as Uint8Array).byteLength;
      return { ms: performance.now() - started, bytes };
    };
    const settings = `SELECT set_config('costwatch.export_org', '${orgId}', false), set_config('costwatch.export_dimension', 'account', false), set_config('costwatch.export_from', '${from}', false), set_config('costwatch.export_to', '${to}', false), set_config('costwatch.export_categories', '{}', false)`;
    const copy = EXPORT_COPY_SQL[FORMAT].replace(/\s+/g, ' ').replace(/^COPY /, '\\copy ');
    const psqlStart = async (): Promise<number> => {
      const samples: number[] = [];
      for (let i = 0; i < 5; i++) {
        const t = performance.now();
        await run('psql', [db.url, '-X', '-q', '-c', 'SELECT 1'], { maxBuffer: 1 << 20 });
        samples.push(performance.now() - t);
      }
      return median(samples);
    };
    const startMs = await psqlStart();
    const viaPsql = async (): Promise<{ ms: number; bytes: number }> => {
      const t = performance.now();
      const { stdout } = await run(
        'sh',
        ['-c', `psql "$0" -X -q -v ON_ERROR_STOP=1 -c "$1" -c "$2" | wc -c`, db.url, settings, copy],
        { maxBuffer: 1 << 20 },
      );
      return { ms: performance.now() - t - startMs, bytes: Number(stdout.trim()) };
    };

    // Warm-up (caches, JIT), then interleaved rounds.
    await viaApi();
    await viaPsql();
    const results = { api: [] as number[], psql: [] as number[], ratio: [] as number[] };
    let bytes = { api: 0, psql: 0 };
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? (['api', 'psql'] as const) : (['psql', 'api'] as const);
      const times: Record<'api' | 'psql', number> = { api: 0, psql: 0 };
      for (const which of order) {
        const r = which === 'api' ? await viaApi() : await viaPsql();
        times[which] = r.ms;
        bytes = { ...bytes, [which]: r.bytes };
        progress(
          `export round ${round + 1}/${ROUNDS} ${which}: ${(r.ms / 1000).toFixed(2)} s, ${fmt.int(Math.round(rowCount / (r.ms / 1000)))} rows/s, ${fmt.int(r.bytes)} bytes`,
        );
      }
      results.api.push(times.api);
      results.psql.push(times.psql);
      results.ratio.push(times.psql / times.api);
    }
    clearInterval(sampler);
    const hwm = vm(api.pid, 'VmHWM');
    await api.stop();
    const rps = (ms: number) => Math.round(rowCount / (ms / 1000));
    process.stdout.write(
      `\n| export (${FORMAT}, ${fmt.int(rowCount)} rows) | median s | rows/s | bytes | vs psql \\copy |\n|---|---|---|---|---|\n` +
        `| GET /costs/export (API process, HTTP) | ${(median(results.api) / 1000).toFixed(2)} | ${fmt.int(rps(median(results.api)))} | ${fmt.int(bytes.api)} | ${median(results.ratio).toFixed(2)}x (median of paired rounds) |\n` +
        `| psql \\copy (SELECT ...) TO STDOUT | ${(median(results.psql) / 1000).toFixed(2)} | ${fmt.int(rps(median(results.psql)))} | ${fmt.int(bytes.psql)} | 1.00x |\n\n` +
        `API process RSS: ${rssBefore.toFixed(0)} MB before, peak ${rssPeak.toFixed(0)} MB (50 ms samples), VmHWM ${hwm.toFixed(0)} MB (goal < 200 MB); psql start-up ${startMs.toFixed(0)} ms subtracted\n`,
    );
    saveResults('export', {
      machine: note,
      rows: rowCount,
      format: FORMAT,
      results,
      bytes,
      rss: { before: rssBefore, peak: rssPeak, hwm },
    });
  } finally {
    await db.drop();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(
      `export: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
