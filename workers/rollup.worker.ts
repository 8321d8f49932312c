/** Rollup: recompute the rollups of exactly the (org, days) a load touched; then drop the org's API cache. */
import { UnrecoverableError, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Pool } from '../lib/db.js';
import { rollupJobSchema } from '../lib/jobs.js';
import { invalidateOrgCache } from '../lib/cache.js';
import { rebuildCostRollups, rebuildMetricRollups } from '../database/repositories/rollups.repository.js';
import { markRunRolledUp } from '../database/repositories/fetch-runs.repository.js';
import type { Logger } from '../lib/logger.js';
import { delayWhileDatabaseDown } from './fetch-job.js';
import { enqueueBudgetEvaluation } from '../producers/notifications.js';
import type { Queues } from '../producers/queues.js';
import { enqueueAnomalyDetection } from '../producers/enqueue-anomalies.js';

export interface RollupDeps {
  db: Pool;
  redis: Redis;
  prefix: string;
  log: Logger;
  queues: Queues;
}

export function createRollupProcessor(deps: RollupDeps) {
  return async (job: Job, token?: string): Promise<{ rows: number; runs: number }> => {
    const parsed = rollupJobSchema.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError(`invalid rollup job data: ${parsed.error.message}`);
    const { orgId, source, from, to, runId } = parsed.data;
    try {
      const result =
        source === 'costs' ? await rebuildCostRollups(deps.db, orgId, from, to) : await rebuildMetricRollups(deps.db, orgId, from, to);
      // After the rebuild committed (a retry rebuilds again, then marks): the run is published.
      if (runId !== undefined && (await markRunRolledUp(deps.db, runId))) result.runs += 1;
      await invalidateOrgCache(deps.redis, deps.prefix, orgId);
      // Budgets read the rollups just committed, and anomalies are scored on them; the job completes
      // only once both are queued.
      if (source === 'costs') {
        await enqueueBudgetEvaluation(deps.queues, orgId);
        await enqueueAnomalyDetection(deps.queues, { orgId, from, to });
      }
      return result;
    } catch (error) {
      return delayWhileDatabaseDown(job, token, error, deps.log);
    }
  };
}
