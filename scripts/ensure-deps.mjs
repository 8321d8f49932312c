// Installs the npm dependencies when node_modules is missing or older than package-lock.json, so
// that `npm test` and `npm run demo` work on a fresh clone as the first command.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export function ensureNpmDependencies() {
  const marker = path.join(root, 'node_modules', '.package-lock.json');
  const lock = path.join(root, 'package-lock.json');
  if (existsSync(marker) && statSync(marker).mtimeMs >= statSync(lock).mtimeMs) return;
  process.stderr.write('installing npm dependencies (npm ci)...\n');
  const result = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

/** Installs Debian packages providing `commands` when missing and we are root with apt-get. */
export function ensureAptTools(tools) {
  const missing = tools.filter(([command]) => spawnSync('sh', ['-c', `command -v ${command}`]).status !== 0);
  if (missing.length === 0) return;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isRoot || spawnSync('sh', ['-c', 'command -v apt-get']).status !== 0) {
    process.stderr.write(
      `note: ${missing.map(([c]) => c).join(', ')} not installed; the tests that need them will be skipped\n`,
    );
    return;
  }
  const packages = [...new Set(missing.map(([, pkg]) => pkg))];
  process.stderr.write(`installing ${packages.join(', ')} with apt-get...\n`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  const result = spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...packages], {
    stdio: 'inherit',
    env,
  });
  if (result.status !== 0)
    process.stderr.write(
      `note: apt-get install ${packages.join(' ')} failed; dependent tests will be skipped\n`,
    );
}

/** Runs `npm run stack:up` (scripts/stack.ts) and returns DATABASE_URL, REDIS_URL and JWT_SECRET_KEY. */
export function stackUp() {
  const result = spawnSync(
    process.execPath,
    ['--import', 'tsx', path.join(root, 'scripts', 'stack.ts'), 'up', '--json'],
    {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  if (result.status !== 0) process.exit(result.status ?? 1);
  return JSON.parse(result.stdout);
}

/** The environment of a child process using the provisioned stack (quiet logs unless LOG_LEVEL is set). */
export function stackEnv(stack, extra = {}) {
  return {
    ...process.env,
    DATABASE_URL: stack.DATABASE_URL,
    REDIS_URL: stack.REDIS_URL,
    JWT_SECRET_KEY: stack.JWT_SECRET_KEY,
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent',
    ...extra,
  };
}
