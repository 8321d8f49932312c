// `npm run stack:up` / `npm run stack:down` (a development tool, not a `costwatch` command: the
// image never provisions databases): starts (or finds) the local Postgres and Redis of the demo,
// the tests and the benchmarks (scripts/local-stack.ts) and prints their settings as KEY=value
// lines (`--json`: one JSON object), or stops what `up` started (data is kept in .costwatch/).
import { stackDown, stackUp } from './local-stack.js';

const [action, ...flags] = process.argv.slice(2);
if (action === 'up') {
  const info = await stackUp({
    databaseUrl: process.env.DATABASE_URL || undefined,
    redisUrl: process.env.REDIS_URL || undefined,
  });
  if (flags.includes('--json')) process.stdout.write(`${JSON.stringify(info)}\n`);
  else
    process.stdout.write(
      `DATABASE_URL=${info.DATABASE_URL}\nREDIS_URL=${info.REDIS_URL}\nJWT_SECRET_KEY=${info.JWT_SECRET_KEY}\n`,
    );
} else if (action === 'down') {
  await stackDown();
} else {
  process.stderr.write(
    'usage: node --import tsx scripts/stack.ts up [--json] | down   (npm run stack:up, npm run stack:down)\n',
  );
  process.exit(2);
}
