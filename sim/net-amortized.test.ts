/**
 * The simulator's NetAmortizedCost, the metric FOCUS's EffectiveCost is: on every bill line it is
 * the amortized cost less the org's EDP discount, exactly as NetUnblendedCost is the unblended cost
 * less it; through the real SDK every grouping sums to the same daily total on final days (across
 * pages), and asking for it adds no request.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { CostExplorerClient, GroupDefinition } from '@aws-sdk/client-cost-explorer';
import { parseDay } from './calendar.js';
import { expectedDailyTotal, finalCostLines } from './data.js';
import type { CostLine } from './cost-data.js';
import { scale } from './money.js';
import type { RunningSimulator } from './server.js';
import { allPages, costExplorer, startTestSimulator, sumsByDay } from './test-support.js';

// An org with an EDP discount and a Savings Plan: the four cost metrics differ.
const ACCOUNT = '334455667788';
const FINAL_WEEK = { Start: '2026-03-01', End: '2026-03-08' };
const METRICS = ['UnblendedCost', 'AmortizedCost', 'NetUnblendedCost', 'UsageQuantity'];

describe('simulated net amortized cost', () => {
  let sim: RunningSimulator;
  let ce: CostExplorerClient;
  before(async () => {
    sim = await startTestSimulator({ pageSize: 60 });
    ce = costExplorer(sim, { accountId: ACCOUNT });
  });
  after(() => sim.close());

  it('relates to amortized as net unblended relates to unblended, on every line', () => {
    const lines: CostLine[] = [];
    for (let day = parseDay(FINAL_WEEK.Start) ?? 0; day < (parseDay(FINAL_WEEK.End) ?? 0); day++)
      lines.push(...finalCostLines(ACCOUNT, day));
    const discount = (value: bigint, pm: bigint) => value - scale(value, pm, 1000n);
    // The same EDP rate (per mille) explains both net metrics of a line: the org's rate on usage,
    // Savings Plan lines and fees, none on flat amounts (credits, refunds, tax, support).
    const explains = (l: CostLine, pm: bigint) =>
      l.values.NetUnblendedCost === discount(l.values.UnblendedCost, pm) &&
      l.values.NetAmortizedCost === discount(l.values.AmortizedCost, pm);
    const usage = lines.filter((l) => l.recordType === 'Usage');
    const rates = [20n, 30n, 50n].filter((pm) => usage.every((l) => explains(l, pm)));
    assert.equal(rates.length, 1, `one EDP rate, got ${rates.join(', ')}`);
    const edp = rates[0] ?? 0n;
    for (const l of lines)
      assert.ok(explains(l, edp) || explains(l, 0n), `${l.recordType} ${l.service} ${l.usageType}`);
    assert.ok(
      lines.some(
        (l) => l.values.AmortizedCost !== l.values.UnblendedCost && explains(l, edp) && !explains(l, 0n),
      ),
      'amortized lines (Savings Plans) are discounted too',
    );
  });

  it('every grouping sums to the ungrouped daily total on final days, across pages', async () => {
    const groupings: GroupDefinition[] = [
      { Type: 'DIMENSION', Key: 'LINKED_ACCOUNT' },
      { Type: 'DIMENSION', Key: 'REGION' },
      { Type: 'DIMENSION', Key: 'RECORD_TYPE' },
      { Type: 'DIMENSION', Key: 'USAGE_TYPE' },
      { Type: 'TAG', Key: 'team' },
      { Type: 'COST_CATEGORY', Key: 'Product' },
    ];
    for (const g of groupings) {
      const pages = await allPages(ce, {
        TimePeriod: FINAL_WEEK,
        Granularity: 'DAILY',
        Metrics: [...METRICS, 'NetAmortizedCost'],
        GroupBy: [{ Type: 'DIMENSION', Key: 'SERVICE' }, g],
      });
      assert.ok(pages.length > 1, 'paged');
      const sums = sumsByDay(pages, 'NetAmortizedCost');
      for (const [day, sum] of sums)
        assert.equal(sum, expectedDailyTotal(ACCOUNT, day, 'NetAmortizedCost'), `${g.Key} ${day}`);
      assert.equal(sums.size, 7);
    }
  });

  it('asking for it costs no request: the same pages with or without it', async () => {
    const input = {
      TimePeriod: FINAL_WEEK,
      Granularity: 'DAILY' as const,
      GroupBy: [
        { Type: 'DIMENSION' as const, Key: 'SERVICE' },
        { Type: 'DIMENSION' as const, Key: 'LINKED_ACCOUNT' },
      ],
    };
    const without = await allPages(ce, { ...input, Metrics: METRICS });
    const withIt = await allPages(ce, { ...input, Metrics: [...METRICS, 'NetAmortizedCost'] });
    assert.equal(withIt.length, without.length);
    assert.deepEqual(sumsByDay(withIt, 'UnblendedCost'), sumsByDay(without, 'UnblendedCost'));
  });
});
