// `npm test`: installs what the suite needs (npm packages; Postgres, Redis, promtool and Chromium
// from Debian when missing and root), starts Postgres and Redis (`npm run stack:up`), then runs
// every *.test.ts with Node's test runner. Arguments filter the files: `npm test -- sim api`.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { ensureAptTools, ensureNpmDependencies, root, stackEnv, stackUp } from './ensure-deps.mjs';

ensureNpmDependencies();
ensureAptTools([
  ['promtool', 'prometheus'],
  ['chromium', 'chromium'],
]);
const stack = stackUp();

function findTests(dir) {
  const found = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name.startsWith('.') || entry.name === 'dist') continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) found.push(...findTests(full));
    else if (entry.name.endsWith('.test.ts')) found.push(path.relative(root, full));
  }
  return found;
}

const filters = process.argv.slice(2);
const files = findTests(root)
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
if (files.length === 0) {
  process.stderr.write(`no test files match ${filters.join(' ')}\n`);
  process.exit(1);
}

const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-concurrency=4', ...files],
  {
    cwd: root,
    stdio: 'inherit',
    env: stackEnv(stack, { NODE_ENV: 'test' }),
  },
);
process.exit(result.status ?? 1);
