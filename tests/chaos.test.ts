/**
 * The chaos suite's quick mode inside `npm test` (the full runs: `npm run test:chaos`). Same
 * scenario code (tests/chaos/) with small sizes, on its own Postgres and Redis under
 * .costwatch/chaos-ci/ (ports 54349/63809), which its scenarios restart; the shared test instances
 * are never touched. Scenarios run one after another (they share the chaos instances).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { SIZES, formatTable, type ScenarioResult } from './chaos/report.js';
import { SCENARIOS } from './chaos/scenarios.js';
import { CHAOS_CI_INSTANCE, killAllStarted, useChaosInstance } from './chaos/infra.js';

// Not the instances of `npm run test:chaos`: a full run may be going on at the same time.
useChaosInstance(CHAOS_CI_INSTANCE);

const size = SIZES.quick;
const results: ScenarioResult[] = [];

// The quick CI subset, at sizes that fit in about three minutes on 2 cores. Throttle runs in the full
// suite only: its throttle backoffs make it minutes long by design.
const CI = ['kill9', 'redis', 'postgres', 'revoke', 'sigterm', 'malformed-aws', 'hostile-api', 'api-load', 'queue', 'cli'];

for (const scenario of SCENARIOS.filter((s) => CI.includes(s.id))) {
  test(`chaos (quick): ${scenario.id}`, { timeout: 240_000 }, async () => {
    const result = await scenario.run(size);
    results.push(result);
    assert.deepEqual(result.failures, [], `${result.name} failed`);
  });
}

after(async () => {
  // A scenario cut off by its timeout never ran its cleanup: its processes would keep this file alive.
  await killAllStarted();
  if (results.length > 0) process.stdout.write(`\n${formatTable(results)}\n`);
});
