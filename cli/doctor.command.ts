/**
 * `costwatch doctor`: runs the troubleshooting guide's checks against this deployment and prints
 * each failure with its fix. Exit code 1 when a check fails (warnings do not fail).
 */
import type { Command } from 'commander';
import { formatResult, formatSummary, runDoctor } from './doctor/run.js';

function count(flag: string, min: number): (value: string) => number {
  return (value) => {
    if (!/^\d+$/.test(value) || Number(value) < min)
      throw new Error(`${flag}: must be a whole number >= ${min}, got ${JSON.stringify(value)}`);
    return Number(value);
  };
}

function collect(value: string, previous: string[]): string[] {
  try {
    const url = new URL(value);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http');
  } catch {
    throw new Error(
      `--metrics-url: must be an http(s) URL such as http://127.0.0.1:9464/metrics, got ${JSON.stringify(value)}`,
    );
  }
  return [...previous, value];
}

interface DoctorFlags {
  json?: boolean;
  skipAws?: boolean;
  org?: number;
  apiReplicas: number;
  workerReplicas: number;
  schedulerReplicas: number;
  metricsUrl: string[];
  timeout: number;
  maxFailed: number;
  maxWaiting: number;
}

export function registerDoctorCommand(program: Command): void {
  program
    .command('doctor')
    .description(
      'check this deployment: variables, Postgres (version, migrations, connection headroom), Redis (version, eviction, AOF), queues, AWS access per organization, metrics endpoint',
    )
    .option('--json', 'print a machine-readable report')
    .option('--skip-aws', 'do not call AWS (Cost Explorer bills $0.01 per request)')
    .option('--org <id>', 'check the AWS access of this organization only', count('--org', 1))
    .option('--api-replicas <n>', 'api replicas, for the connection headroom', count('--api-replicas', 0), 2)
    .option(
      '--worker-replicas <n>',
      'worker replicas (your autoscaler maximum), for the connection headroom',
      count('--worker-replicas', 0),
      4,
    )
    .option(
      '--scheduler-replicas <n>',
      'scheduler replicas, for the connection headroom',
      count('--scheduler-replicas', 0),
      2,
    )
    .option(
      '--metrics-url <url>',
      'metrics endpoint to scrape (repeatable; default http://127.0.0.1:$METRICS_PORT/metrics)',
      collect,
      [],
    )
    .option('--timeout <ms>', 'timeout of each network operation', count('--timeout', 100), 5000)
    .option('--max-failed <n>', 'warn when a queue keeps more failed jobs', count('--max-failed', 0), 100)
    .option('--max-waiting <n>', 'warn when a queue has more waiting jobs', count('--max-waiting', 0), 1000)
    .action(async (flags: DoctorFlags) => {
      const tty = process.stdout.isTTY === true;
      const report = await runDoctor({
        env: process.env,
        replicas: {
          api: flags.apiReplicas,
          worker: flags.workerReplicas,
          scheduler: flags.schedulerReplicas,
        },
        skipAws: flags.skipAws === true,
        orgId: flags.org,
        metricsUrls: flags.metricsUrl,
        timeoutMs: flags.timeout,
        maxFailedJobs: flags.maxFailed,
        maxWaitingJobs: flags.maxWaiting,
        ...(flags.json
          ? {}
          : { onResult: (result) => process.stdout.write(`${formatResult(result, tty)}\n`) }),
      });
      if (flags.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      else process.stdout.write(`\n${formatSummary(report)}\n`);
      // Exit explicitly: a half-open socket of a failed peer must not keep the doctor alive.
      await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
      process.exit(report.ok ? 0 : 1);
    });
}
