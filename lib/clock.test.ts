import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clockFromConfig, createClock, manualClock, parseInstant, systemNow } from './clock.js';

test('parseInstant reads ISO-8601 instants with a zone, or a date as its midnight UTC', () => {
  assert.equal(parseInstant('2026-11-15T06:00:00Z')?.toISOString(), '2026-11-15T06:00:00.000Z');
  assert.equal(parseInstant('2026-12-31T23:59:59.250Z')?.toISOString(), '2026-12-31T23:59:59.250Z');
  assert.equal(parseInstant('2027-01-01T00:30-02:00')?.toISOString(), '2027-01-01T02:30:00.000Z');
  assert.equal(parseInstant('2028-02-29')?.toISOString(), '2028-02-29T00:00:00.000Z');
  for (const bad of [
    '2027-02-29',
    '2026-04-31T00:00Z',
    '2026-11-15T06:00:00',
    '2026-11-15T25:00Z',
    '20261115',
    '',
    'now',
  ])
    assert.equal(parseInstant(bad), undefined, bad);
});

test('a pinned clock starts at its instant and runs at real speed; a frozen one stands still', async () => {
  const running = createClock({ startAt: new Date('2026-12-31T23:59:59.950Z') });
  const frozen = clockFromConfig({ CLOCK_START: new Date('2026-12-31T23:59:59.950Z'), CLOCK_FROZEN: true });
  assert.ok(running().getTime() - Date.parse('2026-12-31T23:59:59.950Z') < 50);
  await new Promise((r) => setTimeout(r, 80));
  assert.equal(running().toISOString().slice(0, 10), '2027-01-01', 'the running clock crossed midnight');
  assert.equal(frozen().toISOString(), '2026-12-31T23:59:59.950Z');
  assert.equal(clockFromConfig({ CLOCK_FROZEN: false }), systemNow, 'unset: the wall clock');
});

test('a manual clock moves only when told', () => {
  const clock = manualClock('2026-11-30T12:00:00Z');
  assert.equal(clock.now().toISOString(), '2026-11-30T12:00:00.000Z');
  clock.advance(12 * 3_600_000);
  assert.equal(clock.now().toISOString(), '2026-12-01T00:00:00.000Z');
  clock.set('2028-02-29T00:00:00Z');
  assert.equal(clock.now().toISOString(), '2028-02-29T00:00:00.000Z');
});
