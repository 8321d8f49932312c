/**
 * The AWS simulator in its own process for the pipeline benchmark, so its CPU time is measured
 * apart from the workers'. Started with `fork` (IPC): sends `{ url }` once listening, then answers
 * `{ type: 'stats' }` with the request counts and its own CPU time, and `{ type: 'reset' }`.
 * Simulator options come as JSON in the first argument.
 */
import { startSimulator, type SimOptions } from '../sim/server.js';

export interface SimStats {
  cpuMs: number;
  total: number;
  /** Requests per operation (`ce:GetCostAndUsage`), summed over accounts. */
  byOperation: Record<string, number>;
  /** Requests per account and operation. */
  byAccount: Record<string, Record<string, number>>;
  throttled: number;
  errors: number;
}

export type SimMessage =
  { type: 'stats' } | { type: 'reset' } | { type: 'options'; options: Partial<SimOptions> };

const options = JSON.parse(process.argv[2] ?? '{}') as Partial<SimOptions>;
const sim = await startSimulator({ port: 0, ...options });
let cpuBase = process.cpuUsage();

function stats(): SimStats {
  const counts = sim.control.requestCounts();
  const byOperation: Record<string, number> = {};
  for (const ops of Object.values(counts.byAccount))
    for (const [op, n] of Object.entries(ops)) byOperation[op] = (byOperation[op] ?? 0) + n;
  const sum = (t: Record<string, Record<string, number>>) =>
    Object.values(t).reduce((a, ops) => a + Object.values(ops).reduce((b, n) => b + n, 0), 0);
  const cpu = process.cpuUsage(cpuBase);
  return {
    cpuMs: (cpu.user + cpu.system) / 1000,
    total: counts.total,
    byOperation,
    byAccount: counts.byAccount,
    throttled: sum(counts.throttled),
    errors: sum(counts.errors),
  };
}

process.on('message', (message: SimMessage) => {
  if (message.type === 'stats') process.send?.({ type: 'stats', stats: stats() });
  else if (message.type === 'reset') {
    sim.control.resetCounts();
    cpuBase = process.cpuUsage();
    process.send?.({ type: 'reset' });
  } else if (message.type === 'options') {
    sim.control.setOptions(message.options);
    process.send?.({ type: 'options' });
  }
});
process.on('disconnect', () => {
  void sim.close().finally(() => process.exit(0));
});
process.send?.({ type: 'ready', url: sim.url });
