// `npm run bench`: installs the npm dependencies when needed, starts Postgres and Redis
// (`npm run stack:up`), then runs every bench/*.bench.ts one after the other (never in parallel:
// they measure the machine). Arguments: words filter the files (`npm run bench -- load`), flags
// are passed to each benchmark (`npm run bench -- --quick`, `npm run bench -- load --rows=1000000`).
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { ensureNpmDependencies, root, stackUp, stackEnv } from './ensure-deps.mjs';

ensureNpmDependencies();
const stack = stackUp();

const argv = process.argv.slice(2);
const filters = argv.filter((a) => !a.startsWith('-'));
const flags = argv.filter((a) => a.startsWith('-'));
const benchDir = path.join(root, 'bench');
const files = readdirSync(benchDir)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
if (files.length === 0) {
  process.stderr.write(
    `no benchmark matches ${filters.join(' ')} (have: ${readdirSync(benchDir)
      .filter((f) => f.endsWith('.bench.ts'))
      .join(', ')})\n`,
  );
  process.exit(1);
}

let failed = 0;
const started = Date.now();
for (const file of files) {
  process.stdout.write(`\n## ${file}${flags.length ? ` ${flags.join(' ')}` : ''}\n`);
  const t0 = Date.now();
  const result = spawnSync(process.execPath, ['--import', 'tsx', path.join('bench', file), ...flags], {
    cwd: root,
    stdio: 'inherit',
    env: stackEnv(stack, { NODE_ENV: 'production' }),
  });
  process.stdout.write(`(${file}: ${((Date.now() - t0) / 1000).toFixed(0)} s, exit ${result.status})\n`);
  if (result.status !== 0) failed++;
}
process.stdout.write(
  `\n${files.length} benchmark file(s) in ${((Date.now() - started) / 1000).toFixed(0)} s; ${failed} failed\n`,
);
process.exit(failed > 0 ? 1 : 0);
