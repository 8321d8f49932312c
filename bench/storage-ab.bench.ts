/**
 * The API benchmark's mix against two designs at once, interleaved: this checkout's API over the
 * dataset (`--dataset`, default costwatch_bench_api_quick) and another checkout's API (`--old-root`,
 * e.g. `git archive main` unpacked with this node_modules linked) over a clone of the same
 * database with the newest migration rolled back (`--old-down=1`). The two servers run side by
 * side and are loaded in alternating slices (old, new, new, old, ...), so the load of a shared
 * machine falls on both alike; per mode (cache off, cache on) the medians over slices of max
 * req/s and p99 are compared. This is how the storage of dimensions (migration 0008) was chosen.
 *
 *   npm run bench -- storage-ab --old-root=/tmp/cw-main [--dataset=NAME] [--slices=6] [--slice=4]
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { ensureDataset, BENCH_PASSWORD } from './api-data.js';
import {
  loginAll,
  requestDrawer,
  runLoad,
  startApiProcess,
  type ApiProcess,
  type LoadResult,
} from './api-load.js';
import {
  adminUrl,
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
import { migrateDown } from '../database/migrator.js';
import { withDatabase } from '../tests/helpers/db.js';
import { createRedis } from '../lib/redis.js';

const args = parseArgs();
const OLD_ROOT = args.flags.get('old-root');
const DATASET = args.flags.get('dataset');
const SLICES = numberFlag(args, 'slices', 6);
const SLICE_S = numberFlag(args, 'slice', 4);
const CONNECTIONS = numberFlag(args, 'max-connections', 20);
const OLD_DOWN = numberFlag(args, 'old-down', 1);
hardTimeout(40 * 60_000, 'storage-ab');

async function withClient<T>(url: string, work: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await work(c);
  } finally {
    await c.end();
  }
}

async function main(): Promise<void> {
  if (!OLD_ROOT) throw new Error('--old-root: the checkout of the design to compare with (required)');
  const dataset = await ensureDataset({ orgs: 8, quick: true, fresh: false, name: DATASET });
  const oldName = `${dataset.name}_old`.slice(0, 63);
  progress(`api-ab: cloning ${dataset.name} into ${oldName} and rolling back ${OLD_DOWN} migration(s)`);
  await withClient(adminUrl(), async (c) => {
    await c.query(`DROP DATABASE IF EXISTS ${oldName} WITH (FORCE)`);
    await c.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, [
      dataset.name,
    ]);
    await c.query(`CREATE DATABASE ${oldName} TEMPLATE ${dataset.name}`);
  });
  const oldUrl = withDatabase(adminUrl(), oldName);
  await withClient(oldUrl, async (c) => {
    await migrateDown(c, OLD_DOWN);
    await c.query('VACUUM (ANALYZE)');
  });
  await withClient(dataset.url, (c) => c.query('VACUUM (ANALYZE)'));
  const note = await withClient(dataset.url, (c) => machineNote(c));
  printMachine(note);

  const redis = createRedis(redisUrl(), 'producer');
  const redisPid = Number(/process_id:(\d+)/.exec(await redis.info('server'))?.[1] ?? 0) || null;
  redis.disconnect();
  const orgIds = dataset.users.map((u) => u.orgId);
  const results: Record<string, { old: LoadResult[]; new: LoadResult[] }> = {};
  for (const [mode, ttl] of [
    ['cache off', '0'],
    ['cache on', '300'],
  ] as const) {
    const base = {
      REDIS_URL: redisUrl(),
      JWT_SECRET_KEY: process.env.JWT_SECRET_KEY ?? 'bench-secret-bench-secret-bench-secret-1234',
      LOG_LEVEL: 'warn',
      LOGIN_ATTEMPTS_PER_15MIN: '10000',
      // The per-principal rate limit (issue 12) would answer most of the load with 429s.
      API_RATE_PER_MINUTE: '1000000',
      API_CACHE_TTL_SECONDS: ttl,
    };
    const servers: Record<'old' | 'new', ApiProcess> = {
      old: await startApiProcess(
        'api',
        { ...base, DATABASE_URL: oldUrl, QUEUE_PREFIX: `cwab${randomBytes(4).toString('hex')}` },
        OLD_ROOT,
      ),
      new: await startApiProcess('api', {
        ...base,
        DATABASE_URL: dataset.url,
        QUEUE_PREFIX: `cwab${randomBytes(4).toString('hex')}`,
      }),
    };
    const runs = { old: [] as LoadResult[], new: [] as LoadResult[] };
    try {
      const tokens = {
        old: await loginAll(servers.old.url, dataset.users, BENCH_PASSWORD),
        new: await loginAll(servers.new.url, dataset.users, BENCH_PASSWORD),
      };
      const slice = (which: 'old' | 'new', seed: number, durationS: number) =>
        runLoad({
          url: servers[which].url,
          tokens: tokens[which],
          draw: requestDrawer(dataset.meta.to, orgIds, seed),
          connections: CONNECTIONS,
          rate: undefined,
          durationS,
          apiPid: servers[which].pid,
          database: {
            url: which === 'old' ? oldUrl : dataset.url,
            name: which === 'old' ? oldName : dataset.name,
          },
          redisPid,
        });
      await slice('old', 1, 2);
      await slice('new', 1, 2);
      for (let i = 0; i < SLICES; i++) {
        // ABBA order, the same request sequence (seed) for both in a slice pair.
        const order: Array<'old' | 'new'> = i % 2 === 0 ? ['old', 'new'] : ['new', 'old'];
        for (const which of order) {
          const r = await slice(which, 100 + i, SLICE_S);
          runs[which].push(r);
          progress(
            `api-ab ${mode} slice ${i + 1}/${SLICES} ${which}: ${r.rps.toFixed(0)} req/s, p99 ${r.latencyMs.p99.toFixed(1)} ms, errors ${r.errors + r.non2xx}`,
          );
        }
      }
    } finally {
      await Promise.all([servers.old.stop(), servers.new.stop()]);
    }
    results[mode] = runs;
  }

  process.stdout.write(
    '\n| mode | design | slices | median max req/s | median p99 ms | new / old req/s | new / old p99 |\n|---|---|---|---|---|---|---|\n',
  );
  const summary: Record<string, unknown> = {};
  for (const [mode, runs] of Object.entries(results)) {
    const rps = { old: median(runs.old.map((r) => r.rps)), new: median(runs.new.map((r) => r.rps)) };
    const p99 = {
      old: median(runs.old.map((r) => r.latencyMs.p99)),
      new: median(runs.new.map((r) => r.latencyMs.p99)),
    };
    // Per slice pair ratios, so a slow moment of the machine cancels out.
    const rpsRatio = median(runs.new.map((r, i) => r.rps / (runs.old[i]?.rps ?? Number.NaN)));
    const p99Ratio = median(
      runs.new.map((r, i) => r.latencyMs.p99 / (runs.old[i]?.latencyMs.p99 ?? Number.NaN)),
    );
    for (const which of ['old', 'new'] as const)
      process.stdout.write(
        `| ${mode} | ${which} | ${runs[which].length} | ${rps[which].toFixed(0)} | ${p99[which].toFixed(1)} | ${which === 'new' ? `${rpsRatio.toFixed(2)}x` : ''} | ${which === 'new' ? `${p99Ratio.toFixed(2)}x` : ''} |\n`,
      );
    summary[mode] = {
      rps,
      p99,
      rpsRatio,
      p99Ratio,
      errors: [...runs.old, ...runs.new].reduce((s, r) => s + r.errors + r.non2xx, 0),
    };
  }
  process.stdout.write(
    `\nload average ${note.loadAverage}; ${fmt.int(dataset.meta.costRows)} cost_data rows, ${dataset.meta.orgs} orgs\n`,
  );
  const failed = Object.entries(summary).filter(([, v]) => (v as { errors: number }).errors > 0);
  if (failed.length > 0)
    process.stdout.write(
      `INVALID: errors or non-2xx answers in ${failed.map(([m]) => m).join(', ')}: the ratios compare failures, not the designs\n`,
    );
  saveResults('storage-ab', {
    machine: note,
    dataset: dataset.name,
    slices: SLICES,
    sliceS: SLICE_S,
    summary,
  });
  await withClient(adminUrl(), (c) => c.query(`DROP DATABASE IF EXISTS ${oldName} WITH (FORCE)`));
  if (failed.length > 0) process.exitCode = 1;
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (error: unknown) => {
    process.stderr.write(
      `storage-ab: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
