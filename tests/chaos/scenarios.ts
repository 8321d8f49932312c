/** Every chaos scenario, in the order the suite runs them. */
import type { ChaosSize, ScenarioResult } from './report.js';
import {
  postgresRestart,
  redisRestart,
  roleRevoked,
  sigtermMidLoad,
  throttleAndStorm,
  workerKills,
} from './pipeline-scenarios.js';
import { apiUnderLoad, hostileApi } from './api-scenarios.js';
import { badCliAndConfig, malformedAws, queueFlood } from './misc-scenarios.js';

export interface Scenario {
  id: string;
  /** What it does, for docs/RELIABILITY.md. */
  description: string;
  run(size: ChaosSize): Promise<ScenarioResult>;
}

export const SCENARIOS: Scenario[] = [
  {
    id: 'kill9',
    description:
      'Backfill (quick: 2 orgs x 28 days; full: 5 orgs x 140 days, 7-day windows also cut at month ends: 115 cost + 115 metrics windows) with 2-3 worker processes; ' +
      'kill -9 a random worker at random moments (2 / 6 times), restarting one each time. Every window must complete; per (org, day, grouping) ' +
      'cost sums equal the simulator truth, row counts equal a clean reference load, no natural key twice, rollups equal cost_data.' +
      ' The kills may cost at most 1.5x the GetCostAndUsage requests of the clean reference load (counted by its simulator), and the succeeded runs\' sent + checkpoint-reused pages must equal that count.',
    run: workerKills,
  },
  {
    id: 'redis',
    description:
      'The same backfill; Redis (AOF on) stopped with SHUTDOWN NOSAVE (full: then a clean SHUTDOWN) for 2 s and restarted on its AOF. No job lost, no worker died, load exact.',
    run: redisRestart,
  },
  {
    id: 'postgres',
    description:
      'The same backfill; Postgres stopped with pg_ctl -m immediate (a crash; full: also -m fast) for 3 s and restarted. Loads fail and retry; every window completes exactly.',
    run: postgresRestart,
  },
  {
    id: 'throttle',
    description:
      'Cost backfill of 2-3 orgs, CE_RATE_PER_ORG=5; one org throttled on 50% of its requests (accountThrottleRates) and a 5xx storm (errorRate 0.5 for 5 / 15 s) on all. ' +
      "All windows complete; the healthy orgs are never delayed and finish first; requests per org in any sliding second <= 2 x CE_RATE_PER_ORG (a fixed one-second window limiter lets the end of one window and the start of the next meet) + that org's STS AssumeRole calls (same account in the simulator's timestamps, not under the CE limit).",
    run: throttleAndStorm,
  },
  {
    id: 'revoke',
    description:
      "An org's role revoked (accessDeniedAccounts) after 2 of its windows loaded: status access_denied with error and remedy, requests after revocation bounded by the jobs in flight, the other org exact.",
    run: roleRevoked,
  },
  {
    id: 'sigterm',
    description:
      'A loaded window re-fetched with 400 ms per page (a window takes longer than the 2 s grace); SIGTERM to the worker mid-load. Exit 0 within the grace, ' +
      'the job handed back and finished by a new worker, and readers polling every 50 ms never see a partial day (all-or-nothing).',
    run: sigtermMidLoad,
  },
  {
    id: 'api-load',
    description:
      'A `costwatch api` process under autocannon (10 connections, daily/monthly/summary/ingestion endpoints; quick 20 s, full 180 s) while a worker reloads and rolls up ' +
      "windows a refresh loop enqueues every second for the org being read (each rollup drops the org's cache). 5xx must be 0; RSS sampled every second: " +
      'stable = after a 25% warm-up, mean of the last third within max(20 MB, 20%) of the first third, last sample within 1.5x of the first, and (full) least-squares slope < 10 MB/min.',
    run: apiUnderLoad,
  },
  {
    id: 'queue',
    description:
      '10,000 (full: 100,000) waiting fetch jobs added with addBulk (enqueueFetches) under a dedicated prefix, for disabled orgs; Redis used_memory before/after and per job, ' +
      'enqueue time; one worker process (concurrency 32) drains them: the drain must never stall (every second drains jobs) and stay steady (the slowest 5-second span >= 50% of the median span; full run), completed jobs auto-removed (<= 5,000 kept).',
    run: queueFlood,
  },
  {
    id: 'hostile-api',
    description:
      'Fuzz every endpoint and query parameter of the OpenAPI document (garbage, boundary and raw percent-encoded values, repeated and unknown parameters, wrong methods, bad bodies) ' +
      "as viewer/operator(/admin): 0 5xx. Forged, alg-none, expired and wrong-audience tokens: 401. Another org's ids: 404, no data. role/org_id in the login body: 400. " +
      'Brute force at LOGIN_ATTEMPTS_PER_15MIN=10: 429s, even for the right password. Login timing unknown user vs wrong password: medians and ratio within 0.67-1.5.',
    run: hostileApi,
  },
  {
    id: 'malformed-aws',
    description:
      'Loaded windows re-fetched while Cost Explorer answers truncated JSON (malformedRate 1) and then well-formed JSON with non-decimal amounts and unexpected keys (corruptAmountRate 1): ' +
      "the jobs fail, fetch_runs.error names the problem, the windows' previous rows are unchanged.",
    run: malformedAws,
  },
  {
    id: 'cli',
    description:
      'Bad flags (backfill dates and org, org create account id and role ARN, user create org and role, worker queues, sim rates) and bad variables (PORT, JWT_SECRET_KEY, DATABASE_URL, ' +
      'REDIS_URL, WORKER_CONCURRENCY, CE_RATE_PER_ORG, REFRESH_CRON, LOG_LEVEL): exit 1, a message naming each, no stack trace, no secret value echoed (quick: every other case and the secret ones).',
    run: badCliAndConfig,
  },
];
