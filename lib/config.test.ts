import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseConfig } from './config.js';

const base = {
  DATABASE_URL: 'postgresql://u:p@localhost:5432/db',
  REDIS_URL: 'redis://localhost:6379',
  JWT_SECRET_KEY: 'x'.repeat(32),
};

function problems(role: Parameters<typeof parseConfig>[0], env: Record<string, string | undefined>): string[] {
  try {
    parseConfig(role, env);
    return [];
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.problems;
  }
}

test('defaults apply when only the required variables are set', () => {
  const config = parseConfig('api', base);
  assert.equal(config.PORT, 8002);
  assert.equal(config.METRICS_PORT, 9464);
  assert.equal(config.LOG_LEVEL, 'info');
  assert.equal(config.AWS_REGION, 'us-east-1');
  assert.equal(config.AWS_ENDPOINT_URL, undefined);
  assert.equal(config.REFETCH_CURRENT_MONTH, true);
});

test('a missing required variable is named, one line each', () => {
  assert.deepEqual(problems('api', { ...base, JWT_SECRET_KEY: undefined, REDIS_URL: '' }), [
    'REDIS_URL: environment variable required',
    'JWT_SECRET_KEY: environment variable required',
  ]);
});

test('malformed values are named with what was wrong', () => {
  const found = problems('worker', { ...base, PORT: 'eighty', JWT_SECRET_KEY: 'short', DATABASE_URL: 'mysql://x', LOG_LEVEL: 'loud' });
  assert.equal(found.length, 4);
  assert.match(found.find((l) => l.startsWith('PORT:')) ?? '', /whole number/);
  assert.match(found.find((l) => l.startsWith('JWT_SECRET_KEY:')) ?? '', /at least 32/);
  assert.match(found.find((l) => l.startsWith('DATABASE_URL:')) ?? '', /postgres/);
  assert.match(found.find((l) => l.startsWith('LOG_LEVEL:')) ?? '', /LOG_LEVEL/);
});

test('LOG_LEVEL is case-insensitive (the ops guide uses DEBUG)', () => {
  assert.equal(parseConfig('api', { ...base, LOG_LEVEL: 'DEBUG' }).LOG_LEVEL, 'debug');
});

test('METRICS_PORT=0 is allowed (several workers on one host); out-of-range ports are not', () => {
  assert.equal(parseConfig('worker', { ...base, METRICS_PORT: '0' }).METRICS_PORT, 0);
  assert.match(problems('worker', { ...base, METRICS_PORT: '70000' })[0] ?? '', /^METRICS_PORT:/);
});

test('roles require only what they use', () => {
  assert.deepEqual(problems('sim', {}), []);
  assert.deepEqual(problems('migrate', {}), ['DATABASE_URL: environment variable required']);
  assert.deepEqual(problems('cli-queue', { DATABASE_URL: base.DATABASE_URL }), ['REDIS_URL: environment variable required']);
});

test('booleans and cron patterns are validated', () => {
  assert.equal(parseConfig('api', { ...base, REFETCH_CURRENT_MONTH: 'false' }).REFETCH_CURRENT_MONTH, false);
  assert.match(problems('api', { ...base, REFETCH_CURRENT_MONTH: 'maybe' })[0] ?? '', /^REFETCH_CURRENT_MONTH:/);
  assert.match(problems('api', { ...base, REFRESH_CRON: 'hourly' })[0] ?? '', /^REFRESH_CRON: must be a cron/);
});
