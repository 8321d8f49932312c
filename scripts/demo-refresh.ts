/**
 * The demo's refresh (scripts/demo.mjs loads this through tsx): the normal refresh of each demo
 * organization, enqueued by producers' own enqueueOrgRefresh (what the API's refresh-now action
 * runs; the cost load enqueues its rollup and whatever follows it), then waits until the
 * pipeline's queues are idle and every fetch run of this refresh is done, and reports them.
 */
import { parseConfig, required } from '../lib/config.js';
import { clockFromConfig, type Now } from '../lib/clock.js';
import { addDays, todayUtc } from '../lib/dates.js';
import { createPool } from '../lib/db.js';
import { ALL_QUEUES, QUEUES } from '../lib/jobs.js';
import { createRedis } from '../lib/redis.js';
import { enqueueOrgRefresh } from '../producers/enqueue.js';
import { createQueues, queueWork } from '../producers/queues.js';
import { getOrganization } from '../database/repositories/organizations.repository.js';
import { latestRunsSince, type RecentRun } from '../database/repositories/fetch-runs.repository.js';

export interface DemoRefreshResult {
  runs: RecentRun[];
  /** Human-readable lines, one per run. */
  lines: string[];
  ok: boolean;
}

/** Today (UTC) on the demo's clock. */
export async function refreshDemoOrganizations(
  env: Record<string, string | undefined>,
  orgIds: number[],
  options: { timeoutMs: number; now?: Now },
): Promise<DemoRefreshResult> {
  const config = parseConfig('cli-queue', env);
  // The demo's clock: CLOCK_START in its environment pins it, as it pins the roles and the simulator.
  const now = options.now ?? clockFromConfig(config);
  const pool = createPool({
    connectionString: required(config, 'DATABASE_URL'),
    max: 2,
    applicationName: 'costwatch-demo',
  });
  const redis = createRedis(required(config, 'REDIS_URL'), 'producer');
  const queues = createQueues(redis, {
    prefix: config.QUEUE_PREFIX,
    attempts: config.FETCH_ATTEMPTS,
    backoffMs: config.RETRY_BACKOFF_MS,
  });
  try {
    const since = new Date(Date.now() - 1_000);
    const today = todayUtc(now());
    for (const id of orgIds) {
      const org = await getOrganization(pool, id);
      if (!org) throw new Error(`organization ${id} does not exist`);
      await enqueueOrgRefresh(queues, org, today, config, 'manual');
    }
    const pipeline = ALL_QUEUES.filter((q) => q !== QUEUES.scheduler).map((q) => queues.byName(q));
    const deadline = Date.now() + options.timeoutMs;
    let idle = 0;
    let runs: RecentRun[] = [];
    for (;;) {
      runs = await latestRunsSince(pool, orgIds, since, 'manual');
      const counts = await Promise.all(pipeline.map((q) => queueWork(q)));
      const queuesIdle = counts.every((c) => c.pending === 0 && c.active === 0);
      const done = runs.every((r) => r.status === 'failed' || (r.status === 'succeeded' && r.rolledUp));
      // Each organization's cost and metrics runs exist and are done, and nothing they set off is queued.
      const complete = orgIds.every((id) =>
        ['costs', 'metrics'].every((s) => runs.some((r) => r.orgId === id && r.source === s)),
      );
      idle = queuesIdle && done && complete ? idle + 1 : 0;
      if (idle >= 2) break;
      if (Date.now() > deadline)
        throw new Error(`the refresh did not finish within ${options.timeoutMs / 1000} s`);
      await new Promise((r) => setTimeout(r, 500));
    }
    const lines = runs.map(
      (r) =>
        `organization ${r.orgId}: ${r.source} ${r.windowStart}..${addDays(r.windowEnd, -1)} ${r.status}, ${r.rows} rows` +
        (r.error ? `: ${r.error}` : ''),
    );
    return { runs, lines, ok: runs.every((r) => r.status === 'succeeded') };
  } finally {
    await queues.close();
    redis.disconnect();
    await pool.end();
  }
}
