/** `costwatch stack up|down|env`: the local Postgres and Redis of the demo and the tests. */
import type { Command } from 'commander';
import { parseConfig } from '../lib/config.js';
import { stackDown, stackUp } from '../lib/stack.js';

export function registerStackCommand(program: Command): void {
  const stack = program.command('stack').description('provision, reuse or stop the local Postgres and Redis (.costwatch/)');
  stack
    .command('up')
    .description('start (or find) Postgres and Redis and print their settings as KEY=value lines')
    .option('--json', 'print JSON instead')
    .action(async (options: { json?: boolean }) => {
      const config = parseConfig('doctor', process.env);
      const info = await stackUp({ databaseUrl: config.DATABASE_URL, redisUrl: config.REDIS_URL });
      if (options.json) process.stdout.write(`${JSON.stringify(info)}\n`);
      else process.stdout.write(`DATABASE_URL=${info.DATABASE_URL}\nREDIS_URL=${info.REDIS_URL}\nJWT_SECRET_KEY=${info.JWT_SECRET_KEY}\n`);
    });
  stack
    .command('down')
    .description('stop the Postgres and Redis that `stack up` started (data is kept in .costwatch/)')
    .action(async () => stackDown());
}
