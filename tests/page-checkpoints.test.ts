/**
 * A cost window whose job dies part-way does not pay again for what it already got: every
 * GetCostAndUsage page with a next page is kept in Postgres as it arrives (ce_page_checkpoints; a
 * query's last page is not), and the retry of the job, on another worker, sends only the pages it lacks. kill -9 of a real worker process mid-window,
 * the stalled job taken over by an in-process worker; real Postgres, Redis, BullMQ and the AWS SDK
 * against the simulator (small pages and latency, so a window spans many pages and seconds).
 * Also: a kept page older than CE_PAGE_CHECKPOINT_SECONDS is never reused, and a kept page token
 * AWS refuses costs one retry and a full read, never a wrong or failed load.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addDays, eachDay, todayUtc } from '../lib/dates.js';
import { expectedDailyTotal } from '../sim/data.js';
import { enqueueFetches } from '../producers/enqueue.js';
import { roleProcessEnv, startTestPipeline, type TestPipeline } from './helpers/pipeline.js';
import { spawnRole } from './helpers/processes.js';
import { normDecimal } from './helpers/decimal.js';
import { TEST_NOW } from './helpers/clock.js';

const ACCOUNT = '223344556677';
// Final days (well before the pinned today): the simulator's answers are the same on every read.
const WINDOW = {
  from: addDays(todayUtc(new Date(TEST_NOW)), -20),
  to: addDays(todayUtc(new Date(TEST_NOW)), -13),
};

interface RunRow {
  status: string;
  sent: number;
  reused: number;
  error: string | null;
}

async function costRuns(p: TestPipeline, orgId: number): Promise<RunRow[]> {
  const { rows } = await p.db.pool.query<RunRow>(
    `SELECT status, coalesce((aws_requests_by_operation->>'GetCostAndUsage')::int, 0) AS sent, ce_pages_reused AS reused, error
       FROM fetch_runs WHERE organization_id = $1 AND source = 'costs' ORDER BY id`,
    [orgId],
  );
  return rows;
}

async function keptPages(p: TestPipeline): Promise<number> {
  const { rows } = await p.db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM ce_page_checkpoints');
  return rows[0]?.n ?? 0;
}

function digest(p: TestPipeline, orgId: number) {
  return p.db.pool.query<{ digest: string; n: number }>(
    `SELECT md5(string_agg(concat_ws('|', cost_date, grouping, service, linked_account, region, dim_value, unblended_cost, amortized_cost, net_unblended_cost, usage_quantity, estimated), ','
       ORDER BY cost_date, grouping, service, linked_account, region, dim_value)) AS digest, count(*)::int AS n
       FROM cost_data WHERE organization_id = $1`,
    [orgId],
  );
}

async function assertMatchesTruth(p: TestPipeline, orgId: number): Promise<void> {
  for (const grouping of ['account_service', 'region_service', 'record_type']) {
    const { rows } = await p.db.pool.query<{ day: string; total: string }>(
      `SELECT cost_date AS day, sum(unblended_cost)::text AS total FROM cost_data WHERE organization_id = $1 AND grouping = $2 GROUP BY 1`,
      [orgId, grouping],
    );
    const totals = new Map(rows.map((r) => [r.day, normDecimal(r.total)]));
    for (const day of eachDay(WINDOW.from, WINDOW.to))
      assert.equal(totals.get(day), normDecimal(expectedDailyTotal(ACCOUNT, day)), `${grouping} ${day}`);
  }
}

/**
 * One cost window fetched by a worker process that is killed (SIGKILL) once it has kept `after`
 * pages; `meddle` then changes the kept pages (or not) and an in-process worker takes the stalled
 * job over. Returns what each side sent and kept, then a clean read of the same window by a new job
 * (what the window costs without a crash).
 */
async function killMidWindow(meddle: (p: TestPipeline) => Promise<void>, after = 4) {
  const p = await startTestPipeline({ workers: false, sim: { latencyMs: 150, pageSize: 25 } });
  const reads = () => p.sim.control.requestCounts().byAccount[ACCOUNT]?.['ce:GetCostAndUsage'] ?? 0;
  const org = await p.createOrg(ACCOUNT);
  const env = roleProcessEnv(p, {
    JOB_LOCK_SECONDS: '5',
    RETRY_BACKOFF_MS: '50',
    CE_RATE_PER_ORG: '100',
    ...p.clockEnv(),
  });
  const worker = await spawnRole(['worker', '--queues', 'fetch-costs'], env, 'worker started');
  try {
    await enqueueFetches(p.queues, 'costs', [{ orgId: org.id, ...WINDOW, trigger: 'backfill' }]);
    for (let i = 0; i < 400 && (await keptPages(p)) < after; i++) await new Promise((r) => setTimeout(r, 25));
    worker.child.kill('SIGKILL');
    assert.equal((await worker.exited).signal, 'SIGKILL');
    // A write the dead process had sent may still commit: read the kept pages once Postgres settled.
    await new Promise((r) => setTimeout(r, 500));
    const kept = await keptPages(p);
    const sentBeforeKill = reads();
    assert.ok(kept >= after, `${kept} pages kept before the kill`);
    assert.deepEqual(
      (await costRuns(p, org.id)).map((r) => r.status),
      ['running'],
      'the kill stopped the window before its commit',
    );
    await meddle(p);
    await p.startWorkers();
    await p.waitForIdle(60_000);
    const sentByRetry = reads() - sentBeforeKill;
    const afterRetry = await costRuns(p, org.id);
    const loaded = (await digest(p, org.id)).rows[0];
    const keptAfterCommit = await keptPages(p);
    // What the window costs without a crash: a new job of the same window, read in full (a backfill
    // job: a manual one would probe first and find nothing changed).
    const before = reads();
    await enqueueFetches(p.queues, 'costs', [{ orgId: org.id, ...WINDOW, trigger: 'backfill' }]);
    await p.waitForIdle(60_000);
    const clean = reads() - before;
    const reloaded = (await digest(p, org.id)).rows[0];
    return {
      p,
      org,
      kept,
      sentBeforeKill,
      sentByRetry,
      afterRetry,
      loaded,
      reloaded,
      keptAfterCommit,
      clean,
      runs: await costRuns(p, org.id),
    };
  } catch (error) {
    worker.child.kill('SIGKILL');
    await p.close();
    throw error;
  }
}

test('kill -9 mid-window: the retry on another worker sends only the pages the dead attempt had not got; the load is the truth', async () => {
  const r = await killMidWindow(async () => undefined);
  try {
    assert.ok(r.clean >= 9, `the window spans several pages per grouping (${r.clean})`);
    const succeeded = r.afterRetry.filter((x) => x.status === 'succeeded');
    assert.equal(succeeded.length, 1, JSON.stringify(r.afterRetry));
    const [run] = succeeded;
    // Every kept page was reused, and only the others were sent (and counted as sent).
    assert.equal(run?.reused, r.kept, 'every kept page reused');
    assert.equal(r.sentByRetry, r.clean - r.kept, 'the retry sent only the pages not kept');
    assert.equal(run?.sent, r.sentByRetry, 'aws_requests_by_operation says what the run sent');
    assert.equal(
      (run?.sent ?? 0) + (run?.reused ?? 0),
      r.clean,
      'sent + reused = a clean read of the window',
    );
    assert.equal(r.keptAfterCommit, 0, "the commit deleted the window's kept pages");
    // The clean read (a new job) reused nothing: checkpoints serve only the retry of their job.
    assert.equal(r.runs.at(-1)?.reused, 0);
    assert.equal(r.runs.at(-1)?.sent, r.clean);
    assert.deepEqual(r.loaded, r.reloaded, 'the retried load is the same rows as a clean read');
    await assertMatchesTruth(r.p, r.org.id);
  } finally {
    await r.p.close();
  }
});

test('kill -9 mid-window, kept pages older than CE_PAGE_CHECKPOINT_SECONDS: the retry reads the whole window again', async () => {
  const r = await killMidWindow(async (p) => {
    await p.db.pool.query(`UPDATE ce_page_checkpoints SET created_at = now() - interval '2 hours'`);
  });
  try {
    const run = r.afterRetry.find((x) => x.status === 'succeeded');
    assert.equal(run?.reused, 0, 'nothing older than an hour is reused');
    assert.equal(r.sentByRetry, r.clean);
    assert.equal(r.keptAfterCommit, 0);
    assert.deepEqual(r.loaded, r.reloaded);
    await assertMatchesTruth(r.p, r.org.id);
  } finally {
    await r.p.close();
  }
});

test('a kept NextPageToken AWS refuses: that attempt fails (transient), the next reads the window afresh, the load is the truth', async () => {
  const r = await killMidWindow(async (p) => {
    // Every kept page's token becomes one the simulator refuses (InvalidNextTokenException).
    const { rowCount } = await p.db.pool.query(
      `UPDATE ce_page_checkpoints SET page = jsonb_set(page::jsonb, '{NextPageToken}', '"expired-token"')::json
        WHERE page->>'NextPageToken' IS NOT NULL`,
    );
    assert.ok((rowCount ?? 0) > 0, 'some kept page has a next page');
  });
  try {
    const statuses = r.afterRetry.map((x) => x.status);
    assert.deepEqual(statuses.slice(0, 1), ['interrupted'], JSON.stringify(r.afterRetry));
    assert.equal(statuses.at(-1), 'succeeded', JSON.stringify(r.afterRetry));
    const refused = r.afterRetry.find((x) => x.status === 'retrying');
    assert.match(refused?.error ?? '', /refused a NextPageToken kept from an earlier attempt/);
    assert.equal(r.afterRetry.at(-1)?.reused, 0, 'after a refusal nothing kept is trusted');
    assert.equal(r.afterRetry.at(-1)?.sent, r.clean);
    assert.equal(r.keptAfterCommit, 0);
    assert.deepEqual(r.loaded, r.reloaded);
    await assertMatchesTruth(r.p, r.org.id);
  } finally {
    await r.p.close();
  }
});

test("only pages with a next page are kept: a query's last page is not, so a one-page window writes no checkpoint", async () => {
  const p = await startTestPipeline({ sim: { pageSize: 25 } });
  try {
    // Every checkpoint written, even those its commit deletes again.
    await p.db.pool.query(`
      CREATE TABLE kept_log (query text NOT NULL, page_token text NOT NULL, has_next boolean NOT NULL);
      CREATE FUNCTION log_kept() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          INSERT INTO kept_log VALUES (NEW.query, NEW.page_token, NEW.page->>'NextPageToken' IS NOT NULL);
          RETURN NEW;
        END $$;
      CREATE TRIGGER log_kept AFTER INSERT ON ce_page_checkpoints FOR EACH ROW EXECUTE FUNCTION log_kept();`);
    const reads = () => p.sim.control.requestCounts().byAccount[ACCOUNT]?.['ce:GetCostAndUsage'] ?? 0;
    const kept = async () =>
      (await p.db.pool.query<{ query: string; has_next: boolean }>('SELECT query, has_next FROM kept_log'))
        .rows;
    const org = await p.createOrg(ACCOUNT);

    // Many pages per grouping: every page but each query's last is kept.
    await enqueueFetches(p.queues, 'costs', [{ orgId: org.id, ...WINDOW, trigger: 'backfill' }]);
    await p.waitForIdle(60_000);
    const sent = reads();
    const groupings = new Set((await kept()).map((r) => r.query.split(':')[0]));
    assert.equal(groupings.size, 3, 'every grouping paged');
    assert.ok(sent >= 9, `the window spans several pages per grouping (${sent})`);
    assert.equal((await kept()).length, sent - groupings.size, 'all pages but one per query');
    assert.ok(
      (await kept()).every((r) => r.has_next),
      'no last page kept',
    );
    await assertMatchesTruth(p, org.id);

    // The same window in one page per grouping (AWS's usual page): nothing is written.
    await p.db.pool.query('TRUNCATE kept_log');
    p.sim.control.setOptions({ pageSize: 5000 });
    await enqueueFetches(p.queues, 'costs', [{ orgId: org.id, ...WINDOW, trigger: 'backfill' }]);
    await p.waitForIdle(60_000);
    assert.equal(reads() - sent, 3, 'one page per grouping');
    assert.deepEqual(await kept(), [], 'a one-page query keeps nothing');
  } finally {
    await p.close();
  }
});
