/** `costwatch api`: the HTTP API role (api-gateway), REST, probes, metrics and Bull Board. */
import type { Command } from 'commander';
import { loadConfig } from '../lib/config.js';

export function registerApiCommand(program: Command): void {
  program
    .command('api')
    .description(
      'serve the REST API, /health, /ready, /metrics and Bull Board on HOST:PORT (default 0.0.0.0:8002)',
    )
    .action(async () => {
      const config = loadConfig('api');
      const { startApi } = await import('../api/main.js');
      await startApi(config);
    });
}
