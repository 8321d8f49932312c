/**
 * The simulator's tags, cost categories, usage types, record types and account names, through
 * the real SDK: every grouping sums to the generator's daily total exactly, untagged spend comes
 * back as `key$`, GetTags / GetCostCategories list what the bill carries, and account names
 * (DimensionValueAttributes of LINKED_ACCOUNT) follow the `accountNames` option.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  GetCostCategoriesCommand,
  GetTagsCommand,
  type CostExplorerClient,
  type GetCostAndUsageCommandInput,
  type GetCostAndUsageCommandOutput,
  type GroupDefinition,
} from '@aws-sdk/client-cost-explorer';
import { expectedDailyTotal, linkedAccounts } from './data.js';
import { formatFixed, parseFixed } from './money.js';
import type { RunningSimulator } from './server.js';
import { allPages, costExplorer, startTestSimulator, sumsByDay } from './test-support.js';

const ACCOUNT = '111122223333';
const WEEK = { Start: '2026-03-01', End: '2026-03-08' };
const DAYS = [
  '2026-03-01',
  '2026-03-02',
  '2026-03-03',
  '2026-03-04',
  '2026-03-05',
  '2026-03-06',
  '2026-03-07',
];

function grouped(
  ce: CostExplorerClient,
  second: GroupDefinition,
  filter?: GetCostAndUsageCommandInput['Filter'],
) {
  return allPages(ce, {
    TimePeriod: WEEK,
    Granularity: 'DAILY',
    Metrics: ['UnblendedCost', 'UsageQuantity'],
    GroupBy: [{ Type: 'DIMENSION', Key: 'SERVICE' }, second],
    ...(filter ? { Filter: filter } : {}),
  });
}

function secondKeys(pages: GetCostAndUsageCommandOutput[]): Set<string> {
  const keys = new Set<string>();
  for (const page of pages)
    for (const r of page.ResultsByTime ?? []) for (const g of r.Groups ?? []) keys.add(g.Keys?.[1] ?? '');
  return keys;
}

describe('simulated tags, cost categories, usage and record types', () => {
  let sim: RunningSimulator;
  let ce: CostExplorerClient;
  before(async () => {
    sim = await startTestSimulator({ pageSize: 60 });
    ce = costExplorer(sim, { accountId: ACCOUNT });
  });
  after(() => sim.close());

  it('every grouping sums to the ungrouped daily total, to the last digit', async () => {
    const groupings: GroupDefinition[] = [
      { Type: 'DIMENSION', Key: 'LINKED_ACCOUNT' },
      { Type: 'DIMENSION', Key: 'REGION' },
      { Type: 'DIMENSION', Key: 'USAGE_TYPE' },
      { Type: 'DIMENSION', Key: 'RECORD_TYPE' },
      { Type: 'TAG', Key: 'team' },
      { Type: 'TAG', Key: 'env' },
      { Type: 'COST_CATEGORY', Key: 'Product' },
      { Type: 'COST_CATEGORY', Key: 'Environment' },
    ];
    for (const g of groupings) {
      const sums = sumsByDay(await grouped(ce, g));
      for (const day of DAYS)
        assert.equal(sums.get(day), expectedDailyTotal(ACCOUNT, day), `${g.Type} ${g.Key} ${day}`);
    }
  });

  it('tag groups come back as key$value, untagged spend as key$ (never dropped)', async () => {
    const keys = secondKeys(await grouped(ce, { Type: 'TAG', Key: 'team' }));
    assert.ok(keys.has('team$'), 'untagged spend is a group');
    assert.ok(keys.has('team$payments'));
    for (const k of keys) assert.match(k, /^team\$/);
    const categories = secondKeys(await grouped(ce, { Type: 'COST_CATEGORY', Key: 'Product' }));
    assert.ok(categories.has('Product$'), 'uncategorized spend is a group');
    assert.ok(categories.has('Product$Checkout'));
  });

  it('a tag filter keeps exactly its lines; team$payments + untagged + the rest = the total', async () => {
    const all = sumsByDay(await grouped(ce, { Type: 'DIMENSION', Key: 'REGION' }));
    const payments = sumsByDay(
      await grouped(
        ce,
        { Type: 'DIMENSION', Key: 'REGION' },
        { Tags: { Key: 'team', Values: ['payments'] } },
      ),
    );
    const notPayments = sumsByDay(
      await grouped(
        ce,
        { Type: 'DIMENSION', Key: 'REGION' },
        { Not: { Tags: { Key: 'team', Values: ['payments'] } } },
      ),
    );
    for (const day of DAYS)
      assert.equal(
        formatFixed(parseFixed(payments.get(day) ?? '0') + parseFixed(notPayments.get(day) ?? '0')),
        all.get(day),
        day,
      );
    const byTeam = await grouped(ce, { Type: 'TAG', Key: 'team' });
    let fromGroups = 0n;
    for (const page of byTeam)
      for (const r of page.ResultsByTime ?? [])
        for (const g of r.Groups ?? [])
          if (g.Keys?.[1] === 'team$payments')
            fromGroups += parseFixed(g.Metrics?.UnblendedCost?.Amount ?? 'x');
    let filtered = 0n;
    for (const v of payments.values()) filtered += parseFixed(v);
    assert.equal(formatFixed(fromGroups), formatFixed(filtered));
  });

  it('record types include negative credits and refunds; usage types carry their unit', async () => {
    const pages = await grouped(ce, { Type: 'DIMENSION', Key: 'RECORD_TYPE' });
    const types = secondKeys(pages);
    assert.ok(types.has('Usage'));
    const month = await allPages(ce, {
      TimePeriod: { Start: '2026-02-01', End: '2026-03-01' },
      Granularity: 'MONTHLY',
      Metrics: ['UnblendedCost'],
      GroupBy: [{ Type: 'DIMENSION', Key: 'RECORD_TYPE' }],
    });
    const amounts = new Map<string, string>();
    for (const page of month)
      for (const r of page.ResultsByTime ?? [])
        for (const g of r.Groups ?? [])
          amounts.set(g.Keys?.[0] ?? '', g.Metrics?.UnblendedCost?.Amount ?? '');
    assert.ok(
      amounts.has('Credit') && amounts.has('Refund'),
      `a month has credits and refunds: ${[...amounts.keys()].join(', ')}`,
    );
    assert.ok(parseFixed(amounts.get('Credit') ?? '0') < 0n && parseFixed(amounts.get('Refund') ?? '0') < 0n);
    const usage = await grouped(
      ce,
      { Type: 'DIMENSION', Key: 'USAGE_TYPE' },
      { Dimensions: { Key: 'SERVICE', Values: ['Amazon Elastic Compute Cloud - Compute'] } },
    );
    const units = new Map<string, string>();
    for (const page of usage)
      for (const r of page.ResultsByTime ?? [])
        for (const g of r.Groups ?? []) units.set(g.Keys?.[1] ?? '', g.Metrics?.UsageQuantity?.Unit ?? '');
    const box = [...units.keys()].filter((k) => k.endsWith('BoxUsage:m5.large'));
    assert.ok(box.length > 0, [...units.keys()].join(', '));
    for (const k of box) assert.equal(units.get(k), 'Hrs', k);
  });

  it('GetTags and GetCostCategories list the keys and values the bill carries', async () => {
    const keys = await ce.send(new GetTagsCommand({ TimePeriod: WEEK }));
    assert.deepEqual(keys.Tags, ['cost-center', 'env', 'team']);
    const teams = await ce.send(new GetTagsCommand({ TimePeriod: WEEK, TagKey: 'team' }));
    assert.deepEqual(teams.Tags, ['data-science', 'payments', 'platform', 'search']);
    const names = await ce.send(new GetCostCategoriesCommand({ TimePeriod: WEEK }));
    assert.deepEqual(names.CostCategoryNames, ['Environment', 'Product']);
    const products = await ce.send(
      new GetCostCategoriesCommand({ TimePeriod: WEEK, CostCategoryName: 'Product' }),
    );
    assert.ok(products.CostCategoryValues?.includes('Checkout'));
  });

  it('DimensionValueAttributes of LINKED_ACCOUNT name the accounts; a rename shows', async () => {
    const member = linkedAccounts(ACCOUNT)[1];
    assert.ok(member);
    const nameOf = async (id: string) => {
      const pages = await grouped(ce, { Type: 'DIMENSION', Key: 'LINKED_ACCOUNT' });
      return pages[0]?.DimensionValueAttributes?.find((a) => a.Value === id)?.Attributes?.description;
    };
    assert.equal(await nameOf(member.id), member.name);
    sim.control.setOptions({ accountNames: { [member.id]: 'Payments Production' } });
    try {
      assert.equal(await nameOf(member.id), 'Payments Production');
    } finally {
      sim.control.setOptions({ accountNames: {} });
    }
  });
});
