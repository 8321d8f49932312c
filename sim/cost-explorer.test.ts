import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  GetCostAndUsageCommand,
  GetCostForecastCommand,
  GetDimensionValuesCommand,
  type GetCostAndUsageCommandInput,
  type GetCostAndUsageCommandOutput,
  type CostExplorerClient,
} from '@aws-sdk/client-cost-explorer';
import { expectedDailyTotal } from './data.js';
import { formatFixed, parseFixed, sumDecimalStrings } from './money.js';
import type { RunningSimulator } from './server.js';
import { allPages, costExplorer, failure, startTestSimulator, TEST_TODAY } from './test-support.js';

const ACCOUNT = '111122223333';
const FINAL_WEEK = { Start: '2026-03-01', End: '2026-03-08' };

/** Sum of one metric per period start over every group of every page. */
function groupSumsByDay(pages: GetCostAndUsageCommandOutput[], metric: string): Map<string, bigint> {
  const sums = new Map<string, bigint>();
  for (const page of pages) {
    for (const result of page.ResultsByTime ?? []) {
      const day = result.TimePeriod?.Start ?? '';
      for (const group of result.Groups ?? []) {
        sums.set(day, (sums.get(day) ?? 0n) + parseFixed(group.Metrics?.[metric]?.Amount ?? 'x'));
      }
    }
  }
  return sums;
}

describe('Cost Explorer through the real SDK', () => {
  let sim: RunningSimulator;
  let ce: CostExplorerClient;
  before(async () => {
    sim = await startTestSimulator({ pageSize: 40 });
    ce = costExplorer(sim, { accountId: ACCOUNT });
  });
  after(() => sim.close());

  it('returns ungrouped daily totals equal to the generator truth, exactly', async () => {
    const out = await ce.send(
      new GetCostAndUsageCommand({
        TimePeriod: FINAL_WEEK,
        Granularity: 'DAILY',
        Metrics: ['UnblendedCost', 'AmortizedCost'],
      }),
    );
    assert.equal(out.ResultsByTime?.length, 7);
    for (const result of out.ResultsByTime ?? []) {
      const day = result.TimePeriod?.Start ?? '';
      assert.equal(result.Estimated, false);
      assert.equal(result.Total?.UnblendedCost?.Amount, expectedDailyTotal(ACCOUNT, day));
      assert.equal(result.Total?.UnblendedCost?.Unit, 'USD');
      assert.equal(result.Total?.AmortizedCost?.Amount, expectedDailyTotal(ACCOUNT, day, 'AmortizedCost'));
      assert.match(result.Total?.UnblendedCost?.Amount ?? '', /^-?\d+(\.\d{1,10})?$/);
    }
  });

  it('pages two-dimension groups and the pages add up to the ungrouped total to the last digit', async () => {
    const input: GetCostAndUsageCommandInput = {
      TimePeriod: FINAL_WEEK,
      Granularity: 'DAILY',
      Metrics: ['UnblendedCost'],
      GroupBy: [
        { Type: 'DIMENSION', Key: 'SERVICE' },
        { Type: 'DIMENSION', Key: 'LINKED_ACCOUNT' },
      ],
    };
    const pages = await allPages(ce, input);
    assert.ok(pages.length > 5, `expected many pages, got ${pages.length}`);
    for (const page of pages) {
      const groups = (page.ResultsByTime ?? []).reduce((n, r) => n + (r.Groups?.length ?? 0), 0);
      assert.ok(groups <= 40);
      for (const r of page.ResultsByTime ?? [])
        for (const g of r.Groups ?? []) assert.equal(g.Keys?.length, 2);
    }
    assert.deepEqual(pages[0]?.GroupDefinitions, input.GroupBy);
    assert.ok(
      (pages[0]?.DimensionValueAttributes ?? []).some((a) => a.Attributes?.description !== undefined),
    );
    const sums = groupSumsByDay(pages, 'UnblendedCost');
    assert.equal(sums.size, 7);
    for (const [day, sum] of sums) assert.equal(formatFixed(sum), expectedDailyTotal(ACCOUNT, day));
  });

  it('aggregates MONTHLY as the exact sum of DAILY', async () => {
    const period = { Start: '2026-02-01', End: '2026-03-01' };
    const daily = await ce.send(
      new GetCostAndUsageCommand({ TimePeriod: period, Granularity: 'DAILY', Metrics: ['NetUnblendedCost'] }),
    );
    const monthly = await ce.send(
      new GetCostAndUsageCommand({
        TimePeriod: period,
        Granularity: 'MONTHLY',
        Metrics: ['NetUnblendedCost'],
      }),
    );
    assert.equal(monthly.ResultsByTime?.length, 1);
    const sum = sumDecimalStrings(
      (daily.ResultsByTime ?? []).map((r) => r.Total?.NetUnblendedCost?.Amount ?? 'x'),
    );
    assert.equal(monthly.ResultsByTime?.[0]?.Total?.NetUnblendedCost?.Amount, sum);
  });

  it('serves realistic services, regions, linked accounts and negative credit/refund lines', async () => {
    const input: GetCostAndUsageCommandInput = {
      TimePeriod: { Start: '2025-10-01', End: '2026-03-01' },
      Granularity: 'MONTHLY',
      Metrics: ['UnblendedCost'],
      GroupBy: [
        { Type: 'DIMENSION', Key: 'SERVICE' },
        { Type: 'DIMENSION', Key: 'RECORD_TYPE' },
      ],
    };
    const pages = await allPages(ce, input);
    const services = new Set<string>();
    let negatives = 0;
    for (const page of pages) {
      for (const r of page.ResultsByTime ?? []) {
        for (const g of r.Groups ?? []) {
          services.add(g.Keys?.[0] ?? '');
          if ((g.Metrics?.UnblendedCost?.Amount ?? '').startsWith('-')) {
            negatives++;
            assert.ok(
              ['Credit', 'Refund', 'SavingsPlanNegation'].includes(g.Keys?.[1] ?? ''),
              `negative ${g.Keys?.join('/')}`,
            );
          }
        }
      }
    }
    assert.ok(services.size >= 20, `only ${services.size} services`);
    for (const name of [
      'Amazon Elastic Compute Cloud - Compute',
      'Amazon Simple Storage Service',
      'AWS Lambda',
      'Amazon Relational Database Service',
      'AWS Support (Business)',
    ]) {
      assert.ok(services.has(name), name);
    }
    assert.ok(negatives > 0, 'expected credits or refunds');
    const regions = await ce.send(
      new GetDimensionValuesCommand({ TimePeriod: FINAL_WEEK, Dimension: 'REGION' }),
    );
    const regionNames = (regions.DimensionValues ?? []).map((v) => v.Value);
    assert.ok(regionNames.includes('global') && regionNames.includes('us-east-1'), regionNames.join(','));
    const accounts = await ce.send(
      new GetDimensionValuesCommand({ TimePeriod: FINAL_WEEK, Dimension: 'LINKED_ACCOUNT' }),
    );
    assert.ok((accounts.DimensionValues ?? []).length >= 3);
    for (const v of accounts.DimensionValues ?? []) assert.match(v.Value ?? '', /^\d{12}$/);
  });

  it('filters with Dimensions, Not, And and Or; a filter and its negation partition the total', async () => {
    const base = { TimePeriod: FINAL_WEEK, Granularity: 'MONTHLY' as const, Metrics: ['UnblendedCost'] };
    const ec2 = {
      Dimensions: { Key: 'SERVICE' as const, Values: ['Amazon Elastic Compute Cloud - Compute'] },
    };
    const all = await ce.send(new GetCostAndUsageCommand(base));
    const only = await ce.send(new GetCostAndUsageCommand({ ...base, Filter: ec2 }));
    const not = await ce.send(new GetCostAndUsageCommand({ ...base, Filter: { Not: ec2 } }));
    const amount = (o: GetCostAndUsageCommandOutput): string =>
      o.ResultsByTime?.[0]?.Total?.UnblendedCost?.Amount ?? 'x';
    assert.equal(sumDecimalStrings([amount(only), amount(not)]), amount(all));
    assert.notEqual(amount(only), '0');
    const and = await ce.send(
      new GetCostAndUsageCommand({
        ...base,
        Filter: { And: [ec2, { Dimensions: { Key: 'RECORD_TYPE', Values: ['Usage'] } }] },
      }),
    );
    const andNot = await ce.send(
      new GetCostAndUsageCommand({
        ...base,
        Filter: { And: [ec2, { Not: { Dimensions: { Key: 'RECORD_TYPE', Values: ['Usage'] } } }] },
      }),
    );
    assert.equal(sumDecimalStrings([amount(and), amount(andNot)]), amount(only));
    const or = await ce.send(
      new GetCostAndUsageCommand({
        ...base,
        Filter: { Or: [ec2, { Dimensions: { Key: 'SERVICE', Values: ['AWS Lambda'] } }] },
      }),
    );
    const lambda = await ce.send(
      new GetCostAndUsageCommand({
        ...base,
        Filter: { Dimensions: { Key: 'SERVICE', Values: ['AWS Lambda'] } },
      }),
    );
    assert.equal(amount(or), sumDecimalStrings([amount(only), amount(lambda)]));
  });

  it('rejects invalid requests with ValidationException and does not retry them', async () => {
    const ok = { TimePeriod: FINAL_WEEK, Granularity: 'DAILY' as const, Metrics: ['UnblendedCost'] };
    const cases: Array<[string, GetCostAndUsageCommandInput, RegExp]> = [
      [
        'three GroupBy',
        {
          ...ok,
          GroupBy: [
            { Type: 'DIMENSION', Key: 'SERVICE' },
            { Type: 'DIMENSION', Key: 'REGION' },
            { Type: 'DIMENSION', Key: 'USAGE_TYPE' },
          ],
        },
        /at most 2/,
      ],
      [
        'End before Start',
        { ...ok, TimePeriod: { Start: '2026-03-05', End: '2026-03-01' } },
        /before end date/,
      ],
      [
        'End equal Start',
        { ...ok, TimePeriod: { Start: '2026-03-05', End: '2026-03-05' } },
        /before end date/,
      ],
      ['bad granularity', { ...ok, Granularity: 'WEEKLY' as 'DAILY' }, /granularity/],
      ['hourly', { ...ok, Granularity: 'HOURLY' }, /Hourly/],
      ['bad metric', { ...ok, Metrics: ['Dollars'] }, /Dollars/],
      ['bad date', { ...ok, TimePeriod: { Start: '2026-3-1', End: '2026-03-05' } }, /YYYY-MM-DD/],
      ['too old', { ...ok, TimePeriod: { Start: '2024-01-01', End: '2024-02-01' } }, /too old/],
      ['bad GroupBy key', { ...ok, GroupBy: [{ Type: 'DIMENSION', Key: 'COLOUR' }] }, /COLOUR/],
    ];
    for (const [label, input, message] of cases) {
      const error = await failure(ce.send(new GetCostAndUsageCommand(input)));
      assert.equal(error.name, 'ValidationException', label);
      assert.match(error.message, message, label);
      assert.equal(error.$metadata.httpStatusCode, 400, label);
      assert.equal(error.$metadata.attempts, 1, label);
    }
  });

  it('rejects a NextPageToken replayed with a different request', async () => {
    const input: GetCostAndUsageCommandInput = {
      TimePeriod: FINAL_WEEK,
      Granularity: 'DAILY',
      Metrics: ['UnblendedCost'],
      GroupBy: [{ Type: 'DIMENSION', Key: 'SERVICE' }],
    };
    const first = await ce.send(new GetCostAndUsageCommand(input));
    assert.ok(first.NextPageToken);
    const error = await failure(
      ce.send(
        new GetCostAndUsageCommand({
          ...input,
          Metrics: ['BlendedCost'],
          NextPageToken: first.NextPageToken,
        }),
      ),
    );
    assert.equal(error.name, 'InvalidNextTokenException');
  });

  it('flags the last days as Estimated and restates them, while final days never change', async () => {
    const input: GetCostAndUsageCommandInput = {
      TimePeriod: { Start: '2026-03-10', End: '2026-03-16' },
      Granularity: 'DAILY',
      Metrics: ['UnblendedCost'],
    };
    const a = await ce.send(new GetCostAndUsageCommand(input));
    const b = await ce.send(new GetCostAndUsageCommand(input));
    const estimated = (a.ResultsByTime ?? []).filter((r) => r.Estimated).map((r) => r.TimePeriod?.Start);
    assert.deepEqual(estimated, ['2026-03-13', '2026-03-14', TEST_TODAY]);
    (a.ResultsByTime ?? []).forEach((r, i) => {
      const other = b.ResultsByTime?.[i]?.Total?.UnblendedCost?.Amount;
      const day = r.TimePeriod?.Start ?? '';
      if (r.Estimated) {
        assert.notEqual(r.Total?.UnblendedCost?.Amount, other, `${day} should be restated`);
        assert.ok(
          parseFixed(r.Total?.UnblendedCost?.Amount ?? 'x') <= parseFixed(expectedDailyTotal(ACCOUNT, day)),
        );
      } else {
        assert.equal(r.Total?.UnblendedCost?.Amount, other);
        assert.equal(other, expectedDailyTotal(ACCOUNT, day));
      }
    });
  });

  it('pages GetDimensionValues to the same set GetCostAndUsage groups by', async () => {
    sim.control.setOptions({ dimensionPageSize: 4 });
    try {
      const values: string[] = [];
      let token: string | undefined;
      let pages = 0;
      do {
        const page = await ce.send(
          new GetDimensionValuesCommand({
            TimePeriod: FINAL_WEEK,
            Dimension: 'SERVICE',
            NextPageToken: token,
          }),
        );
        values.push(...(page.DimensionValues ?? []).map((v) => v.Value ?? ''));
        assert.equal(page.ReturnSize, page.DimensionValues?.length);
        token = page.NextPageToken;
        pages++;
      } while (token);
      assert.ok(pages > 2);
      const grouped = await allPages(ce, {
        TimePeriod: FINAL_WEEK,
        Granularity: 'MONTHLY',
        Metrics: ['UnblendedCost'],
        GroupBy: [{ Type: 'DIMENSION', Key: 'SERVICE' }],
      });
      const keys = grouped.flatMap((p) =>
        (p.ResultsByTime ?? []).flatMap((r) => (r.Groups ?? []).map((g) => g.Keys?.[0] ?? '')),
      );
      assert.deepEqual([...new Set(values)].sort(), [...new Set(keys)].sort());
      const search = await ce.send(
        new GetDimensionValuesCommand({
          TimePeriod: FINAL_WEEK,
          Dimension: 'SERVICE',
          SearchString: 'lambda',
        }),
      );
      assert.deepEqual(
        (search.DimensionValues ?? []).map((v) => v.Value),
        ['AWS Lambda'],
      );
    } finally {
      sim.control.setOptions({ dimensionPageSize: 1000 });
    }
  });

  it('forecasts consistently with history', async () => {
    const out = await ce.send(
      new GetCostForecastCommand({
        TimePeriod: { Start: TEST_TODAY, End: '2026-03-29' },
        Granularity: 'DAILY',
        Metric: 'UNBLENDED_COST',
        PredictionIntervalLevel: 80,
      }),
    );
    const results = out.ForecastResultsByTime ?? [];
    assert.equal(results.length, 14);
    for (const r of results) {
      const mean = parseFixed(r.MeanValue ?? 'x');
      assert.ok(
        parseFixed(r.PredictionIntervalLowerBound ?? 'x') <= mean &&
          mean <= parseFixed(r.PredictionIntervalUpperBound ?? 'x'),
      );
    }
    assert.equal(out.Total?.Amount, sumDecimalStrings(results.map((r) => r.MeanValue ?? 'x')));
    assert.equal(out.Total?.Unit, 'USD');
    // The next week's forecast is within 25% of the last closed week.
    const forecastWeek = parseFixed(sumDecimalStrings(results.slice(0, 7).map((r) => r.MeanValue ?? 'x')));
    let pastWeek = 0n;
    for (let d = 6; d <= 12; d++)
      pastWeek += parseFixed(expectedDailyTotal(ACCOUNT, `2026-03-${String(d).padStart(2, '0')}`));
    const ratio = Number((forecastWeek * 1000n) / pastWeek) / 1000;
    assert.ok(ratio > 0.75 && ratio < 1.25, `forecast/past ratio ${ratio}`);
    const past = await failure(
      ce.send(
        new GetCostForecastCommand({
          TimePeriod: { Start: '2026-03-01', End: '2026-03-20' },
          Granularity: 'DAILY',
          Metric: 'UNBLENDED_COST',
        }),
      ),
    );
    assert.equal(past.name, 'ValidationException');
    assert.match(past.message, /current date/);
  });
});

describe('Cost Explorer determinism', () => {
  it('gives the same final amounts from two simulator instances', async () => {
    const [a, b] = await Promise.all([startTestSimulator(), startTestSimulator()]);
    try {
      const input: GetCostAndUsageCommandInput = {
        TimePeriod: { Start: '2026-01-01', End: '2026-03-01' },
        Granularity: 'MONTHLY',
        Metrics: ['UnblendedCost', 'UsageQuantity'],
        GroupBy: [{ Type: 'DIMENSION', Key: 'REGION' }],
      };
      const [ra, rb] = await Promise.all([
        costExplorer(a, { accountId: '444455556666' }).send(new GetCostAndUsageCommand(input)),
        costExplorer(b, { accountId: '444455556666' }).send(new GetCostAndUsageCommand(input)),
      ]);
      assert.deepEqual(ra.ResultsByTime, rb.ResultsByTime);
      const other = await costExplorer(a, { accountId: '777788889999' }).send(
        new GetCostAndUsageCommand(input),
      );
      assert.notDeepEqual(other.ResultsByTime, ra.ResultsByTime);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});
