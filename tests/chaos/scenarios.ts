/** Every chaos scenario, in the order the suite runs them. */
import type { ChaosSize, ScenarioResult } from './report.js';
import { postgresRestart, redisRestart, roleRevoked, sigtermMidLoad, throttleAndStorm, workerKills } from './pipeline-scenarios.js';

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
      'Backfill (quick: 2 orgs x 28 days; full: 5 orgs x 140 days, 7-day windows: 100 cost + 100 metrics windows) with 2-3 worker processes; ' +
      'kill -9 a random worker at random moments (2 / 6 times), restarting one each time. Every window must complete; per (org, day, grouping) ' +
      'cost sums equal the simulator truth, row counts equal a clean reference load, no natural key twice, rollups equal cost_data.',
    run: workerKills,
  },
  {
    id: 'redis',
    description: 'The same backfill; Redis (AOF on) stopped with SHUTDOWN NOSAVE (full: then a clean SHUTDOWN) for 2 s and restarted on its AOF. No job lost, no worker died, load exact.',
    run: redisRestart,
  },
  {
    id: 'postgres',
    description: 'The same backfill; Postgres stopped with pg_ctl -m immediate (a crash; full: also -m fast) for 3 s and restarted. Loads fail and retry; every window completes exactly.',
    run: postgresRestart,
  },
  {
    id: 'throttle',
    description:
      'Cost backfill of 2-3 orgs, CE_RATE_PER_ORG=5; one org throttled on 50% of its requests (accountThrottleRates) and a 5xx storm (errorRate 0.5 for 5 / 15 s) on all. ' +
      'All windows complete; the healthy orgs are never delayed and finish first; requests per org in any sliding second <= 2 x CE_RATE_PER_ORG.',
    run: throttleAndStorm,
  },
  {
    id: 'revoke',
    description: "An org's role revoked (accessDeniedAccounts) after 2 of its windows loaded: status access_denied with error and remedy, requests after revocation bounded by the jobs in flight, the other org exact.",
    run: roleRevoked,
  },
  {
    id: 'sigterm',
    description:
      'A loaded window re-fetched with 400 ms per page (a window takes longer than the 2 s grace); SIGTERM to the worker mid-load. Exit 0 within the grace, ' +
      'the job handed back and finished by a new worker, and readers polling every 50 ms never see a partial day (all-or-nothing).',
    run: sigtermMidLoad,
  },
];
