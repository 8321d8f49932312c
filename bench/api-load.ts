/**
 * API benchmark helpers: API processes under test (`costwatch api`, or the raw cost_data variant
 * bench/api-raw-child.ts), the dashboard request mix, and one autocannon run with exact latency
 * percentiles, the X-Cache hit ratio and per-process CPU.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import autocannon from 'autocannon';
import pg from 'pg';
import { addDays, startOfMonth } from '../lib/dates.js';
import { BENCH_DIR, sleep } from './support.js';
import { prng } from './cost-rows.js';

const ROOT = path.resolve(BENCH_DIR, '..');
const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of children) if (child.exitCode === null && child.pid) process.kill(child.pid, 'SIGKILL');
});

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export type ServerKind = 'api' | 'raw';

export interface ApiProcess {
  kind: ServerKind;
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/**
 * `costwatch api` (kind api) or the raw cost_data app (kind raw) on 127.0.0.1, ready (/ready 200).
 * `root`: the checkout to run (default this one; bench/api-ab.bench.ts runs another's API beside it).
 */
export async function startApiProcess(
  kind: ServerKind,
  env: Record<string, string>,
  root: string = ROOT,
): Promise<ApiProcess> {
  const port = await freePort();
  // BENCH_API_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof", profiles the servers under test.
  const nodeArgs = (process.env.BENCH_API_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const args =
    kind === 'api'
      ? [...nodeArgs, path.join(root, 'bin', 'costwatch.mjs'), 'api']
      : [...nodeArgs, '--import', 'tsx', path.join(BENCH_DIR, 'api-raw-child.ts')];
  const child = spawn(process.execPath, args, {
    cwd: root,
    env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1', NODE_ENV: 'production' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  children.add(child);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${kind} process exited with ${child.exitCode} at start`);
    const ok = await fetch(`${url}/ready`)
      .then((r) => r.status === 200)
      .catch(() => false);
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`${kind} process not ready within 60 s`);
    await sleep(200);
  }
  return {
    kind,
    url,
    pid: child.pid ?? 0,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => {
          children.delete(child);
          resolve();
        });
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 15_000).unref();
      }),
  };
}

export async function loginAll(
  url: string,
  users: Array<{ orgId: number; email: string }>,
  password: string,
): Promise<Map<number, string>> {
  const tokens = new Map<number, string>();
  for (const user of users) {
    const res = await fetch(`${url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: user.email, password }),
    });
    if (res.status !== 200)
      throw new Error(`login of ${user.email} failed: ${res.status} ${await res.text()}`);
    const body = (await res.json()) as { access_token: string };
    tokens.set(user.orgId, body.access_token);
  }
  return tokens;
}

export interface MixEntry {
  name: string;
  weight: number;
  /** Distinct query strings of this entry (per organization). */
  paths(end: string): string[];
}

/**
 * The dashboard mix. `end` is the last day of data (today when the dataset is fresh). Paths are
 * drawn uniformly within an entry; organizations uniformly.
 */
export const REQUEST_MIX: MixEntry[] = [
  {
    name: 'daily by service, 30 days (whole range, limit=1000; to = one of the last 3 days)',
    weight: 30,
    paths: (end) =>
      [0, 1, 2].map((k) => {
        const to = addDays(end, -k);
        return `/api/v1/costs/daily?group_by=service&from=${addDays(to, -29)}&to=${to}&limit=1000`;
      }),
  },
  {
    name: 'daily by service, 90 days (pages of 100: offset 0..1700)',
    weight: 15,
    paths: (end) =>
      Array.from(
        { length: 18 },
        (_, i) =>
          `/api/v1/costs/daily?group_by=service&from=${addDays(end, -89)}&to=${end}&limit=100&offset=${i * 100}`,
      ),
  },
  {
    name: 'monthly by service, 13 months (limit=1000)',
    weight: 15,
    paths: (end) => [
      `/api/v1/costs/monthly?group_by=service&from=${startOfMonth(addDays(end, -365))}&to=${end}&limit=1000`,
    ],
  },
  {
    name: 'summary (metric unblended 4x, amortized, net_unblended)',
    weight: 20,
    paths: () => [
      '/api/v1/costs/summary',
      '/api/v1/costs/summary',
      '/api/v1/costs/summary',
      '/api/v1/costs/summary',
      '/api/v1/costs/summary?metric=amortized',
      '/api/v1/costs/summary?metric=net_unblended',
    ],
  },
  {
    name: 'top services / accounts / regions over 30 or 90 days',
    weight: 20,
    paths: (end) =>
      ['service', 'account', 'region'].flatMap((dimension) =>
        [30, 90].map(
          (days) => `/api/v1/costs/top?dimension=${dimension}&from=${addDays(end, -(days - 1))}&to=${end}`,
        ),
      ),
  },
];

export interface DrawnRequest {
  orgId: number;
  path: string;
  entry: number;
}

/** Draws requests of the mix (or of one entry of it, by index). */
export function requestDrawer(
  end: string,
  orgIds: number[],
  seed: number,
  only?: number,
): () => DrawnRequest {
  const random = prng(seed);
  const paths = REQUEST_MIX.map((e) => e.paths(end));
  const total = REQUEST_MIX.reduce((s, e) => s + e.weight, 0);
  return () => {
    let r = random() * total;
    let entry = 0;
    for (; entry < REQUEST_MIX.length - 1; entry++) {
      r -= REQUEST_MIX[entry]?.weight ?? 0;
      if (r < 0) break;
    }
    if (only !== undefined) entry = only;
    const choices = paths[entry] ?? [];
    const pathChosen = choices[Math.floor(random() * choices.length)] ?? '/health';
    const orgId = orgIds[Math.floor(random() * orgIds.length)] ?? 0;
    return { orgId, path: pathChosen, entry };
  };
}

/** Distinct cacheable answers the mix can ask for (organizations x distinct queries). */
export function distinctKeys(end: string, orgs: number): number {
  return orgs * REQUEST_MIX.reduce((s, e) => s + new Set(e.paths(end)).size, 0);
}

/** utime + stime of a process in ms, from /proc (0 when it is gone). */
export function procCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return 0;
  }
}

/** CPU of the Postgres backends of one database (and of the Redis server, if its pid is known). */
function sampleBackends(url: string, database: string): { stop(): Promise<number> } {
  const first = new Map<number, number>();
  const last = new Map<number, number>();
  let running = true;
  const client = new pg.Client({ connectionString: url, application_name: 'costwatch-bench-sampler' });
  const loop = (async () => {
    await client.connect();
    while (running) {
      const { rows } = await client.query<{ pid: number }>(
        `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`,
        [database],
      );
      for (const { pid } of rows) {
        const cpu = procCpuMs(pid);
        if (!first.has(pid)) first.set(pid, cpu);
        if (cpu > 0) last.set(pid, cpu);
      }
      await sleep(500);
    }
    await client.end();
  })();
  return {
    async stop() {
      running = false;
      await loop;
      let total = 0;
      for (const [pid, cpu] of last) total += cpu - (first.get(pid) ?? cpu);
      return total;
    },
  };
}

export interface LoadOptions {
  url: string;
  tokens: Map<number, string>;
  draw: () => DrawnRequest;
  connections: number;
  /** autocannon overallRate (requests/s over all connections); undefined = as fast as possible. */
  rate: number | undefined;
  durationS: number;
  apiPid: number;
  /** Postgres database (and a connection URL to it) whose backends' CPU is sampled. */
  database: { url: string; name: string };
  redisPid: number | null;
}

export interface LoadResult {
  requests: number;
  durationS: number;
  rps: number;
  latencyMs: { p50: number; p90: number; p99: number; p999: number; max: number; mean: number };
  non2xx: number;
  errors: number;
  timeouts: number;
  cache: { hit: number; miss: number; none: number };
  /** Mean response size in bytes (body and headers). */
  meanBytes: number;
  /** CPU in % of one core over the run. */
  cpu: { api: number; postgres: number; redis: number | null; loadgen: number };
  /** CPU ms per request of the API process and of the Postgres backends. */
  cpuMsPerRequest: { api: number; postgres: number };
  statusCodes: Record<string, number>;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] ?? Number.NaN;
}

/** One autocannon run. Latencies: every response (any status), from autocannon's 'response' event. */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const latencies: number[] = [];
  const cache = { hit: 0, miss: 0, none: 0 };
  const sampler = sampleBackends(options.database.url, options.database.name);
  await sleep(600);
  const apiCpu0 = procCpuMs(options.apiPid);
  const redisCpu0 = options.redisPid ? procCpuMs(options.redisPid) : 0;
  const own0 = process.cpuUsage();
  const started = Date.now();
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: options.url,
        connections: options.connections,
        // Latencies are recorded here as measured; autocannon's coordinated-omission correction
        // with a per-connection rate would add synthetic samples at a 1 ms interval.
        ...(options.rate ? { overallRate: options.rate, ignoreCoordinatedOmission: true } : {}),
        duration: options.durationS,
        timeout: 10,
        requests: [
          {
            method: 'GET',
            setupRequest: (request) => {
              const drawn = options.draw();
              return {
                ...request,
                method: 'GET',
                path: drawn.path,
                headers: {
                  ...request.headers,
                  authorization: `Bearer ${options.tokens.get(drawn.orgId) ?? ''}`,
                },
              };
            },
            onResponse: (_status, _body, _context, headers) => {
              const value = headers?.['x-cache'] ?? headers?.['X-Cache'];
              if (value === 'hit') cache.hit++;
              else if (value === 'miss') cache.miss++;
              else cache.none++;
            },
          },
        ],
      },
      (error: unknown, res: autocannon.Result) => (error ? reject(error as Error) : resolve(res)),
    );
    instance.on('response', (_client, _status, _bytes, ms) => latencies.push(ms));
  });
  const wallMs = Date.now() - started;
  const own = process.cpuUsage(own0);
  const apiMs = procCpuMs(options.apiPid) - apiCpu0;
  const redisMs = options.redisPid ? procCpuMs(options.redisPid) - redisCpu0 : null;
  const postgresMs = await sampler.stop();
  const sorted = Float64Array.from(latencies).sort();
  const durationS = result.duration;
  const pct = (ms: number) => (ms / wallMs) * 100;
  const statusCodes: Record<string, number> = {};
  for (const [code, stat] of Object.entries(result.statusCodeStats ?? {}))
    statusCodes[code] = stat.count ?? 0;
  return {
    requests: latencies.length,
    durationS,
    rps: latencies.length / durationS,
    latencyMs: {
      p50: percentile(sorted, 50),
      p90: percentile(sorted, 90),
      p99: percentile(sorted, 99),
      p999: percentile(sorted, 99.9),
      max: sorted[sorted.length - 1] ?? Number.NaN,
      mean: latencies.reduce((a, b) => a + b, 0) / Math.max(1, latencies.length),
    },
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    cache,
    meanBytes: result.throughput.total / Math.max(1, latencies.length),
    cpu: {
      api: pct(apiMs),
      postgres: pct(postgresMs),
      redis: redisMs === null ? null : pct(redisMs),
      loadgen: pct((own.user + own.system) / 1000),
    },
    statusCodes,
    cpuMsPerRequest: {
      api: apiMs / Math.max(1, latencies.length),
      postgres: postgresMs / Math.max(1, latencies.length),
    },
  };
}
