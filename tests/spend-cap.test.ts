/**
 * CE_DAILY_REQUEST_CAP: an org that reaches its daily Cost Explorer requests stops sending them
 * (run `capped`, metric counted, job delayed), does the rest of its work on its next day by the
 * injected clock, and another org is untouched.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { manualClock } from '../lib/clock.js';
import { createLogger } from '../lib/logger.js';
import { ceCapHits } from '../lib/metrics.js';
import { enqueueFetches } from '../producers/enqueue.js';
import { startWorkers } from '../workers/main.js';
import { startTestPipeline, type TestPipeline } from './helpers/pipeline.js';

const CAP = 3;
let p: TestPipeline;
const clock = manualClock('2026-11-15T23:59:57Z');

before(async () => {
  p = await startTestPipeline({
    workers: false,
    sim: { today: '2026-11-15' },
    env: { CE_DAILY_REQUEST_CAP: String(CAP), WORKER_CONCURRENCY: '1', RESTATEMENT_PROBE: 'false' },
  });
  p.workers = await startWorkers(p.config, {
    queues: ['fetch-costs', 'rollups'],
    log: createLogger({ level: 'silent', name: 'worker' }),
    now: clock.now,
  });
});

after(async () => {
  await p.close();
});

async function runs(orgId: number): Promise<Array<{ status: string; window_start: string }>> {
  const { rows } = await p.db.pool.query<{ status: string; window_start: string }>(
    `SELECT status, window_start::text FROM fetch_runs WHERE organization_id = $1 AND source = 'costs' ORDER BY id`,
    [orgId],
  );
  return rows;
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline)
      throw new Error(
        `timed out waiting for ${what}: ${JSON.stringify(await p.db.pool.query('SELECT organization_id, status, window_start::text, error FROM fetch_runs ORDER BY id').then((r) => r.rows))} ${JSON.stringify(await p.queues.fetchCosts.getJobCounts())}`,
      );
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('an org at CE_DAILY_REQUEST_CAP is capped until its next day; another org is untouched', async () => {
  const capped = await p.createOrg('410000000001');
  const other = await p.createOrg('410000000002');
  const hitsBefore = (await ceCapHits.get()).values[0]?.value ?? 0;
  // Three one-day windows: 2 requests each (one page per grouping), 6 > the cap of 3.
  const days = ['2026-11-10', '2026-11-11', '2026-11-12'];
  await enqueueFetches(
    p.queues,
    'costs',
    days.map((from, i) => ({
      orgId: capped.id,
      from,
      to: days[i + 1] ?? '2026-11-13',
      trigger: 'manual' as const,
    })),
  );
  await enqueueFetches(p.queues, 'costs', [
    { orgId: other.id, from: '2026-11-10', to: '2026-11-11', trigger: 'manual' },
  ]);

  await until('the capped org to be capped', async () =>
    (await runs(capped.id)).some((r) => r.status === 'capped'),
  );
  await until('the other org to succeed', async () =>
    (await runs(other.id)).some((r) => r.status === 'succeeded'),
  );
  const counts = p.sim.control.requestCounts().byAccount;
  const spent = (account: string) =>
    Object.entries(counts[account] ?? {})
      .filter(([op]) => op.startsWith('ce:'))
      .reduce((a, [, n]) => a + n, 0);
  assert.ok(spent('410000000001') <= CAP, `capped org sent ${spent('410000000001')} CE requests, cap ${CAP}`);
  // One query per grouping every org loads (service by account, by region, by record type).
  assert.equal(spent('410000000002'), 3, 'the other org fetched its window in full');
  assert.deepEqual(
    (await runs(other.id)).map((r) => r.status),
    ['succeeded'],
  );
  const delayed = await p.queues.fetchCosts.getJobCounts('delayed');
  assert.ok((delayed.delayed ?? 0) >= 1, 'the capped work waits for the next day');
  assert.ok(
    ((await ceCapHits.get()).values[0]?.value ?? 0) > hitsBefore,
    'costwatch_ce_daily_cap_hits_total counted',
  );
  const succeededToday = (await runs(capped.id)).filter((r) => r.status === 'succeeded').length;
  assert.ok(succeededToday < days.length, 'not every window was fetched on the capped day');

  // The next day (by the injected clock): the work resumes on a fresh count; 3 requests fit one
  // more window (2 requests), the last one is capped again and runs the day after.
  const succeeded = async () => (await runs(capped.id)).filter((r) => r.status === 'succeeded').length;
  clock.set('2026-11-16T00:00:01Z');
  p.sim.control.setToday('2026-11-16');
  await until(
    'one more window of the capped org to succeed',
    async () => (await succeeded()) === succeededToday + 1,
  );
  clock.set('2026-11-17T00:00:01Z');
  p.sim.control.setToday('2026-11-17');
  await until(
    'every window of the capped org to succeed',
    async () => {
      // BullMQ delays in real time: the day the injected clock skipped is passed by promoting the job.
      for (const job of await p.queues.fetchCosts.getDelayed()) await job.promote().catch(() => undefined);
      const all = await runs(capped.id);
      return days.every((d) => all.some((r) => r.window_start === d && r.status === 'succeeded'));
    },
    20_000,
  );
  assert.deepEqual(
    (await runs(other.id)).map((r) => r.status),
    ['succeeded'],
    'the other org never ran again nor was capped',
  );
});
