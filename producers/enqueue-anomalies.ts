/** Enqueues anomaly detection of the days a cost rollup rebuilt (deduplicated per org and range). */
import {
  detectAnomaliesDedupeId,
  detectAnomaliesJobSchema,
  JOB_NAMES,
  type DetectAnomaliesJobData,
} from '../lib/jobs.js';
import type { Queues } from './queues.js';

export async function enqueueAnomalyDetection(queues: Queues, data: DetectAnomaliesJobData): Promise<void> {
  const parsed = detectAnomaliesJobSchema.parse(data);
  await queues.anomalies.add(JOB_NAMES.detectAnomalies, parsed, {
    // A detection already running keeps one more queued behind it: it may have read before the
    // latest rollup committed.
    deduplication: { id: detectAnomaliesDedupeId(parsed), keepLastIfActive: true },
  });
}
