/**
 * Deterministic bill generator. A payer account's bill is generated at the finest grain the
 * simulator serves — day x linked account x service x region x usage type x record type —
 * and every Cost Explorer answer is an exact BigInt aggregation of these lines. Each value is
 * a pure function of (data seed, account id, day), so two simulators agree to the last digit
 * and tests can compute the truth without HTTP.
 */
import {
  COST_CENTER_SERVICES,
  EC2_COMPUTE_SERVICE,
  ENV_BY_ACCOUNT,
  PRODUCT_BY_TEAM,
  TEAM_TAGGED_PM,
  TEAM_VALUES,
  LINKED_ACCOUNT_NAMES,
  REGIONS,
  SAVINGS_PLANS_SERVICE,
  SERVICES,
  SUPPORT_SERVICE,
  TAX_SERVICE,
  WEEKLY_PM,
  type ServiceSpec,
} from './catalog.js';
import { dayOfMonth, dayOfWeek, parseDay } from './calendar.js';
import { applyCostInjections, type CostInjection } from './cost-injections.js';
import { formatFixed, scale, units } from './money.js';
import { accountIdFrom, extendPrefix, hashAfter, hashInt, hashPrefix, hashPrefixedInt } from './prng.js';

/** Cost Explorer metrics, as named in `Metrics` of GetCostAndUsage. */
export const COST_METRICS = [
  'AmortizedCost',
  'BlendedCost',
  'NetAmortizedCost',
  'NetUnblendedCost',
  'NormalizedUsageAmount',
  'UnblendedCost',
  'UsageQuantity',
] as const;
export type CostMetric = (typeof COST_METRICS)[number];

/** Dimensions the generator models (GroupBy, Filter and GetDimensionValues). */
export const COST_DIMENSIONS = [
  'SERVICE',
  'LINKED_ACCOUNT',
  'REGION',
  'USAGE_TYPE',
  'RECORD_TYPE',
  'OPERATION',
] as const;
export type CostDimension = (typeof COST_DIMENSIONS)[number];

/** One line of the simulated bill. Amounts are fixed point (1e-10 units). */
export interface CostLine {
  readonly linkedAccount: string;
  readonly service: string;
  readonly region: string;
  readonly usageType: string;
  readonly recordType: string;
  readonly operation: string;
  /** Unit of UsageQuantity for this line. */
  readonly unit: string;
  readonly values: Readonly<Record<CostMetric, bigint>>;
  /** Cost allocation tags (absent key: untagged). Shared between lines: never mutate. */
  readonly tags: Readonly<Record<string, string>>;
  /** Cost category values (absent: uncategorized). Shared between lines: never mutate. */
  readonly costCategories: Readonly<Record<string, string>>;
}

/** A GroupBy or filter key over bill lines: a dimension, a tag key or a cost category. */
export type LineKey =
  | { readonly type: 'DIMENSION'; readonly key: CostDimension }
  | { readonly type: 'TAG' | 'COST_CATEGORY'; readonly key: string };

/** A line's value for a key ('' when untagged / uncategorized). */
export function lineKeyValue(line: CostLine, key: LineKey): string {
  if (key.type === 'DIMENSION') return dimensionValue(line, key.key);
  return (key.type === 'TAG' ? line.tags : line.costCategories)[key.key] ?? '';
}

/** The group key Cost Explorer sends: the value, or `key$value` for tags and cost categories. */
export function lineKeyLabel(line: CostLine, key: LineKey): string {
  return key.type === 'DIMENSION' ? dimensionValue(line, key.key) : `${key.key}$${lineKeyValue(line, key)}`;
}

/** Options shared by the public data functions. */
export interface DataOptions {
  /** Seed mixed into every generated value; default `costwatch`. */
  dataSeed?: string;
  /** Injected cost events applied to the final lines (sim/cost-injections.ts). */
  injections?: readonly CostInjection[];
}

export const DEFAULT_DATA_SEED = 'costwatch';

/** A linked (member) account of a payer, with its display name. */
export interface LinkedAccount {
  readonly id: string;
  readonly name: string;
}

interface ServiceUse {
  readonly spec: ServiceSpec;
  readonly regions: ReadonlyArray<{
    readonly code: string;
    readonly prefix: string;
    readonly sharePm: number;
  }>;
  readonly blendPm: number;
  readonly startDay: number;
}

interface LinkedProfile extends LinkedAccount {
  readonly weightPm: number;
  readonly services: readonly ServiceUse[];
}

interface OrgProfile {
  readonly linked: readonly LinkedProfile[];
  readonly scalePm: number;
  readonly growthPpmPerYear: number;
  readonly edpPm: number;
  readonly taxPm: number;
  /** Daily Savings Plan commitment in fixed point; 0n when the org has none. */
  readonly savingsPlanDaily: bigint;
}

/** 2025-01-01: growth is measured from here so history before it is smaller. */
const GROWTH_ANCHOR_DAY = 20089;
const CORE_SERVICES = new Set([
  EC2_COMPUTE_SERVICE,
  'EC2 - Other',
  'Amazon Simple Storage Service',
  'AmazonCloudWatch',
  'AWS Key Management Service',
  'AWS Data Transfer',
  'AWS CloudTrail',
]);

const profiles = new Map<string, OrgProfile>();

function orgProfile(accountId: string, seed: string): OrgProfile {
  const key = `${seed}|${accountId}`;
  const cached = profiles.get(key);
  if (cached) return cached;
  const memberCount = hashInt(2, 4, seed, accountId, 'members');
  const primary = hashInt(0, 2, seed, accountId, 'primary-region') === 2 ? 2 : 0;
  const linked: LinkedProfile[] = [];
  for (let i = 0; i <= memberCount; i++) {
    // The payer itself carries little usage; its members carry the bill.
    const id = i === 0 ? accountId : accountIdFrom(seed, accountId, 'member', i);
    const name = i === 0 ? 'Management' : (LINKED_ACCOUNT_NAMES[i - 1] ?? `Member ${i}`);
    const weightPm = i === 0 ? 40 : hashInt(150, 900, seed, id, 'weight');
    const services: ServiceUse[] = [];
    for (const spec of SERVICES) {
      const wanted =
        CORE_SERVICES.has(spec.name) ||
        (spec.name === 'AWS Cost Explorer' ? i === 0 : hashInt(0, 99, seed, id, spec.name, 'uses') < 55);
      if (!wanted) continue;
      services.push({
        spec,
        regions: regionsFor(spec, seed, id, primary),
        blendPm: hashInt(985, 1015, seed, id, spec.name, 'blend'),
        // One service in five is adopted during the history window, so new services appear.
        startDay:
          hashInt(0, 99, seed, id, spec.name, 'new') < 20
            ? GROWTH_ANCHOR_DAY + hashInt(-330, 60, seed, id, spec.name, 'start')
            : Number.MIN_SAFE_INTEGER,
      });
    }
    linked.push({ id, name, weightPm, services });
  }
  const profile: OrgProfile = {
    linked,
    scalePm: hashInt(300, 2500, seed, accountId, 'scale'),
    growthPpmPerYear: hashInt(80_000, 350_000, seed, accountId, 'growth'),
    edpPm: [0, 20, 30, 50][hashInt(0, 3, seed, accountId, 'edp')] ?? 0,
    taxPm: [0, 70, 80, 200][hashInt(0, 3, seed, accountId, 'tax')] ?? 0,
    savingsPlanDaily:
      hashInt(0, 9, seed, accountId, 'sp') < 6 ? units(hashInt(40, 160, seed, accountId, 'sp-amount')) : 0n,
  };
  profiles.set(key, profile);
  return profile;
}

function regionsFor(
  spec: ServiceSpec,
  seed: string,
  linkedId: string,
  primary: number,
): ServiceUse['regions'] {
  if (spec.placement !== 'regional') return [{ code: spec.placement, prefix: '', sharePm: 1000 }];
  const count = hashInt(1, 3, seed, linkedId, spec.name, 'region-count');
  const picked: number[] = [primary];
  for (let n = 0; picked.length < count && n < 10; n++) {
    const candidate = hashInt(0, REGIONS.length - 1, seed, linkedId, spec.name, 'region', n);
    if (!picked.includes(candidate)) picked.push(candidate);
  }
  // The primary region gets most of the spend; the rest share what remains.
  const secondaryShare = picked.length > 1 ? Math.floor(350 / (picked.length - 1)) : 0;
  return picked.map((index, position) => {
    const region = REGIONS[index] ?? { code: 'us-east-1', prefix: '' };
    const sharePm = position === 0 ? 1000 - secondaryShare * (picked.length - 1) : secondaryShare;
    return { code: region.code, prefix: region.prefix, sharePm };
  });
}

/** Linked accounts of a payer, payer first. */
export function linkedAccounts(accountId: string, opts: DataOptions = {}): LinkedAccount[] {
  return orgProfile(accountId, opts.dataSeed ?? DEFAULT_DATA_SEED).linked.map(({ id, name }) => ({
    id,
    name,
  }));
}

type Values = Record<CostMetric, bigint>;

function costValues(
  cost: bigint,
  amortized: bigint,
  edpPm: bigint,
  blendPm: bigint,
  quantity: bigint,
  normalized: bigint,
): Values {
  // Without an EDP discount the net cost is the cost (scale by 0 is 0n).
  const netCost = edpPm === 0n ? cost : cost - scale(cost, edpPm, 1000n);
  return {
    UnblendedCost: cost,
    BlendedCost: scale(cost, blendPm, 1000n),
    AmortizedCost: amortized,
    NetUnblendedCost: netCost,
    NetAmortizedCost: amortized === cost ? netCost : amortized - scale(amortized, edpPm, 1000n),
    UsageQuantity: quantity,
    NormalizedUsageAmount: normalized,
  };
}

/** Same signed amount on every cost metric, no usage: credits, refunds, tax, support. */
function flatValues(amount: bigint): Values {
  return {
    UnblendedCost: amount,
    BlendedCost: amount,
    AmortizedCost: amount,
    NetUnblendedCost: amount,
    NetAmortizedCost: amount,
    UsageQuantity: 0n,
    NormalizedUsageAmount: 0n,
  };
}

function growthPpm(profile: OrgProfile, day: number): bigint {
  const ppm = 1_000_000 + Math.trunc((profile.growthPpmPerYear * (day - GROWTH_ANCHOR_DAY)) / 365);
  return BigInt(Math.max(300_000, ppm));
}

/** One usage line of a member's service in a region, with the day-independent part of its cost. */
interface UsageSlot {
  readonly region: string;
  readonly usageType: string;
  readonly operation: string;
  readonly unit: string;
  /** `units(dailyDollars)` scaled by member weight x org scale, then by region x usage share. */
  readonly baseCost: bigint;
  readonly unitsPerDollar: bigint;
  readonly normalizationFactor: bigint;
  /** Covered by the Savings Plan (EC2 BoxUsage). */
  readonly boxUsage: boolean;
  /** `hashPrefix(seed, member, service, region, usage type)`: the daily noise hash before the day. */
  readonly noisePrefix: number;
}

interface ServicePlan {
  readonly use: ServiceUse;
  readonly tags: Readonly<Record<string, string>>;
  readonly costCategories: Readonly<Record<string, string>>;
  readonly blendPm: bigint;
  /** `hashPrefix(seed, member, service)`: the spike hashes before the day. */
  readonly prefix: number;
  readonly slots: readonly UsageSlot[];
}

/**
 * What `generateDay` needs of an org that does not depend on the day, computed once per
 * (seed, account): the same values the per-day arithmetic used to derive every time.
 */
interface OrgPlan {
  readonly profile: OrgProfile;
  readonly edpPm: bigint;
  readonly members: ReadonlyArray<{
    readonly member: LinkedProfile;
    readonly services: readonly ServicePlan[];
    /** Cost categories of the member's untagged lines (fees). */
    readonly feeCategories: Readonly<Record<string, string>>;
  }>;
}

function environmentOf(member: LinkedProfile): string {
  return member.name === 'Management'
    ? 'Shared'
    : member.name === 'Production'
      ? 'Production'
      : 'Non-Production';
}

/** Tags of a member's service: a pure function of (seed, member, service). */
function serviceTags(seed: string, member: LinkedProfile, service: string): Record<string, string> {
  const tags: Record<string, string> = {};
  const team = hashInt(0, 999, seed, member.id, service, 'tag-team');
  if (team < TEAM_TAGGED_PM) tags.team = TEAM_VALUES[team % TEAM_VALUES.length] ?? 'platform';
  const env = ENV_BY_ACCOUNT[member.name];
  if (env && hashInt(0, 99, seed, member.id, service, 'tag-env') < 85) tags.env = env;
  const costCenter = COST_CENTER_SERVICES[service];
  if (costCenter) tags['cost-center'] = costCenter;
  return tags;
}

function categoriesOf(member: LinkedProfile, tags: Readonly<Record<string, string>>): Record<string, string> {
  const categories: Record<string, string> = { Environment: environmentOf(member) };
  const product = tags.team === undefined ? undefined : PRODUCT_BY_TEAM[tags.team];
  if (product) categories.Product = product;
  return categories;
}

const NO_TAGS: Readonly<Record<string, string>> = Object.freeze({});

const MAX_CACHED_PLANS = 2000;
const plans = new Map<string, OrgPlan>();

function orgPlan(accountId: string, seed: string): OrgPlan {
  const key = `${seed}|${accountId}`;
  const cached = plans.get(key);
  if (cached) return cached;
  const profile = orgProfile(accountId, seed);
  const members = profile.linked.map((member) => ({
    member,
    services: member.services.map((use): ServicePlan => {
      const slots: UsageSlot[] = [];
      const memberCost = scale(
        units(use.spec.dailyDollars),
        BigInt(member.weightPm) * BigInt(profile.scalePm),
        1_000_000n,
      );
      for (const region of use.regions) {
        for (const usage of use.spec.usageTypes) {
          slots.push({
            region: region.code,
            usageType: `${region.prefix}${usage.name}`,
            operation: usage.operation,
            unit: usage.unit,
            baseCost: scale(memberCost, BigInt(region.sharePm) * BigInt(usage.sharePm), 1_000_000n),
            unitsPerDollar: BigInt(usage.unitsPerDollar),
            normalizationFactor: BigInt(usage.normalizationFactor),
            boxUsage: usage.name.startsWith('BoxUsage'),
            noisePrefix: hashPrefix(seed, member.id, use.spec.name, region.code, usage.name),
          });
        }
      }
      const tags = serviceTags(seed, member, use.spec.name);
      return {
        use,
        tags,
        costCategories: categoriesOf(member, tags),
        blendPm: BigInt(use.blendPm),
        prefix: hashPrefix(seed, member.id, use.spec.name),
        slots,
      };
    }),
    feeCategories: categoriesOf(member, NO_TAGS),
  }));
  const plan: OrgPlan = { profile, edpPm: BigInt(profile.edpPm), members };
  if (plans.size >= MAX_CACHED_PLANS) {
    const oldest = plans.keys().next();
    if (!oldest.done) plans.delete(oldest.value);
  }
  plans.set(key, plan);
  return plan;
}

/**
 * Generates the final (restated, closed) bill lines of one day. `expected` drops noise,
 * spikes, credits and refunds: the smooth model the forecast extrapolates.
 */
function generateDay(accountId: string, day: number, seed: string, expected: boolean): CostLine[] {
  const plan = orgPlan(accountId, seed);
  const profile = plan.profile;
  const lines: CostLine[] = [];
  const weekday = dayOfWeek(day);
  const growth = growthPpm(profile, day);
  const firstOfMonth = dayOfMonth(day) === 1;
  let orgUsage = 0n;
  let payerCategories: Readonly<Record<string, string>> = NO_TAGS;
  for (const { member, services, feeCategories } of plan.members) {
    if (member.id === accountId) payerCategories = feeCategories;
    let memberUsage = 0n;
    let ec2Usage = 0n;
    let ec2Line: { region: string; usageType: string; service: ServicePlan } | undefined;
    for (const service of services) {
      const use = service.use;
      if (day < use.startDay) continue;
      // hashInt(0, 999, seed, member, service, day, 'spike') and hashInt(2, 4, ..., 'spike-size').
      const spike =
        !expected && hashAfter(service.prefix, day, 'spike') % 1000 < 12
          ? 2 + (hashAfter(service.prefix, day, 'spike-size') % 3)
          : 1;
      const weeklyPm = WEEKLY_PM[use.spec.pattern][weekday] ?? 1000;
      const isEc2 = use.spec.name === EC2_COMPUTE_SERVICE;
      for (const slot of service.slots) {
        // hashInt(930, 1070, seed, member, service, region, usage type, day).
        const noisePm = expected ? 1000 : 930 + (hashPrefixedInt(slot.noisePrefix, day) % 141);
        // The product stays below 2^53, so it is the exact BigInt product of the three factors.
        let cost = scale(slot.baseCost, BigInt(weeklyPm * noisePm * spike), 1_000_000n);
        cost = scale(cost, growth, 1_000_000n);
        const quantity = cost * slot.unitsPerDollar;
        lines.push({
          linkedAccount: member.id,
          service: use.spec.name,
          region: slot.region,
          usageType: slot.usageType,
          recordType: 'Usage',
          operation: slot.operation,
          unit: slot.unit,
          tags: service.tags,
          costCategories: service.costCategories,
          values: costValues(
            cost,
            cost,
            plan.edpPm,
            service.blendPm,
            quantity,
            slot.normalizationFactor === 0n ? 0n : quantity * slot.normalizationFactor,
          ),
        });
        memberUsage += cost;
        if (isEc2) {
          ec2Usage += cost;
          ec2Line ??= { region: slot.region, usageType: slot.usageType, service };
          if (profile.savingsPlanDaily > 0n && slot.boxUsage) {
            // Savings Plans negate part of the covered on-demand cost; amortized keeps the SP rate.
            const covered = scale(cost, 700n, 1000n);
            lines.push({
              linkedAccount: member.id,
              service: use.spec.name,
              region: slot.region,
              usageType: slot.usageType,
              recordType: 'SavingsPlanNegation',
              operation: slot.operation,
              unit: slot.unit,
              tags: service.tags,
              costCategories: service.costCategories,
              values: costValues(-covered, -scale(covered, 280n, 1000n), plan.edpPm, 1000n, 0n, 0n),
            });
          }
        }
      }
    }
    if (!expected && ec2Line && hashInt(0, 99, seed, member.id, day, 'credit') < 4) {
      const credit = -scale(ec2Usage, BigInt(hashInt(100, 600, seed, member.id, day, 'credit-size')), 1000n);
      lines.push({
        linkedAccount: member.id,
        service: EC2_COMPUTE_SERVICE,
        region: ec2Line.region,
        usageType: ec2Line.usageType,
        recordType: 'Credit',
        operation: 'None',
        unit: 'N/A',
        tags: ec2Line.service.tags,
        costCategories: ec2Line.service.costCategories,
        values: flatValues(credit),
      });
    }
    if (firstOfMonth && profile.taxPm > 0) {
      // Tax posts on the first of the month for the month before, roughly 30 days of usage.
      lines.push(
        fee(
          member.id,
          TAX_SERVICE,
          'NoRegion',
          'Tax',
          'Tax',
          scale(memberUsage * 30n, BigInt(profile.taxPm), 1000n),
          feeCategories,
        ),
      );
    }
    orgUsage += memberUsage;
  }
  const payer = accountId;
  if (firstOfMonth) {
    const support = scale(orgUsage * 30n, 100n, 1000n);
    lines.push(
      fee(
        payer,
        SUPPORT_SERVICE,
        'NoRegion',
        'Dollar',
        'Support',
        support > units(100) ? support : units(100),
        payerCategories,
      ),
    );
  }
  if (profile.savingsPlanDaily > 0n) {
    lines.push({
      linkedAccount: payer,
      service: SAVINGS_PLANS_SERVICE,
      region: 'global',
      usageType: 'ComputeSP:1yrNoUpfront',
      recordType: 'SavingsPlanRecurringFee',
      operation: 'None',
      unit: 'Hrs',
      tags: NO_TAGS,
      costCategories: payerCategories,
      values: { ...costValues(profile.savingsPlanDaily, 0n, plan.edpPm, 1000n, units(24), 0n) },
    });
  }
  if (!expected && hashInt(0, 99, seed, accountId, day, 'refund') < 2) {
    const refund = -units(hashInt(5, 80, seed, accountId, day, 'refund-size'));
    lines.push(
      fee(
        payer,
        'Amazon Simple Storage Service',
        'us-east-1',
        'TimedStorage-ByteHrs',
        'Refund',
        refund,
        payerCategories,
      ),
    );
  }
  return lines;
}

function fee(
  linkedAccount: string,
  service: string,
  region: string,
  usageType: string,
  recordType: string,
  amount: bigint,
  costCategories: Readonly<Record<string, string>>,
): CostLine {
  return {
    linkedAccount,
    service,
    region,
    usageType,
    recordType,
    operation: 'None',
    unit: 'N/A',
    tags: NO_TAGS,
    costCategories,
    values: flatValues(amount),
  };
}

const MAX_CACHED_DAYS = 6000;
const dayCache = new Map<string, readonly CostLine[]>();

/** Final bill lines of one day (cached; treat as immutable). */
export function finalCostLines(accountId: string, day: number, opts: DataOptions = {}): readonly CostLine[] {
  const seed = opts.dataSeed ?? DEFAULT_DATA_SEED;
  const key = `${seed}|${accountId}|${day}`;
  const cached = dayCache.get(key);
  if (cached) return applyCostInjections(cached, day, opts.injections);
  const lines = generateDay(accountId, day, seed, false);
  if (dayCache.size >= MAX_CACHED_DAYS) {
    const oldest = dayCache.keys().next();
    if (!oldest.done) dayCache.delete(oldest.value);
  }
  dayCache.set(key, lines);
  return applyCostInjections(lines, day, opts.injections);
}

/** Options for lines as Cost Explorer reports them on a given "today". */
export interface ReportedLinesOptions extends DataOptions {
  /** Day index the simulator considers today. */
  today: number;
  /** Changes the estimates of not-yet-final days; same revision gives the same estimate. */
  revision: number;
}

/** How many days before today are still `Estimated` (today itself is estimated too). */
export const ESTIMATED_DAYS = 2;

/** Whether Cost Explorer would flag the day as Estimated. */
export function isEstimatedDay(day: number, today: number): boolean {
  return day >= today - ESTIMATED_DAYS;
}

/**
 * A day's bill as reported on `today`: its final lines and, while the day is still estimated,
 * the per-line factor (parts per million) that puts each estimate a few percent below the
 * final value. Days after today have no lines.
 */
export interface ReportedDay {
  readonly lines: readonly CostLine[];
  /** Estimate factor of `lines[i]`; undefined when the day is final. */
  readonly estimates: readonly bigint[] | undefined;
}

const NO_LINES: ReportedDay = { lines: [], estimates: undefined };

/**
 * Bill lines as reported on `today`: nothing after today; the last days before today (and
 * today) are estimates a few percent below the final value and move with `revision`. Read a
 * value with `reportedValue`.
 */
export function reportedDay(accountId: string, day: number, opts: ReportedLinesOptions): ReportedDay {
  if (day > opts.today) return NO_LINES;
  const lines = finalCostLines(accountId, day, opts);
  if (!isEstimatedDay(day, opts.today)) return { lines, estimates: undefined };
  const seed = opts.dataSeed ?? DEFAULT_DATA_SEED;
  // hashInt(1, 40_000, seed, accountId, day, index, revision, 'estimate') per line.
  const dayPrefix = hashPrefix(seed, accountId, day);
  const estimates = lines.map((_, index) => {
    const hash = hashAfter(extendPrefix(extendPrefix(dayPrefix, index), opts.revision), 'estimate');
    return BigInt(1_000_000 - (1 + (hash % 40_000)));
  });
  return { lines, estimates };
}

/** The reported value of `metric` of a line with its estimate factor (undefined: final). */
export function reportedValue(line: CostLine, estimate: bigint | undefined, metric: CostMetric): bigint {
  const value = line.values[metric];
  return estimate === undefined ? value : scale(value, estimate, 1_000_000n);
}

/** Smooth bill lines of a day (no noise, spikes, credits or refunds): the model GetCostForecast extrapolates. */
export function expectedCostLines(
  accountId: string,
  day: number,
  opts: DataOptions = {},
): readonly CostLine[] {
  return generateDay(accountId, day, opts.dataSeed ?? DEFAULT_DATA_SEED, true);
}

const MAX_CACHED_EXPECTED_TOTALS = 50_000;
const expectedTotals = new Map<string, bigint>();

/**
 * Sum of `metric` over `expectedCostLines` of a day (cached: an unfiltered forecast reads the
 * same future days again on every call).
 */
export function expectedDayTotal(
  accountId: string,
  day: number,
  metric: CostMetric,
  opts: DataOptions = {},
): bigint {
  const seed = opts.dataSeed ?? DEFAULT_DATA_SEED;
  const key = `${seed}|${accountId}|${day}|${metric}`;
  const cached = expectedTotals.get(key);
  if (cached !== undefined) return cached;
  let total = 0n;
  for (const line of generateDay(accountId, day, seed, true)) total += line.values[metric];
  if (expectedTotals.size >= MAX_CACHED_EXPECTED_TOTALS) {
    const oldest = expectedTotals.keys().next();
    if (!oldest.done) expectedTotals.delete(oldest.value);
  }
  expectedTotals.set(key, total);
  return total;
}

/**
 * Exact decimal string of the FINAL ungrouped daily total of `metric` (default
 * UnblendedCost) for a payer account: what GetCostAndUsage returns for that day once it is
 * no longer estimated. Throws on a malformed day.
 */
export function expectedDailyTotal(
  accountId: string,
  day: string,
  metric: string = 'UnblendedCost',
  opts: DataOptions = {},
): string {
  const index = parseDay(day);
  if (index === undefined) throw new Error(`expectedDailyTotal: not a YYYY-MM-DD date: ${day}`);
  if (!isCostMetric(metric)) throw new Error(`expectedDailyTotal: unknown metric ${metric}`);
  let total = 0n;
  for (const line of finalCostLines(accountId, index, opts)) total += line.values[metric];
  return formatFixed(total);
}

export function isCostMetric(name: string): name is CostMetric {
  return (COST_METRICS as readonly string[]).includes(name);
}

/** The value a line has for a dimension. */
export function dimensionValue(line: CostLine, dimension: CostDimension): string {
  switch (dimension) {
    case 'SERVICE':
      return line.service;
    case 'LINKED_ACCOUNT':
      return line.linkedAccount;
    case 'REGION':
      return line.region;
    case 'USAGE_TYPE':
      return line.usageType;
    case 'RECORD_TYPE':
      return line.recordType;
    case 'OPERATION':
      return line.operation;
  }
}
