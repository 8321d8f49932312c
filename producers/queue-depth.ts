/** Queue depth per state for costwatch_queue_jobs, read from BullMQ at scrape time. */
import type { Queue } from 'bullmq';
import { setQueueDepthSampler } from '../lib/metrics.js';

const STATES = ['waiting', 'active', 'delayed', 'failed', 'completed', 'prioritized'] as const;

export function observeQueueDepth(queues: Queue[]): void {
  setQueueDepthSampler(async () => {
    const all = await Promise.all(
      queues.map(async (queue) => {
        const counts = await queue.getJobCounts(...STATES);
        return STATES.map((state) => ({ queue: queue.name, state, count: counts[state] ?? 0 }));
      }),
    );
    return all.flat();
  });
}
