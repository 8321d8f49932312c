/**
 * The redis-cli recipes of docs/TROUBLESHOOTING.md and of the doctor's fixes, run with the real
 * redis-cli against the test Redis, whose REDIS_URL has the `redis://:password@host` form that
 * redis-cli 7 rejects with WRONGPASS when given as is. Commands that change Redis (CONFIG SET,
 * DEL) run as the matching read (CONFIG GET) so the shared Redis is left as it is.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { REDIS_CLI } from '../cli/doctor/check.js';
import { PROJECT_ROOT } from '../lib/paths.js';

const REDIS_URL = process.env.REDIS_URL ?? '';
const haveRedisCli = spawnSync('sh', ['-c', 'command -v redis-cli']).status === 0;
const skip = haveRedisCli ? false : 'redis-cli is not installed';

function sh(script: string): { code: number | null; out: string } {
  const result = spawnSync('sh', ['-c', script], {
    env: { PATH: process.env.PATH ?? '', REDIS_URL, QUEUE_PREFIX: 'costwatch' },
    encoding: 'utf8',
    timeout: 20_000,
  });
  return { code: result.status, out: `${result.stdout}${result.stderr}` };
}

/** As a recipe runs here: writes become reads. */
function readOnly(command: string): string {
  return command.replace(/CONFIG SET (\S+) \S+/, 'CONFIG GET $1');
}

test(
  'the test Redis has a password in the redis://:password@host form (what these recipes must handle)',
  { skip: skip || (/^rediss?:\/\/:[^@]+@/.test(REDIS_URL) ? false : 'the test Redis has no password') },
  () => {
    const asIs = sh('redis-cli -u "$REDIS_URL" --no-auth-warning ping');
    assert.match(asIs.out, /WRONGPASS|NOAUTH/, `redis-cli 7 refuses that form as is: ${asIs.out}`);
  },
);

test("TROUBLESHOOTING's redis-cli recipes work with redis-cli 7", { skip }, () => {
  const doc = readFileSync(path.join(PROJECT_ROOT, 'docs', 'TROUBLESHOOTING.md'), 'utf8');
  const setup = doc.split('\n').find((l) => l.startsWith('export REDIS_CLI_URL='));
  assert.ok(setup, 'the doc defines REDIS_CLI_URL');
  const recipes = [
    ...doc.split('\n').filter((l) => l.startsWith('redis-cli ')),
    ...[...doc.matchAll(/`(redis-cli [^`]+)`/g)].map((m) => m[1] ?? ''),
  ].map((l) => l.replace(/\s+#.*$/, ''));
  assert.ok(recipes.length >= 5, `found the recipes: ${recipes.join('\n')}`);
  for (const recipe of recipes) {
    assert.doesNotMatch(recipe, /-u "\$REDIS_URL"/, `${recipe}: gives REDIS_URL to redis-cli as is`);
    const run = sh(`${setup}\n${readOnly(recipe)}`);
    assert.equal(run.code, 0, `${recipe}: exit ${run.code}: ${run.out}`);
    assert.doesNotMatch(run.out, /WRONGPASS|NOAUTH|ERR/, `${recipe}: ${run.out}`);
  }
});

test("the doctor's redis-cli fixes work with redis-cli 7", { skip }, () => {
  const ping = sh(`${REDIS_CLI} ping`);
  assert.equal(ping.out.trim(), 'PONG', ping.out);
  const policy = sh(readOnly(`${REDIS_CLI} CONFIG SET maxmemory-policy noeviction`));
  assert.match(policy.out, /maxmemory-policy\s+noeviction/, policy.out);
});
