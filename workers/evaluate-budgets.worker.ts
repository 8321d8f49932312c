/**
 * Budget evaluation of one organization (after its rollups and forecast refreshes, or a budget
 * change): one statement fires the crossed thresholds' alerts (the database's unique key decides
 * "once"), creates their outbox rows and records restatements; the new deliveries are then handed
 * to the notifications queue (the outbox sweep covers a crash in between).
 */
import { UnrecoverableError, type Job } from 'bullmq';
import type { Pool } from '../lib/db.js';
import type { Logger } from '../lib/logger.js';
import type { Now } from '../lib/clock.js';
import { todayUtc } from '../lib/dates.js';
import { evaluateBudgetsJobSchema } from '../lib/jobs.js';
import { alertsFired } from '../lib/metrics.js';
import { evaluateBudgets, type EvaluationResult } from '../database/repositories/budgets.repository.js';
import { dispatchDeliveries } from '../producers/notifications.js';
import type { Queues } from '../producers/queues.js';
import { delayWhileDatabaseDown } from './fetch-job.js';

export interface EvaluateBudgetsDeps {
  db: Pool;
  queues: Pick<Queues, 'notifications'>;
  log: Logger;
  now: Now;
  /** NOTIFY_DEADLINE_SECONDS: how long the new deliveries are retried. */
  deadlineSeconds: number;
}

export function createEvaluateBudgetsProcessor(deps: EvaluateBudgetsDeps) {
  return async (job: Job, token?: string): Promise<EvaluationResult> => {
    const parsed = evaluateBudgetsJobSchema.safeParse(job.data);
    if (!parsed.success)
      throw new UnrecoverableError(`invalid evaluate-budgets job data: ${parsed.error.message}`);
    const { orgId } = parsed.data;
    try {
      const now = deps.now();
      const result = await evaluateBudgets(deps.db, {
        orgId,
        today: todayUtc(now),
        now,
        deadlineSeconds: deps.deadlineSeconds,
      });
      for (const alert of result.fired) alertsFired.inc({ kind: alert.kind });
      if (result.fired.length > 0)
        deps.log.info(
          { orgId, alerts: result.fired, deliveries: result.deliveryIds.length },
          'budget thresholds crossed',
        );
      await dispatchDeliveries(deps.queues, result.deliveryIds);
      return result;
    } catch (error) {
      return delayWhileDatabaseDown(job, token, error, deps.log);
    }
  };
}
