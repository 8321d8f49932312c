/** `costwatch worker` and `costwatch scheduler`: the long-running pipeline roles. */
import type { Command } from 'commander';
import { asServiceConfig, loadConfig } from '../lib/config.js';
import { createLogger } from '../lib/logger.js';
import { onShutdown } from '../lib/shutdown.js';
import { startWorkers, WORKER_QUEUES, type WorkerQueue } from '../workers/main.js';
import { startScheduler } from '../producers/scheduler.js';

function parseQueues(value: string): WorkerQueue[] {
  const names = value.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = names.filter((n) => !(WORKER_QUEUES as readonly string[]).includes(n));
  if (unknown.length > 0 || names.length === 0) {
    throw new Error(`--queues: unknown queue ${unknown.join(', ') || '(none)'}; choose from ${WORKER_QUEUES.join(', ')}`);
  }
  return names as WorkerQueue[];
}

export function registerRoleCommands(program: Command): void {
  program
    .command('worker')
    .description('run fetch and rollup workers (serves /health, /ready, /metrics on METRICS_PORT)')
    .option('--queues <names>', `comma-separated queues to serve (default: ${WORKER_QUEUES.join(',')})`)
    .action(async (options: { queues?: string }) => {
      const queues = options.queues ? parseQueues(options.queues) : undefined;
      const config = asServiceConfig(loadConfig('worker'));
      const log = createLogger({ level: config.LOG_LEVEL, name: 'worker' });
      const running = await startWorkers(config, { log, ...(queues ? { queues } : {}) });
      onShutdown(log, () => running.stop());
    });
  program
    .command('scheduler')
    .description('run the refresh scheduler (BullMQ Job Scheduler on REFRESH_CRON; safe with several replicas)')
    .action(async () => {
      const config = asServiceConfig(loadConfig('scheduler'));
      const log = createLogger({ level: config.LOG_LEVEL, name: 'scheduler' });
      const running = await startScheduler(config, { log });
      onShutdown(log, () => running.stop());
    });
}
