/**
 * The scheduler's tick: for every active organization, enqueue a cost fetch and a metrics fetch of
 * the windows that can still change. Deduplicated, so several scheduler replicas (or a tick that
 * overlaps a slow previous one) never queue a window twice.
 */
import type { Job } from 'bullmq';
import type { Pool } from '../lib/db.js';
import type { Logger } from '../lib/logger.js';
import type { Now } from '../lib/clock.js';
import { todayUtc } from '../lib/dates.js';
import { listActiveOrganizationsAfter } from '../database/repositories/organizations.repository.js';
import { costRefreshWindow, enqueueFetches, metricsRefreshWindow, type RefreshSettings } from './enqueue.js';
import type { Queues } from './queues.js';

export interface RefreshTickDeps {
  db: Pool;
  queues: Queues;
  log: Logger;
  settings: RefreshSettings;
  /** The process clock: the tick's today is the UTC day it reads. */
  now: Now;
}

/** Enqueues the due fetches of every active organization; returns how many organizations. */
export async function enqueueDueFetches(deps: RefreshTickDeps): Promise<number> {
  const today = todayUtc(deps.now());
  let after = 0;
  let total = 0;
  for (;;) {
    const orgs = await listActiveOrganizationsAfter(deps.db, after, 2000);
    if (orgs.length === 0) break;
    const metricsWindow = metricsRefreshWindow(today, deps.settings);
    await enqueueFetches(
      deps.queues,
      'costs',
      orgs.map((org) => ({
        orgId: org.id,
        ...costRefreshWindow(today, deps.settings, org.estimatedFrom),
        trigger: 'scheduled' as const,
      })),
    );
    await enqueueFetches(
      deps.queues,
      'metrics',
      orgs.map((org) => ({ orgId: org.id, ...metricsWindow, trigger: 'scheduled' as const })),
    );
    total += orgs.length;
    after = orgs[orgs.length - 1]?.id ?? after;
  }
  return total;
}

export function createRefreshTickProcessor(deps: RefreshTickDeps) {
  return async (job: Job): Promise<{ organizations: number }> => {
    const organizations = await enqueueDueFetches(deps);
    deps.log.info({ jobId: job.id, organizations }, 'scheduled refresh enqueued');
    return { organizations };
  };
}
