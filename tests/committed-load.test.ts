/**
 * A retry of a cost job whose load already committed (a worker killed, or Redis failing, between the
 * commit and queueing its rollup) never asks AWS for the window again: it finds its committed run and
 * only queues the rollup. Real worker, BullMQ, Postgres and the AWS SDK against the simulator.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Job } from 'bullmq';
import { addDays } from '../lib/dates.js';
import { JOB_NAMES } from '../lib/jobs.js';
import { startTestPipeline } from './helpers/pipeline.js';

const TODAY = '2026-06-17';

test('a committed load is not fetched again by a retry of its job; the retry queues its rollup', async () => {
  const p = await startTestPipeline({ sim: { today: TODAY } });
  try {
    const org = await p.createOrg('556677889900');
    const window = { from: addDays(TODAY, -20), to: addDays(TODAY, -10) };
    const data = { orgId: org.id, ...window, trigger: 'backfill' as const };
    const first = await p.queues.fetchCosts.add(JOB_NAMES.fetchCosts, data, { jobId: 'committed-1' });
    await p.waitForIdle();
    const done = await Job.fromId(p.queues.fetchCosts, first.id ?? '');
    const result = done?.returnvalue as { rows: number; awsRequests: number } | undefined;
    assert.ok(result && result.rows > 0 && result.awsRequests > 0, 'the first attempt loaded the window');
    const reads = () =>
      p.sim.control.requestCounts().byAccount[org.awsAccountId]?.['ce:GetCostAndUsage'] ?? 0;
    const readsBefore = reads();
    // The same job again (same id), as BullMQ hands a stalled or failed attempt to another worker.
    await p.queues.fetchCosts.remove('committed-1');
    await p.db.pool.query('DELETE FROM cost_daily_service WHERE organization_id = $1', [org.id]);
    await p.queues.fetchCosts.add(JOB_NAMES.fetchCosts, data, { jobId: 'committed-1' });
    await p.waitForIdle();
    const again = await Job.fromId(p.queues.fetchCosts, 'committed-1');
    const retried = again?.returnvalue as { rows: number; awsRequests: number } | undefined;
    assert.equal(reads(), readsBefore, 'no GetCostAndUsage for a committed window');
    assert.equal(retried?.awsRequests, 0);
    assert.equal(retried?.rows, result.rows);
    const runs = await p.db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM fetch_runs WHERE organization_id = $1 AND source = 'costs'`,
      [org.id],
    );
    assert.equal(runs.rows[0]?.n, 1, 'one run: the committed one');
    const rolled = await p.db.pool.query<{ n: number }>(
      'SELECT count(DISTINCT day)::int AS n FROM cost_daily_service WHERE organization_id = $1',
      [org.id],
    );
    assert.equal(rolled.rows[0]?.n, 10, 'the retry queued the rollup of the window');
  } finally {
    await p.close();
  }
});
