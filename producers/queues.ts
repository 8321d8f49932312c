/** The BullMQ queues every producer uses, built once per process from the job contracts. */
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { defaultJobOptions, QUEUES, type QueueName } from '../lib/jobs.js';

export interface Queues {
  fetchCosts: Queue;
  fetchMetrics: Queue;
  rollups: Queue;
  anomalies: Queue;
  scheduler: Queue;
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
  const rollups = make(QUEUES.rollups);
  const anomalies = make(QUEUES.anomalies);
  const scheduler = make(QUEUES.scheduler);
  const all = [fetchCosts, fetchMetrics, rollups, anomalies, scheduler];
  return {
    fetchCosts,
    fetchMetrics,
    rollups,
    anomalies,
    scheduler,
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
