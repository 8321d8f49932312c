/**
 * Queue health, per BullMQ queue: stuck jobs (active longer than the lock duration with no lock:
 * their worker died and nothing took them over), failed jobs piling up, a large waiting backlog,
 * and whether a worker serves a queue that has work.
 */
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { ALL_QUEUES, QUEUES, REFRESH_SCHEDULER_ID, type QueueName } from '../../lib/jobs.js';
import { describeError, fail, K8S, pass, REDIS_CLI, warn, type CheckResult } from './check.js';

const NS = `-n ${K8S.namespace}`;

export interface QueueThresholds {
  /** JOB_LOCK_SECONDS x 1000. */
  lockMs: number;
  /** Failed jobs kept in a queue above which the doctor warns. */
  maxFailed: number;
  /** Waiting (and prioritized) jobs above which the doctor warns (the QueueBacklog alert uses 1000). */
  maxWaiting: number;
}

const BOARD = `Bull Board: kubectl ${NS} port-forward svc/api-gateway-service 8002:8002, then http://127.0.0.1:8002/admin/queues (operator login)`;

/** Worker connections of `queue` (null: CLIENT LIST is disabled, as on some managed Redis). */
export async function workerConnections(queue: Queue): Promise<number | null> {
  try {
    return await queue.getWorkersCount();
  } catch {
    return null; // not a problem of the deployment
  }
}

/**
 * The problem of a queue that has `pending` jobs (waiting, prioritized or delayed) while no
 * process consumes it under `prefix`, or null. The doctor's queue check and `costwatch backfill
 * --wait` both report it.
 */
export function noConsumer(
  name: QueueName,
  prefix: string,
  pending: number,
  workers: number | null,
): { detail: string; fix: string } | null {
  if (workers !== 0 || pending === 0) return null;
  const role = name === QUEUES.scheduler ? 'scheduler' : 'worker';
  return {
    detail: `no ${role} is connected to this queue under prefix ${prefix}`,
    fix: [
      `start one with the same REDIS_URL and QUEUE_PREFIX (${prefix}): costwatch ${role}`,
      `kubectl ${NS} get deploy ${role}; kubectl ${NS} logs deploy/${role} --tail=100; check QUEUE_PREFIX is the same in every role (${K8S.configmap})`,
    ].join('\n'),
  };
}

/** One result per queue under `prefix`. */
export async function checkQueues(
  redis: Redis,
  prefix: string,
  thresholds: QueueThresholds,
): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const name of ALL_QUEUES) {
    const queue = new Queue(name, { connection: redis, prefix });
    const check = `queue ${name}`;
    try {
      const counts = await queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'failed');
      const waiting = (counts.waiting ?? 0) + (counts.prioritized ?? 0);
      const summary = `${waiting} waiting, ${counts.active ?? 0} active, ${counts.delayed ?? 0} delayed, ${counts.failed ?? 0} failed`;
      const problems: CheckResult[] = [];

      const now = Date.now();
      const active = await queue.getActive(0, 199);
      const stuck: string[] = [];
      let oldestActiveMs = 0;
      for (const job of active) {
        const age = now - (job.processedOn ?? job.timestamp);
        oldestActiveMs = Math.max(oldestActiveMs, age);
        if (age <= thresholds.lockMs || job.id === undefined) continue;
        // A running job's worker renews its lock; an active job without one was abandoned.
        const locked = await redis.exists(`${queue.toKey(job.id)}:lock`);
        if (locked === 0) stuck.push(`${job.id} (${Math.round(age / 1000)} s)`);
      }
      if (stuck.length > 0) {
        problems.push(
          fail(
            check,
            `${summary}; ${stuck.length} stuck: active longer than the ${thresholds.lockMs / 1000} s lock with no lock held: ${stuck.slice(0, 5).join(', ')}${stuck.length > 5 ? ', ...' : ''}`,
            [
              `a worker died mid-job and no worker is running to take it back (stalled-job check); start or restart workers:`,
              `kubectl ${NS} get pods -l app=worker; kubectl ${NS} rollout restart deployment/worker   (compose: docker compose up -d worker)`,
              `the stalled check moves them back to waiting within JOB_LOCK_SECONDS; ${BOARD}`,
            ].join('\n'),
          ),
        );
      }

      const workers = await workerConnections(queue);
      const served = workers === null ? '' : `; ${workers} worker connection(s)`;
      const unserved = noConsumer(name, prefix, waiting + (counts.delayed ?? 0), workers);
      if (unserved) problems.push(warn(check, `${summary}; ${unserved.detail}`, unserved.fix));
      if ((counts.failed ?? 0) > thresholds.maxFailed) {
        problems.push(
          warn(
            check,
            `${summary}: more than ${thresholds.maxFailed} failed jobs kept (failed jobs are kept 7 days)`,
            [
              `read the errors: ${BOARD}, or GET /api/v1/ingestion/runs; permission errors show in the aws checks of this doctor`,
              `after fixing the cause, re-run the windows: costwatch backfill --org ID --from YYYY-MM-DD --to YYYY-MM-DD`,
            ].join('\n'),
          ),
        );
      }
      if (waiting > thresholds.maxWaiting) {
        problems.push(
          warn(
            check,
            `${summary}: backlog above ${thresholds.maxWaiting}`,
            [
              `are workers completing jobs? kubectl ${NS} logs deploy/worker --tail=100; costwatch_jobs_total on /metrics`,
              `scale out: kubectl ${NS} scale deployment worker --replicas=N (with KEDA/HPA: raise maxReplicaCount; kubectl ${NS} describe scaledobject worker)`,
              `if AWS throttles (costwatch_aws_throttles_total), more workers do not help: lower CE_RATE_PER_ORG / CW_RATE_PER_ORG`,
            ].join('\n'),
          ),
        );
      }
      if (name === QUEUES.scheduler) {
        const schedulers = await queue.getJobSchedulers(0, 50);
        if (!schedulers.some((s) => s.key === REFRESH_SCHEDULER_ID || s.id === REFRESH_SCHEDULER_ID)) {
          problems.push(
            warn(
              check,
              `${summary}; no refresh schedule (${REFRESH_SCHEDULER_ID}) under prefix ${prefix}: no scheduler has started, refreshes are not scheduled`,
              `start it: kubectl ${NS} get deploy scheduler; kubectl ${NS} logs deploy/scheduler --tail=100   (compose: docker compose up -d scheduler)`,
            ),
          );
        }
      }
      if (problems.length > 0) results.push(...problems);
      else
        results.push(
          pass(
            check,
            `${summary}${oldestActiveMs > 0 ? `; oldest active ${Math.round(oldestActiveMs / 1000)} s` : ''}${served}`,
          ),
        );
    } catch (error) {
      results.push(
        fail(
          check,
          `cannot read the queue: ${describeError(error)}`,
          `${REDIS_CLI} ping; see the redis check`,
        ),
      );
    } finally {
      await queue.close().catch(() => undefined);
    }
  }
  return results;
}
