// `npm run test:chaos [-- --quick] [-- --only kill9,redis]`: the chaos suite (tests/chaos/). It
// provisions its own Postgres and Redis under .costwatch/chaos/ (other ports than the shared test
// instances, since it restarts them), runs the scenarios, prints the figures table and, in full
// mode, writes it to docs/RELIABILITY.md. Exit code 1 when a scenario fails.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { ensureNpmDependencies, root } from './ensure-deps.mjs';

ensureNpmDependencies();
const result = spawnSync(process.execPath, ['--import', 'tsx', path.join(root, 'tests', 'chaos', 'run.ts'), ...process.argv.slice(2)], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent' },
});
process.exit(result.status ?? 1);
