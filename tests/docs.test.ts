// Keeps the docs true to the code: every environment variable of the config schema is in the
// README's configuration table with its default, and every command is documented.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { envSchema } from '../lib/config.js';
import { PROJECT_ROOT } from '../lib/paths.js';

const readme = readFileSync(path.join(PROJECT_ROOT, 'README.md'), 'utf8');

test('the README documents every environment variable with its default', () => {
  const defaults = envSchema.parse({}) as Record<string, unknown>;
  for (const name of Object.keys(envSchema.shape)) {
    const row = readme.split('\n').find((line) => line.startsWith(`| \`${name}\` |`));
    assert.ok(row, `README configuration table lacks ${name}`);
    const value = defaults[name];
    if (value !== undefined)
      assert.ok(row.includes(String(value)), `README default of ${name} should be ${String(value)}: ${row}`);
  }
});

test('the README names every top-level costwatch command', async () => {
  for (const command of [
    'api',
    'scheduler',
    'worker',
    'sim',
    'migrate',
    'org',
    'user',
    'backfill',
    'doctor',
  ]) {
    assert.match(readme, new RegExp(`costwatch ${command}\\b`), `README lacks costwatch ${command}`);
  }
});

test('API.md says group_by=region totals may differ on Estimated days and which grouping matches the summary', () => {
  const api = readFileSync(path.join(PROJECT_ROOT, 'docs', 'API.md'), 'utf8').replace(/\s+/g, ' ');
  assert.match(
    api,
    /`group_by=region` total of such a day can differ from the others until the day is final/,
  );
  assert.match(api, /For totals that match the summary, use `group_by=service`/);
});
