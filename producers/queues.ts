/** The BullMQ queues every producer uses, built once per process from the job contracts. */
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { defaultJobOptions, QUEUES, type QueueName } from '../lib/jobs.js';

export interface Queues {
  fetchCosts: Queue;
  fetchMetrics: Queue;
  fetchForecast: Queue;
  rollups: Queue;
  anomalies: Queue;
  scheduler: Queue;
  budgets: Queue;
  notifications: Queue;
  all: Queue[];
  byName(name: QueueName): Queue;
  close(): Promise<void>;
}

export interface QueueSettings {
  prefix: string;
  attempts: number;
  backoffMs: number;
}

export function createQueues(connection: Redis, settings: QueueSettings): Queues {
  const options = defaultJobOptions({ attempts: settings.attempts, backoffMs: settings.backoffMs });
  const make = (name: QueueName) =>
    new Queue(name, { connection, prefix: settings.prefix, defaultJobOptions: options[name] });
  const fetchCosts = make(QUEUES.fetchCosts);
  const fetchMetrics = make(QUEUES.fetchMetrics);
  const fetchForecast = make(QUEUES.fetchForecast);
  const rollups = make(QUEUES.rollups);
  const anomalies = make(QUEUES.anomalies);
  const scheduler = make(QUEUES.scheduler);
  const budgets = make(QUEUES.budgets);
  const notifications = make(QUEUES.notifications);
  const all = [fetchCosts, fetchMetrics, fetchForecast, rollups, anomalies, scheduler, budgets, notifications];
  return {
    fetchCosts,
    fetchMetrics,
    fetchForecast,
    rollups,
    anomalies,
    scheduler,
    budgets,
    notifications,
    all,
    byName(name) {
      const queue = all.find((q) => q.name === name);
      if (!queue) throw new Error(`unknown queue ${name}`);
      return queue;
    },
    async close() {
      await Promise.all(all.map((q) => q.close()));
    },
  };
}

/**
 * The work a queue holds: `pending` (waiting, prioritized, waiting for children, or delayed) and
 * `active` jobs. The next run of each Job Scheduler (the refresh tick, the outbox sweep) is always
 * delayed and is not work, so it is left out: a queue with only that is idle.
 */
export async function queueWork(queue: Queue): Promise<{ pending: number; active: number }> {
  const c = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'waiting-children');
  const schedulers = (c.delayed ?? 0) > 0 ? await queue.getJobSchedulersCount() : 0;
  const delayed = Math.max(0, (c.delayed ?? 0) - schedulers);
  return {
    pending: (c.waiting ?? 0) + delayed + (c.prioritized ?? 0) + (c['waiting-children'] ?? 0),
    active: c.active ?? 0,
  };
}
