/**
 * organizations.estimated_from across windows that commit in any order: it stays the earliest day
 * still Estimated, and is cleared only when a window that covers it comes back final. First the rule
 * itself through the repository (every commit order of three windows), then a backfill on two worker
 * processes against the simulator, where the windows commit in whatever order the workers finish.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addDays, eachDay, splitWindows } from '../lib/dates.js';
import { manualClock } from '../lib/clock.js';
import { replaceCostWindow, type CostRow } from '../database/repositories/cost-data.repository.js';
import { createOrganization, recordCostLoad } from '../database/repositories/organizations.repository.js';
import { enqueueFetches } from '../producers/enqueue.js';
import { backfillProgress } from '../database/repositories/fetch-runs.repository.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { roleProcessEnv, startTestPipeline } from './helpers/pipeline.js';
import { spawnRole } from './helpers/processes.js';

const clock = manualClock('2026-06-17T12:00:00Z');

function rowsOf(days: string[], estimated: Set<string>): CostRow[] {
  return days.map((day) => ({
    costDate: day,
    grouping: 'account_service',
    service: 'Amazon EC2',
    linkedAccount: '111122223333',
    region: '',
    unblendedCost: '1.25',
    amortizedCost: '1.25',
    netUnblendedCost: '1.25',
    netAmortizedCost: '1.25',
    usageQuantity: '1',
    unit: 'USD',
    estimated: estimated.has(day),
  }));
}

/** Loads a window the way the cost worker does: rows and the org's bookkeeping in one transaction. */
async function load(
  db: TestDatabase,
  orgId: number,
  window: { from: string; to: string },
  estimated: Set<string>,
) {
  async function* batches(): AsyncGenerator<CostRow[]> {
    yield rowsOf(eachDay(window.from, window.to), estimated);
  }
  await replaceCostWindow(db.pool, orgId, window, batches(), (tx, result) =>
    recordCostLoad(tx, orgId, {
      runId: null,
      window,
      estimatedFrom: result.estimatedFrom,
      rows: result.rows,
      awsRequests: {},
    }).then(() => undefined),
  );
}

async function estimatedFrom(db: TestDatabase, orgId: number): Promise<string | null> {
  const { rows } = await db.pool.query<{ d: string | null }>(
    'SELECT estimated_from AS d FROM organizations WHERE id = $1',
    [orgId],
  );
  return rows[0]?.d ?? null;
}

function permutations<T>(items: T[]): T[][] {
  if (items.length <= 1) return [items];
  return items.flatMap((item, i) =>
    permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]),
  );
}

test('estimated_from rule: earliest Estimated day kept whatever the commit order; cleared only by a final window covering it', async () => {
  const db = await createTestDatabase();
  try {
    const windows = [
      { from: '2026-05-01', to: '2026-06-01' },
      { from: '2026-06-01', to: '2026-06-15' },
      { from: '2026-06-15', to: '2026-06-18' },
    ];
    // Day 2026-06-14 (second window) and 2026-06-16.. (third) are Estimated; the first window is final.
    const estimated = new Set(['2026-06-14', '2026-06-16', '2026-06-17']);
    for (const order of permutations([0, 1, 2])) {
      const org = await createOrganization(db.pool, {
        name: `perm-${order.join('')}`,
        awsAccountId: '111122223333',
        roleArn: 'arn:aws:iam::111122223333:role/CostWatchRead',
      });
      for (const i of order) {
        const w = windows[i];
        assert.ok(w);
        await load(db, org.id, w, estimated);
      }
      assert.equal(await estimatedFrom(db, org.id), '2026-06-14', `commit order ${order.join(',')}`);
    }

    const org = await createOrganization(db.pool, {
      name: 'rule',
      awsAccountId: '111122223333',
      roleArn: 'arn:aws:iam::111122223333:role/CostWatchRead',
    });
    const [may, june, last] = windows as [(typeof windows)[0], (typeof windows)[0], (typeof windows)[0]];
    await load(db, org.id, last, estimated);
    assert.equal(await estimatedFrom(db, org.id), '2026-06-16', 'first Estimated day remembered');
    await load(db, org.id, may, new Set());
    assert.equal(
      await estimatedFrom(db, org.id),
      '2026-06-16',
      'a final window that does not cover it keeps it',
    );
    await load(db, org.id, june, estimated);
    assert.equal(
      await estimatedFrom(db, org.id),
      '2026-06-14',
      'an earlier Estimated day of another window wins',
    );
    await load(db, org.id, last, new Set(['2026-06-17']));
    assert.equal(await estimatedFrom(db, org.id), '2026-06-14', 'a later window does not move it forward');
    await load(db, org.id, june, new Set());
    assert.equal(
      await estimatedFrom(db, org.id),
      '2026-06-17',
      'the covering window came back final: the next Estimated day stored after it',
    );
    await load(db, org.id, last, new Set());
    assert.equal(await estimatedFrom(db, org.id), null, 'every day final: cleared');
    await load(db, org.id, { from: '2026-06-10', to: '2026-06-18' }, new Set(['2026-06-12', '2026-06-13']));
    await load(db, org.id, { from: '2026-06-10', to: '2026-06-18' }, new Set(['2026-06-13']));
    assert.equal(
      await estimatedFrom(db, org.id),
      '2026-06-13',
      'a window re-reading it moves it to its earliest Estimated day',
    );
  } finally {
    await db.drop();
  }
});

test('a backfill on two worker processes, windows committing in random order, keeps the earliest Estimated day', async () => {
  const today = clock.now().toISOString().slice(0, 10);
  // Latency jitter so the two processes finish their windows in a different order every round.
  const p = await startTestPipeline({ workers: false, sim: { today, latencyMs: 5, latencyJitterMs: 120 } });
  const workers: Awaited<ReturnType<typeof spawnRole>>[] = [];
  try {
    const org = await p.createOrg('334455667788');
    const env = roleProcessEnv(p, {
      RETRY_BACKOFF_MS: '50',
      WORKER_CONCURRENCY: '4',
      CE_RATE_PER_ORG: '100',
      CW_RATE_PER_ORG: '200',
    });
    workers.push(await spawnRole(['worker', '--queues', 'fetch-costs,rollups'], env, 'worker started'));
    workers.push(await spawnRole(['worker', '--queues', 'fetch-costs,rollups'], env, 'worker started'));
    // Windows of 2 days through today: the simulator flags today and the 2 days before it Estimated,
    // so two windows carry Estimated days and the earliest is today - 2.
    const range = { from: addDays(today, -13), to: addDays(today, 1) };
    const backfill = async (round: number): Promise<void> => {
      const id = `bf-est-${round}`;
      // Costs only (the two processes serve fetch-costs and rollups), as `costwatch backfill` queues them.
      const windows = splitWindows(range.from, range.to, 2);
      await enqueueFetches(
        p.queues,
        'costs',
        windows.map((w) => ({ orgId: org.id, ...w, trigger: 'backfill' as const, backfillId: id })),
      );
      const total = windows.length;
      const deadline = Date.now() + 120_000;
      for (;;) {
        const progress = await backfillProgress(p.db.pool, id);
        if (progress.rolledUp + progress.failed >= total) {
          assert.equal(progress.failed, 0);
          break;
        }
        assert.ok(Date.now() < deadline, `round ${round} not done: ${JSON.stringify(progress)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    for (let round = 1; round <= 3; round++) {
      await p.db.pool.query('UPDATE organizations SET estimated_from = NULL WHERE id = $1', [org.id]);
      p.sim.control.setOptions({ seed: `estimated-${round}` });
      await backfill(round);
      const truth = await p.db.pool.query<{ d: string }>(
        'SELECT min(cost_date) AS d FROM cost_data WHERE organization_id = $1 AND estimated',
        [org.id],
      );
      assert.equal(
        truth.rows[0]?.d,
        addDays(today, -2),
        'the simulator flags today - 2 as the earliest Estimated day',
      );
      const row = await p.db.pool.query<{ d: string | null }>(
        'SELECT estimated_from AS d FROM organizations WHERE id = $1',
        [org.id],
      );
      assert.equal(
        row.rows[0]?.d,
        addDays(today, -2),
        `round ${round}: the earliest Estimated day, whatever window committed last`,
      );
    }
    // Days pass: every loaded day is final now. Re-reading the windows clears it, in any order.
    p.sim.control.setToday(addDays(today, 4));
    await backfill(4);
    const cleared = await p.db.pool.query<{ d: string | null }>(
      'SELECT estimated_from AS d FROM organizations WHERE id = $1',
      [org.id],
    );
    assert.equal(cleared.rows[0]?.d, null, 'final windows covering the Estimated days clear it');
  } finally {
    for (const w of workers) w.child.kill('SIGTERM');
    await Promise.all(workers.map((w) => w.exited));
    await p.close();
  }
});
