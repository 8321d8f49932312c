import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  GetCostAndUsageCommand,
  GetCostForecastCommand,
  type GetCostAndUsageCommandInput,
} from '@aws-sdk/client-cost-explorer';
import { manualClock } from '../lib/clock.js';
import { spawnRole } from '../tests/helpers/processes.js';
import { expectedDailyTotal } from './data.js';
import { startSimulator } from './server.js';
import { costExplorer, failure } from './test-support.js';

const ACCOUNT = '666677778888';

const daily = (start: string, end: string): GetCostAndUsageCommandInput => ({
  TimePeriod: { Start: start, End: end },
  Granularity: 'DAILY',
  Metrics: ['UnblendedCost'],
});

async function todayOf(url: string): Promise<{ today: string; now: string; configured: string | null }> {
  const response = await fetch(`${url}/_sim/today`);
  assert.equal(response.status, 200);
  return (await response.json()) as { today: string; now: string; configured: string | null };
}

describe('the simulator clock', () => {
  it('follows the clock it is given in-process: days appear, turn final and refuse past forecasts as that clock crosses midnight', async () => {
    const clock = manualClock('2026-12-31T23:59:59Z');
    const sim = await startSimulator({ port: 0 }, { now: clock.now });
    try {
      const ce = costExplorer(sim, { accountId: ACCOUNT, maxAttempts: 1 });
      assert.equal(sim.control.today(), '2026-12-31');
      assert.equal(sim.control.now().toISOString(), '2026-12-31T23:59:59.000Z');
      const before = await ce.send(new GetCostAndUsageCommand(daily('2026-12-28', '2027-01-01')));
      assert.deepEqual(
        before.ResultsByTime?.map((r) => r.Estimated),
        [false, true, true, true],
      );
      assert.equal(
        before.ResultsByTime?.[0]?.Total?.UnblendedCost?.Amount,
        expectedDailyTotal(ACCOUNT, '2026-12-28'),
      );
      // 2027 is the future: Cost Explorer refuses a window past the end of the current month.
      assert.equal(
        (await failure(ce.send(new GetCostAndUsageCommand(daily('2027-01-01', '2027-01-02'))))).name,
        'ValidationException',
      );

      clock.advance(2_000);
      assert.equal(sim.control.today(), '2027-01-01');
      const after = await ce.send(new GetCostAndUsageCommand(daily('2026-12-28', '2027-01-02')));
      assert.deepEqual(
        after.ResultsByTime?.map((r) => r.Estimated),
        [false, false, true, true, true],
      );
      assert.equal(
        after.ResultsByTime?.[1]?.Total?.UnblendedCost?.Amount,
        expectedDailyTotal(ACCOUNT, '2026-12-29'),
        'the 29th is final now',
      );
      assert.notEqual(
        Number(after.ResultsByTime?.[4]?.Total?.UnblendedCost?.Amount ?? 0),
        0,
        'New Year has (estimated) costs',
      );
      const forecast = await failure(
        ce.send(
          new GetCostForecastCommand({
            TimePeriod: { Start: '2026-12-31', End: '2027-01-31' },
            Granularity: 'MONTHLY',
            Metric: 'UNBLENDED_COST',
          }),
        ),
      );
      assert.equal(forecast.name, 'ValidationException', 'a forecast from yesterday is refused');
      assert.match(forecast.message, /2027-01-01/);
    } finally {
      await sim.close();
    }
  });

  it('clockStart pins it (frozen or running), today overrides only the date, reset restores the start clock', async () => {
    const sim = await startSimulator({ port: 0, clockStart: '2028-02-29T23:59:59Z', clockFrozen: true });
    try {
      assert.deepEqual(await todayOf(sim.url), {
        today: '2028-02-29',
        now: '2028-02-29T23:59:59.000Z',
        configured: null,
      });
      sim.control.setToday('2028-03-05');
      assert.equal(
        sim.control.now().toISOString(),
        '2028-03-05T23:59:59.000Z',
        'the pinned date keeps the clock time of day',
      );
      sim.control.setToday(null);
      const patched = await fetch(`${sim.url}/_sim/options`, {
        method: 'PATCH',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ clockStart: '2027-03-01T00:00:00+01:00', clockFrozen: false }),
      });
      assert.equal(patched.status, 200);
      const running = await todayOf(sim.url);
      assert.equal(running.today, '2027-02-28', '00:00 at +01:00 is still the 28th in UTC');
      await new Promise((r) => setTimeout(r, 30));
      assert.ok(
        sim.control.now().getTime() > Date.parse('2027-02-28T23:00:00.020Z'),
        'an unfrozen clock runs',
      );
      assert.ok(sim.control.now().getTime() < Date.parse('2027-02-28T23:01:00Z'));
      sim.control.setOptions({ latencyMs: 1 });
      assert.equal(sim.control.today(), '2027-02-28', 'other options leave the clock alone');
      sim.control.reset();
      assert.equal(sim.control.now().toISOString(), '2028-02-29T23:59:59.000Z');

      const bad = await fetch(`${sim.url}/_sim/options`, {
        method: 'PATCH',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ clockStart: '2027-02-29T00:00:00Z', clockFrozen: 'yes' }),
      });
      assert.equal(bad.status, 400);
      const { problems } = (await bad.json()) as { problems: string[] };
      assert.deepEqual(
        problems.map((p) => p.split(':')[0]),
        ['clockStart', 'clockFrozen'],
      );
      assert.throws(() => sim.control.setOptions({ clockStart: null }), /clockFrozen: needs clockStart/);
    } finally {
      await sim.close();
    }
  });

  it('`costwatch sim` takes its clock from CLOCK_START / CLOCK_FROZEN, and --clock-start overrides them', async () => {
    const env = { CLOCK_START: '2026-11-30T23:59:59Z', CLOCK_FROZEN: 'true', LOG_LEVEL: 'silent' };
    for (const [flags, expected] of [
      [[], { today: '2026-11-30', now: '2026-11-30T23:59:59.000Z' }],
      [['--clock-start', '2028-02-29T12:00:00Z'], { today: '2028-02-29', now: '2028-02-29T12:00:00.000Z' }],
    ] as const) {
      const sim = await spawnRole(['sim', '--port', '0', ...flags], env, 'AWS endpoint listening on');
      try {
        const url = /listening on (http:\/\/\S+)/.exec(sim.output())?.[1];
        assert.ok(url, sim.output());
        const { today, now } = await todayOf(url);
        assert.deepEqual({ today, now }, expected);
      } finally {
        sim.child.kill('SIGTERM');
        await sim.exited;
      }
    }
  });
});
