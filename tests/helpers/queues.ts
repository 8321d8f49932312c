import type { Queues } from '../../producers/queues.js';

/** Teardown of a test's or benchmark's own queue prefix: every queue's keys removed, then closed. */
export async function discardQueues(queues: Queues): Promise<void> {
  await Promise.all(queues.all.map((q) => q.obliterate({ force: true }).catch(() => undefined)));
  await queues.close();
}
