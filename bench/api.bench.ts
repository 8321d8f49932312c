/**
 * API under load (issue #5): the aggregate /costs endpoints over >= 10M cost_data rows, driven by
 * autocannon (programmatic) from this process against `costwatch api` in its own process, on
 * 127.0.0.1. A dashboard mix (daily by service over 30 and 90 days, monthly, summary, top) across
 * every organization of the dataset, each request with its org's viewer bearer token.
 *
 * Three servers, each at a fixed rate (autocannon overallRate, default 1000 req/s) and at max
 * throughput:
 *   cache on   `costwatch api`, API_CACHE_TTL_SECONDS=300: Redis hit path (cache cold at the start
 *              of each run; the hit ratio of the run is reported)
 *   cache off  `costwatch api`, API_CACHE_TTL_SECONDS=0: every request runs the rollup SQL
 *   raw        the same app with every rollup table read replaced by its aggregate over cost_data
 *              (bench/api-raw-child.ts), cache off: what the rollups buy. Its answers are checked
 *              equal to the API's before the runs.
 *
 * Dataset: bench/api-data.ts (cached in database costwatch_bench_api between runs; `--fresh`
 * regenerates). Goal: p99 < 20 ms at 1,000 req/s with 0 errors (API, cache on and off).
 *
 *   npm run bench -- api [--quick] [--fresh] [--duration=20] [--rate=1000] [--connections=10]
 *     [--max-connections=20] [--orgs=80] [--servers=cache,nocache,raw]
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createRedis } from '../lib/redis.js';
import { invalidateOrgCache } from '../lib/cache.js';
import { ensureDataset, BENCH_PASSWORD, ROWS_PER_ORG_DAY } from './api-data.js';
import {
  distinctKeys,
  loginAll,
  REQUEST_MIX,
  requestDrawer,
  runLoad,
  startApiProcess,
  type ApiProcess,
  type LoadResult,
  type ServerKind,
} from './api-load.js';
import {
  benchClockEnv,
  fmt,
  hardTimeout,
  machineNote,
  numberFlag,
  parseArgs,
  printMachine,
  printTable,
  progress,
  redisUrl,
  saveResults,
} from './support.js';

const args = parseArgs();
const QUICK = args.quick;
const FRESH = args.flags.get('fresh') === 'true';
const ORGS = numberFlag(args, 'orgs', QUICK ? 8 : 80);
const DURATION_S = numberFlag(args, 'duration', QUICK ? 5 : 20);
const WARMUP_S = QUICK ? 2 : 3;
const RATE = numberFlag(args, 'rate', 1000);
const CONNECTIONS = numberFlag(args, 'connections', 10);
const MAX_CONNECTIONS = numberFlag(args, 'max-connections', 20);
const SERVERS = (args.flags.get('servers') ?? 'cache,nocache,raw').split(',');
const ENDPOINT_S = QUICK ? 2 : 5;
const P99_GOAL_MS = 20;
hardTimeout((QUICK ? 10 : 30) * 60_000, 'api');

interface ServerSpec {
  id: string;
  label: string;
  kind: ServerKind;
  cacheTtl: string;
}

const SERVER_SPECS: ServerSpec[] = [
  { id: 'cache', label: 'API, cache on (Redis hit path)', kind: 'api', cacheTtl: '300' },
  { id: 'nocache', label: 'API, cache off (rollup SQL)', kind: 'api', cacheTtl: '0' },
  { id: 'raw', label: 'same endpoints from cost_data (no rollups)', kind: 'raw', cacheTtl: '0' },
];

interface ScenarioResult extends LoadResult {
  server: string;
  label: string;
  load: string;
  connections: number;
}

const ms = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));

async function main(): Promise<void> {
  const tAll = Date.now();
  const dataset = await ensureDataset({
    orgs: ORGS,
    quick: QUICK,
    fresh: FRESH,
    name: args.flags.get('dataset'),
  });
  const meta = dataset.meta;
  const genNote = dataset.generated
    ? `generated in this run: ${fmt.s(meta.generatedMs.total)} (cost_data ${fmt.s(meta.generatedMs.costData)}, rollups ${fmt.s(meta.generatedMs.rollups)}, VACUUM ANALYZE ${fmt.s(meta.generatedMs.vacuum)})`
    : `reused from ${meta.completedAt} (generation took ${fmt.s(meta.generatedMs.total)}: cost_data ${fmt.s(meta.generatedMs.costData)}, rollups ${fmt.s(meta.generatedMs.rollups)}, VACUUM ANALYZE ${fmt.s(meta.generatedMs.vacuum)}; --fresh regenerates)`;

  const note = await (async () => {
    const c = new pg.Client({ connectionString: dataset.url });
    await c.connect();
    try {
      return await machineNote(c);
    } finally {
      await c.end();
    }
  })();
  printMachine(note);
  process.stdout.write(
    `dataset ${dataset.name}: ${fmt.int(meta.costRows)} cost_data rows (${meta.orgs} orgs x ${meta.days} days ${meta.from}..${meta.to} x ${ROWS_PER_ORG_DAY} rows/day, both groupings); ` +
      `rollups: daily_service ${fmt.int(meta.rollupRows.daily_service)}, daily_account ${fmt.int(meta.rollupRows.daily_account)}, daily_region ${fmt.int(meta.rollupRows.daily_region)}, monthly_service ${fmt.int(meta.rollupRows.monthly_service)}; ` +
      `sizes ${Object.entries(dataset.sizes)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}\n` +
      `dataset ${genNote}\n`,
  );

  const redis = createRedis(redisUrl(), 'producer');
  const redisInfo = await redis.info('server');
  const redisPid = Number(/process_id:(\d+)/.exec(redisInfo)?.[1] ?? 0) || null;
  const prefix = `cwbenchapi${randomBytes(4).toString('hex')}`;
  const env: Record<string, string> = {
    DATABASE_URL: dataset.url,
    REDIS_URL: redisUrl(),
    JWT_SECRET_KEY: process.env.JWT_SECRET_KEY ?? 'bench-secret-bench-secret-bench-secret-1234',
    LOG_LEVEL: 'warn',
    QUEUE_PREFIX: prefix,
    LOGIN_ATTEMPTS_PER_15MIN: '10000',
    // The benchmark drives one user's token far above the per-user limit of production.
    API_RATE_PER_MINUTE: '1000000',
    // The API's today is the dataset's last day (BENCH_NOW), whatever the calendar says.
    ...benchClockEnv(),
  };
  const orgIds = dataset.users.map((u) => u.orgId);
  const keys = distinctKeys(meta.to, orgIds.length);
  process.stdout.write(
    `load: autocannon in this process -> 127.0.0.1 (the API is a separate process; both share the ${note.nproc} cores with Postgres and Redis); ` +
      `${DURATION_S} s per run after ${WARMUP_S} s of warm-up; fixed rate: overallRate ${RATE} over ${CONNECTIONS} connections; ` +
      `max: ${MAX_CONNECTIONS} connections. Mix over ${orgIds.length} orgs (viewer tokens), ${fmt.int(keys)} distinct cacheable answers:\n` +
      REQUEST_MIX.map((e) => `  ${e.weight}% ${e.name}`).join('\n') +
      '\n',
  );

  const results: ScenarioResult[] = [];
  const perEndpoint: ScenarioResult[] = [];
  let tokens: Map<number, string> | null = null;
  const invalidateAll = async () => {
    for (const id of orgIds) await invalidateOrgCache(redis, prefix, id);
  };
  let seed = 1;
  const specs = SERVER_SPECS.filter((s) => SERVERS.includes(s.id));
  let equivalence = 'not checked';
  for (const spec of specs) {
    progress(`api bench: starting ${spec.label}`);
    const server: ApiProcess = await startApiProcess(spec.kind, {
      ...env,
      API_CACHE_TTL_SECONDS: spec.cacheTtl,
    });
    try {
      tokens ??= await loginAll(server.url, dataset.users, BENCH_PASSWORD);
      if (spec.id === 'nocache' && SERVERS.includes('raw')) {
        equivalence = await checkEquivalence(server, env, tokens, meta.to, orgIds);
        process.stdout.write(`equivalence API (rollups) vs raw cost_data: ${equivalence}\n`);
      }
      // Warm-up: JIT, pool connections, Postgres caches. Then a cold response cache.
      await runLoad({
        url: server.url,
        tokens,
        draw: requestDrawer(meta.to, orgIds, 999),
        connections: MAX_CONNECTIONS,
        rate: undefined,
        durationS: WARMUP_S,
        apiPid: server.pid,
        database: { url: dataset.url, name: dataset.name },
        redisPid,
      });
      for (const rate of [RATE, undefined]) {
        await invalidateAll();
        const connections = rate ? CONNECTIONS : MAX_CONNECTIONS;
        const load = rate ? `${RATE} req/s` : 'max';
        progress(`api bench: ${spec.label}, ${load}, ${DURATION_S} s`);
        const r = await runLoad({
          url: server.url,
          tokens,
          draw: requestDrawer(meta.to, orgIds, seed++),
          connections,
          rate,
          durationS: DURATION_S,
          apiPid: server.pid,
          database: { url: dataset.url, name: dataset.name },
          redisPid,
        });
        results.push({ ...r, server: spec.id, label: spec.label, load, connections });
        progress(
          `  ${fmt.int(r.rps)} req/s, p50 ${ms(r.latencyMs.p50)} ms, p99 ${ms(r.latencyMs.p99)} ms, errors ${r.errors + r.non2xx}, hits ${r.cache.hit}/${r.requests}`,
        );
      }
      // Each entry of the mix alone, at max: where the time goes (CPU ms per request, bytes).
      for (const [index, entry] of REQUEST_MIX.entries()) {
        await invalidateAll();
        const r = await runLoad({
          url: server.url,
          tokens,
          draw: requestDrawer(meta.to, orgIds, seed++, index),
          connections: MAX_CONNECTIONS,
          rate: undefined,
          durationS: ENDPOINT_S,
          apiPid: server.pid,
          database: { url: dataset.url, name: dataset.name },
          redisPid,
        });
        perEndpoint.push({
          ...r,
          server: spec.id,
          label: spec.label,
          load: entry.name,
          connections: MAX_CONNECTIONS,
        });
      }
    } finally {
      await server.stop();
    }
  }
  await invalidateAll();
  // Drop this run's cache entries.
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (found.length > 0) await redis.del(...found);
  } while (cursor !== '0');
  redis.disconnect();

  printTable(
    `API under load (${fmt.int(meta.costRows)} cost_data rows, ${orgIds.length} orgs, ${DURATION_S} s per run)`,
    [
      'server',
      'load',
      'conns',
      'req/s',
      'p50 ms',
      'p90 ms',
      'p99 ms',
      'max ms',
      'errors',
      'cache hits',
      'CPU % api / pg / redis / loadgen',
      'CPU ms/req api / pg',
    ],
    results.map((r) => [
      r.label,
      r.load,
      r.connections,
      fmt.int(r.rps),
      ms(r.latencyMs.p50),
      ms(r.latencyMs.p90),
      ms(r.latencyMs.p99),
      ms(r.latencyMs.max),
      `${r.errors + r.non2xx}${r.timeouts ? ` (${r.timeouts} timeouts)` : ''}`,
      r.cache.hit + r.cache.miss > 0
        ? `${((r.cache.hit / (r.cache.hit + r.cache.miss)) * 100).toFixed(1)}%`
        : '-',
      `${r.cpu.api.toFixed(0)} / ${r.cpu.postgres.toFixed(0)} / ${r.cpu.redis === null ? '-' : r.cpu.redis.toFixed(0)} / ${r.cpu.loadgen.toFixed(0)}`,
      `${r.cpuMsPerRequest.api.toFixed(2)} / ${r.cpuMsPerRequest.postgres.toFixed(2)}`,
    ]),
  );

  printTable(
    `Each request of the mix alone, max throughput (${MAX_CONNECTIONS} connections, ${ENDPOINT_S} s; cache on: after the first request of each answer, hits)`,
    [
      'server',
      'request',
      'req/s',
      'p50 ms',
      'p99 ms',
      'response bytes',
      'CPU ms/request api / pg',
      'cache hits',
    ],
    perEndpoint.map((r) => [
      r.label,
      r.load,
      fmt.int(r.rps),
      ms(r.latencyMs.p50),
      ms(r.latencyMs.p99),
      fmt.int(r.meanBytes),
      `${r.cpuMsPerRequest.api.toFixed(2)} / ${r.cpuMsPerRequest.postgres.toFixed(2)}`,
      r.cache.hit + r.cache.miss > 0
        ? `${((r.cache.hit / (r.cache.hit + r.cache.miss)) * 100).toFixed(1)}%`
        : '-',
    ]),
  );

  const find = (server: string, load: string) => results.find((r) => r.server === server && r.load === load);
  const ratioRows: Array<Array<string>> = [];
  for (const [server, label] of [
    ['nocache', 'rollup SQL (cache off)'],
    ['cache', 'Redis hit path (cache on)'],
  ] as const) {
    const raw = [find('raw', `${RATE} req/s`), find('raw', 'max')];
    const api = [find(server, `${RATE} req/s`), find(server, 'max')];
    if (!raw[0] || !raw[1] || !api[0] || !api[1]) continue;
    ratioRows.push([
      label,
      fmt.ratio(api[1].rps / raw[1].rps),
      fmt.ratio(raw[0].latencyMs.p50 / api[0].latencyMs.p50),
      fmt.ratio(raw[0].latencyMs.p99 / api[0].latencyMs.p99),
    ]);
  }
  if (ratioRows.length > 0)
    printTable(
      'What rollups buy: API against the same endpoints computed from cost_data',
      [
        'API path',
        'max req/s (API / raw)',
        `p50 at ${RATE} req/s (raw / API)`,
        `p99 at ${RATE} req/s (raw / API)`,
      ],
      ratioRows,
    );

  const verdicts = results
    .filter((r) => r.server !== 'raw' && r.load !== 'max')
    .map((r) => {
      const ok = r.latencyMs.p99 < P99_GOAL_MS && r.errors + r.non2xx === 0 && r.rps >= RATE * 0.95;
      return `${r.label}: p99 ${ms(r.latencyMs.p99)} ms at ${fmt.int(r.rps)} req/s, ${r.errors + r.non2xx} errors -> ${ok ? 'meets' : 'MISSES'} the goal (p99 < ${P99_GOAL_MS} ms at ${RATE} req/s, 0 errors)`;
    });
  process.stdout.write(`\n${verdicts.join('\n')}\n`);

  const file = saveResults(QUICK ? 'api-quick' : 'api', {
    machine: note,
    dataset: { name: dataset.name, meta, sizes: dataset.sizes, generatedThisRun: dataset.generated },
    settings: {
      durationS: DURATION_S,
      warmupS: WARMUP_S,
      rate: RATE,
      connections: CONNECTIONS,
      maxConnections: MAX_CONNECTIONS,
      orgs: orgIds.length,
      distinctKeys: keys,
    },
    mix: REQUEST_MIX.map((e) => ({ name: e.name, weight: e.weight })),
    equivalence,
    results,
    perEndpoint,
  });
  process.stdout.write(`results: ${file} (${fmt.s(Date.now() - tAll)} in all)\n`);
  const failed = results.some((r) => r.server !== 'raw' && r.errors + r.non2xx > 0);
  process.exit(failed ? 1 : 0);
}

/** Same requests to the API (cache off) and the raw server: bodies must be identical. */
async function checkEquivalence(
  api: ApiProcess,
  env: Record<string, string>,
  tokens: Map<number, string>,
  end: string,
  orgIds: number[],
): Promise<string> {
  const raw = await startApiProcess('raw', { ...env, API_CACHE_TTL_SECONDS: '0' });
  try {
    let same = 0;
    const differing: string[] = [];
    const seen = new Set<string>();
    const draw = requestDrawer(end, orgIds, 4242);
    for (let i = 0; i < 400 && seen.size < 60; i++) {
      const d = draw();
      const key = `${d.orgId} ${d.path}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const headers = { authorization: `Bearer ${tokens.get(d.orgId) ?? ''}` };
      const [a, b] = await Promise.all(
        [api.url, raw.url].map(async (base) => {
          const res = await fetch(`${base}${d.path}`, { headers });
          return `${res.status} ${await res.text()}`;
        }),
      );
      if (a === b && a?.startsWith('200 ')) same++;
      else differing.push(`${d.path} (org ${d.orgId}): ${a?.slice(0, 120)} vs ${b?.slice(0, 120)}`);
    }
    if (differing.length > 0) {
      process.stderr.write(`api bench: answers differ:\n${differing.slice(0, 5).join('\n')}\n`);
      return `${same}/${seen.size} identical, ${differing.length} DIFFER`;
    }
    return `${same}/${seen.size} sampled answers identical (status and body)`;
  } finally {
    await raw.stop();
  }
}

await main();
