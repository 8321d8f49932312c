/**
 * The container image, built the way the Dockerfile builds it, without a Docker engine: the build
 * context is this tree less what `.dockerignore` drops (matched by @balena/dockerignore, a port of
 * Docker's own matcher), then the build stage's steps in a scratch folder (`npm ci`, `npm run
 * build`, the non-TypeScript files copied into dist/ for the folders the Dockerfile names, `npm
 * prune --omit=dev`), then the runtime stage's COPY lines, and the image's commands run from that
 * runtime folder: `--help` (which loads every command module) and `migrate status` against a test
 * database. A production module importing tests/, scripts/ or a dev dependency fails here.
 */
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import dockerignore from '@balena/dockerignore';
import { PROJECT_ROOT } from '../lib/paths.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';

// The package is CommonJS (`module.exports = factory`) while its typings declare `export default`:
// under NodeNext the default import is the factory itself.
const ignore = dockerignore as unknown as typeof dockerignore.default;

const dockerfile = readFileSync(path.join(PROJECT_ROOT, 'Dockerfile'), 'utf8');
const ignoreLines = readFileSync(path.join(PROJECT_ROOT, '.dockerignore'), 'utf8').split('\n');

/** The files of the build context (relative paths), as `docker build .` would send them. */
function buildContext(): string[] {
  const matcher = ignore().add(ignoreLines);
  const exceptions = ignoreLines
    .map((l) => l.trim())
    .filter((l) => l.startsWith('!'))
    .map((l) => l.slice(1));
  // A folder the patterns drop is not walked, unless an exception could re-include something in it.
  const mayReinclude = (dir: string) => exceptions.some((e) => e.includes('**') || e.startsWith(`${dir}/`));
  const files: string[] = [];
  const walk = (rel: string) => {
    for (const entry of readdirSync(path.join(PROJECT_ROOT, rel), { withFileTypes: true })) {
      const child = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        if (!matcher.ignores(child) || mayReinclude(child)) walk(child);
      } else if ((entry.isFile() || entry.isSymbolicLink()) && !matcher.ignores(child)) {
        files.push(child);
      }
    }
  };
  walk('');
  return files;
}

/** The folders whose non-TypeScript files the build stage copies into dist/ (its `for dir in ...` loop). */
function nonTsFolders(): string[] {
  const loop = /for dir in ([^;]+); do/.exec(dockerfile);
  assert.ok(loop?.[1], 'the Dockerfile build stage has no `for dir in ...; do` loop copying non-TS files');
  return loop[1].trim().split(/\s+/);
}

/** The runtime stage's `COPY --from=build /app/<src> <dest>` lines. */
function runtimeCopies(): Array<{ from: string; to: string[] }> {
  const copies = [...dockerfile.matchAll(/^COPY --from=build (.+)$/gm)].map((m) => {
    const words = (m[1] ?? '').trim().split(/\s+/);
    const dest = words.pop() ?? '';
    return { sources: words.map((w) => w.replace(/^\/app\/?/, '')), dest: dest.replace(/^\.\/?/, '') };
  });
  assert.ok(copies.length > 0, 'the Dockerfile has no COPY --from=build lines');
  return copies.flatMap(({ sources, dest }) =>
    sources.map((from) => ({ from, to: dest === '' ? [path.basename(from)] : dest.split('/') })),
  );
}

function sh(
  cmd: string,
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv = process.env,
): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, {
    cwd,
    env,
    encoding: 'utf8',
    timeout: 8 * 60_000,
    maxBuffer: 64 * 1024 * 1024,
  });
}

function mustRun(cmd: string, args: string[], cwd: string): void {
  const result = sh(cmd, args, cwd);
  assert.equal(
    result.status,
    0,
    `${cmd} ${args.join(' ')} failed (exit ${result.status}):\n${result.stdout}\n${result.stderr}`,
  );
}

describe('the container image builds from its .dockerignore’d context', { timeout: 15 * 60_000 }, () => {
  let scratch: string;
  let build: string;
  let runtime: string;
  let db: TestDatabase;
  let built = false;

  before(async () => {
    scratch = mkdtempSync(path.join(os.tmpdir(), 'cw-image-'));
    build = path.join(scratch, 'build');
    runtime = path.join(scratch, 'runtime');
    db = await createTestDatabase();
  });
  after(async () => {
    rmSync(scratch, { recursive: true, force: true });
    await db.drop();
  });

  test('the context leaves out what .dockerignore drops', () => {
    const files = buildContext();
    assert.ok(
      files.includes('package-lock.json') && files.includes('cli/main.ts'),
      'the sources are in the context',
    );
    for (const dropped of ['tests/', 'scripts/', 'node_modules/', '.git/', 'docs/', 'k8s/']) {
      assert.ok(!files.some((f) => f.startsWith(dropped)), `${dropped} is not in the context`);
    }
    assert.ok(!files.some((f) => f.endsWith('.test.ts')), 'no test file is in the context');
  });

  test('build stage: npm ci, npm run build, non-TS files into dist/, npm prune --omit=dev', () => {
    for (const file of buildContext()) {
      mkdirSync(path.dirname(path.join(build, file)), { recursive: true });
      copyFileSync(path.join(PROJECT_ROOT, file), path.join(build, file));
    }
    mustRun('npm', ['ci', '--prefer-offline', '--no-audit', '--no-fund'], build);
    mustRun('npm', ['run', 'build'], build);
    for (const dir of nonTsFolders()) {
      if (!existsSync(path.join(build, dir))) continue;
      mustRun('sh', ['-c', `find "${dir}" -type f ! -name '*.ts' -exec cp --parents {} dist/ \\;`], build);
    }
    assert.ok(existsSync(path.join(build, 'dist', 'cli', 'main.js')), 'dist/cli/main.js was built');
    mustRun('npm', ['prune', '--omit=dev', '--no-audit', '--no-fund'], build);
    built = true;
  });

  test('runtime stage: only the copied files, and the image commands run', () => {
    assert.ok(built, 'the build stage succeeded');
    for (const { from, to } of runtimeCopies()) {
      const target = path.join(runtime, ...to);
      mkdirSync(path.dirname(target), { recursive: true });
      // The build folder is not used after this, so its files move (fast) instead of being copied.
      renameSync(path.join(build, from), target);
    }
    const env = {
      PATH: process.env.PATH ?? '',
      HOME: scratch,
      NODE_ENV: 'production',
      DATABASE_URL: db.url,
      LOG_LEVEL: 'silent',
    };
    const help = sh(process.execPath, ['dist/cli/main.js', '--help'], runtime, env);
    assert.equal(help.status, 0, `--help failed:\n${help.stdout}\n${help.stderr}`);
    for (const command of [
      'api',
      'worker',
      'scheduler',
      'sim',
      'migrate',
      'org',
      'user',
      'backfill',
      'doctor',
    ]) {
      assert.match(help.stdout, new RegExp(`^\\s+${command}\\b`, 'm'), `--help lists ${command}`);
    }

    // The image's ENTRYPOINT (bin/costwatch.mjs) runs dist/ when the sources are absent.
    const migrations = readdirSync(path.join(PROJECT_ROOT, 'database', 'migrations'))
      .filter((f) => f.endsWith('.up.sql'))
      .map((f) => f.replace(/\.up\.sql$/, ''))
      .sort();
    for (const entry of [['dist/cli/main.js'], ['bin/costwatch.mjs']]) {
      const status = sh(process.execPath, [...entry, 'migrate', 'status'], runtime, env);
      assert.equal(
        status.status,
        0,
        `${entry.join(' ')} migrate status failed:\n${status.stdout}\n${status.stderr}`,
      );
      const listed = status.stdout.trim().split('\n');
      assert.deepEqual(
        listed.map((line) => line.split(/\s+/)[0]),
        migrations,
        `migrate status lists every migration:\n${status.stdout}`,
      );
      assert.ok(
        listed.every((line) => /\sapplied\s/.test(line)),
        `every migration is applied:\n${status.stdout}`,
      );
    }
  });
});
