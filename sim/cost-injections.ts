/**
 * Injected cost events (the anomaly knobs): from a day, one linked account's service spends more
 * (`spike` for `days` days, default 1; `increase` for `days` days, default for good) by `factor`,
 * or a `new_service` appears spending `dailyAmount` a day. Applied to the bill lines themselves,
 * so every grouping still sums to the same daily total.
 */
import type { CostLine, CostMetric } from './cost-data.js';
import { parseDay } from './calendar.js';
import { parseFixed, scale } from './money.js';

export interface CostInjection {
  kind: 'spike' | 'increase' | 'new_service';
  /** Linked account (12 digits) whose lines change. */
  account: string;
  service: string;
  /** First day, YYYY-MM-DD. */
  from: string;
  /** Days it lasts (spike default 1; increase and new_service default: for good). */
  days?: number;
  /** Multiplier of the service's usage cost (spike, increase), e.g. 3 or 1.4. */
  factor?: number;
  /** Daily cost of a new service, a decimal string (new_service). */
  dailyAmount?: string;
  /** Region of a new service's line (default us-east-1). */
  region?: string;
}

/** Validates a list of injections; returns the problems (empty when valid). */
export function costInjectionProblems(value: unknown): string[] {
  if (!Array.isArray(value)) return ['costInjections: must be a list'];
  const problems: string[] = [];
  value.forEach((raw: unknown, i) => {
    const at = `costInjections[${i}]`;
    if (typeof raw !== 'object' || raw === null) return problems.push(`${at}: must be an object`);
    const v = raw as Record<string, unknown>;
    if (v.kind !== 'spike' && v.kind !== 'increase' && v.kind !== 'new_service')
      problems.push(`${at}.kind: must be spike, increase or new_service`);
    if (typeof v.account !== 'string' || !/^\d{12}$/.test(v.account))
      problems.push(`${at}.account: must be a 12-digit account id`);
    if (typeof v.service !== 'string' || v.service === '' || v.service.length > 200)
      problems.push(`${at}.service: must be a service name`);
    if (typeof v.from !== 'string' || parseDay(v.from) === undefined)
      problems.push(`${at}.from: must be YYYY-MM-DD`);
    if (v.days !== undefined && (typeof v.days !== 'number' || !Number.isInteger(v.days) || v.days < 1))
      problems.push(`${at}.days: must be an integer >= 1`);
    if (v.kind !== 'new_service' && (typeof v.factor !== 'number' || !(v.factor >= 0 && v.factor <= 1000)))
      problems.push(`${at}.factor: must be a number 0..1000`);
    if (
      v.kind === 'new_service' &&
      (typeof v.dailyAmount !== 'string' || !/^\d{1,9}(\.\d{1,10})?$/.test(v.dailyAmount))
    )
      problems.push(`${at}.dailyAmount: must be a decimal string such as "25.00"`);
    if (v.region !== undefined && (typeof v.region !== 'string' || v.region === ''))
      problems.push(`${at}.region: must be a region code`);
    return undefined;
  });
  return problems;
}

function active(injection: CostInjection, day: number): boolean {
  const start = parseDay(injection.from);
  if (start === undefined || day < start) return false;
  const days = injection.days ?? (injection.kind === 'spike' ? 1 : Infinity);
  return day < start + days;
}

function scaled(values: Readonly<Record<CostMetric, bigint>>, ppm: bigint): Record<CostMetric, bigint> {
  const out = { ...values };
  for (const key of Object.keys(out) as CostMetric[]) out[key] = scale(out[key], ppm, 1_000_000n);
  return out;
}

/** The day's lines with the injections active on it applied (the same array when none is). */
export function applyCostInjections(
  lines: readonly CostLine[],
  day: number,
  injections: readonly CostInjection[] | undefined,
): readonly CostLine[] {
  const live = (injections ?? []).filter((inj) => active(inj, day));
  if (live.length === 0) return lines;
  let out: CostLine[] = [...lines];
  for (const inj of live) {
    if (inj.kind === 'new_service') {
      const amount = parseFixed(inj.dailyAmount ?? '0');
      const flat = {
        AmortizedCost: amount,
        BlendedCost: amount,
        NetAmortizedCost: amount,
        NetUnblendedCost: amount,
        UnblendedCost: amount,
        UsageQuantity: amount,
        NormalizedUsageAmount: 0n,
      };
      out.push({
        linkedAccount: inj.account,
        service: inj.service,
        region: inj.region ?? 'us-east-1',
        usageType: 'Injected-Usage',
        recordType: 'Usage',
        operation: 'None',
        unit: 'Hrs',
        values: flat,
        // A new service starts untagged and uncategorized.
        tags: {},
        costCategories: {},
      });
      continue;
    }
    const ppm = BigInt(Math.round((inj.factor ?? 1) * 1_000_000));
    out = out.map((line) =>
      line.linkedAccount === inj.account && line.service === inj.service && line.recordType === 'Usage'
        ? { ...line, values: scaled(line.values, ppm) }
        : line,
    );
  }
  return out;
}
