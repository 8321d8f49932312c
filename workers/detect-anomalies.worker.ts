/** detect-anomalies: score one organization's series over the days a cost rollup rebuilt. */
import { UnrecoverableError, type Job } from 'bullmq';
import type { Pool } from '../lib/db.js';
import type { Now } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import { detectAnomaliesJobSchema } from '../lib/jobs.js';
import { delayWhileDatabaseDown } from './fetch-job.js';
import { detectOrgAnomalies, type DetectionResult } from './anomaly-detection.js';
import { dispatchDeliveries } from '../producers/notifications.js';
import type { Queues } from '../producers/queues.js';

export interface DetectAnomaliesDeps {
  db: Pool;
  log: Logger;
  now: Now;
  queues: Pick<Queues, 'notifications'>;
}

export function createDetectAnomaliesProcessor(deps: DetectAnomaliesDeps) {
  return async (job: Job, token?: string): Promise<DetectionResult> => {
    const parsed = detectAnomaliesJobSchema.safeParse(job.data);
    if (!parsed.success)
      throw new UnrecoverableError(`invalid detect-anomalies job data: ${parsed.error.message}`);
    try {
      const result = await detectOrgAnomalies(deps.db, { ...parsed.data, now: deps.now() });
      // Committed: hand the new anomaly alerts to the notifications queue.
      await dispatchDeliveries(deps.queues, result.deliveryIds);
      if (result.inserted + result.withdrawn > 0)
        deps.log.info({ orgId: parsed.data.orgId, ...result }, 'anomalies changed');
      return result;
    } catch (error) {
      return delayWhileDatabaseDown(job, token, error, deps.log);
    }
  };
}
