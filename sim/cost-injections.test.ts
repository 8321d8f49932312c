/** The anomaly knobs of the simulator: injected spikes, increases and new services keep every grouping's sum. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { finalCostLines, linkedAccounts } from './cost-data.js';
import { EC2_COMPUTE_SERVICE } from './catalog.js';
import { parseDay } from './calendar.js';
import { mergeOptions, DEFAULT_OPTIONS } from './options.js';
import type { CostInjection } from './cost-injections.js';

const PAYER = '123456789012';
const DAY = parseDay('2026-03-10') ?? 0;

function sum(
  lines: ReturnType<typeof finalCostLines>,
  pick: (l: (typeof lines)[number]) => boolean = () => true,
): bigint {
  let s = 0n;
  for (const l of lines) if (pick(l)) s += l.values.UnblendedCost;
  return s;
}

test('a spike multiplies one account-service usage; every grouping sums to the new total', () => {
  const member = linkedAccounts(PAYER)[1]?.id ?? '';
  const injections: CostInjection[] = [
    { kind: 'spike', account: member, service: EC2_COMPUTE_SERVICE, from: '2026-03-10', factor: 3 },
  ];
  const base = finalCostLines(PAYER, DAY);
  const spiked = finalCostLines(PAYER, DAY, { injections });
  const target = (l: (typeof base)[number]) =>
    l.linkedAccount === member && l.service === EC2_COMPUTE_SERVICE && l.recordType === 'Usage';
  assert.ok(sum(base, target) > 0n);
  assert.equal(sum(spiked, target), sum(base, target) * 3n);
  assert.equal(sum(spiked), sum(base) + 2n * sum(base, target));
  // Per region and per account the sums add up to the same total (the lines themselves changed).
  const byRegion = new Map<string, bigint>();
  for (const l of spiked) byRegion.set(l.region, (byRegion.get(l.region) ?? 0n) + l.values.UnblendedCost);
  assert.equal(
    [...byRegion.values()].reduce((a, b) => a + b, 0n),
    sum(spiked),
  );
  // The next day is untouched: a spike lasts one day by default.
  assert.equal(sum(finalCostLines(PAYER, DAY + 1, { injections })), sum(finalCostLines(PAYER, DAY + 1)));
  // The cached base lines are not modified.
  assert.equal(sum(finalCostLines(PAYER, DAY)), sum(base));
});

test('an increase lasts its days; a new service adds its daily amount from its first day', () => {
  const member = linkedAccounts(PAYER)[1]?.id ?? '';
  const injections: CostInjection[] = [
    {
      kind: 'increase',
      account: member,
      service: EC2_COMPUTE_SERVICE,
      from: '2026-03-10',
      days: 3,
      factor: 1.5,
    },
    {
      kind: 'new_service',
      account: member,
      service: 'Amazon Bedrock',
      from: '2026-03-11',
      dailyAmount: '25.50',
    },
  ];
  const bedrock = (l: { service: string }) => l.service === 'Amazon Bedrock';
  assert.equal(sum(finalCostLines(PAYER, DAY, { injections }), bedrock), 0n);
  assert.equal(sum(finalCostLines(PAYER, DAY + 1, { injections }), bedrock), 255_000_000_000n);
  const ec2 = (d: number, inj?: CostInjection[]) =>
    sum(
      finalCostLines(PAYER, d, { injections: inj }),
      (l) => l.linkedAccount === member && l.service === EC2_COMPUTE_SERVICE && l.recordType === 'Usage',
    );
  // x1.5 per line, each rounded down to 1e-10: within a unit of the last place per line.
  const diff = (ec2(DAY + 2) * 3n) / 2n - ec2(DAY + 2, injections);
  assert.ok(diff >= 0n && diff < 100n, `difference ${diff}`);
  assert.equal(ec2(DAY + 3, injections), ec2(DAY + 3));
});

test('bad injections: each problem names its field', () => {
  const { problems } = mergeOptions(DEFAULT_OPTIONS, {
    costInjections: [{ kind: 'boom', account: '12', service: '', from: '2026-02-30', factor: -1 }],
  });
  assert.deepEqual(problems, [
    'costInjections[0].kind: must be spike, increase or new_service',
    'costInjections[0].account: must be a 12-digit account id',
    'costInjections[0].service: must be a service name',
    'costInjections[0].from: must be YYYY-MM-DD',
    'costInjections[0].factor: must be a number 0..1000',
  ]);
  assert.deepEqual(mergeOptions(DEFAULT_OPTIONS, { costInjections: 'x' }).problems, [
    'costInjections: must be a list',
  ]);
});
