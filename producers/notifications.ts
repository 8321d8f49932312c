/**
 * Enqueue functions of budgets and notifications: an organization's budget evaluation
 * (deduplicated per org) and the delivery jobs of outbox rows (one per row while in flight).
 */
import {
  deliverNotificationJobSchema,
  deliveryDedupeId,
  evaluateBudgetsDedupeId,
  evaluateBudgetsJobSchema,
  JOB_NAMES,
} from '../lib/jobs.js';
import type { Queues } from './queues.js';

/**
 * Asks for an evaluation of the organization's budgets: after a rollup, a forecast refresh, or a
 * budget change. While one waits, another request adds nothing; one asked while one runs runs once
 * after it, so the latest rollups are always evaluated.
 */
export async function enqueueBudgetEvaluation(queues: Pick<Queues, 'budgets'>, orgId: number): Promise<void> {
  const data = evaluateBudgetsJobSchema.parse({ orgId });
  await queues.budgets.add(JOB_NAMES.evaluateBudgets, data, {
    deduplication: { id: evaluateBudgetsDedupeId(data), keepLastIfActive: true },
  });
}

/** Hands outbox rows to the notifications queue (call after the transaction that created them commits). */
export async function dispatchDeliveries(
  queues: Pick<Queues, 'notifications'>,
  deliveryIds: string[],
): Promise<void> {
  for (let i = 0; i < deliveryIds.length; i += 1000) {
    await queues.notifications.addBulk(
      deliveryIds.slice(i, i + 1000).map((deliveryId) => {
        const data = deliverNotificationJobSchema.parse({ deliveryId });
        return {
          name: JOB_NAMES.deliverNotification,
          data,
          opts: { deduplication: { id: deliveryDedupeId(data) } },
        };
      }),
    );
  }
}
