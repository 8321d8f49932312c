/**
 * The restatement probe: which days of a refresh window Cost Explorer changed since CostWatch
 * stored them, for one request. One ungrouped DAILY GetCostAndUsage over the window (one page:
 * an ungrouped query has one result per day) gives each day's totals of every metric; they are
 * compared with the stored per-day totals of the grouping the summary sums (account_service), and
 * only the changed days are fetched grouped, in as few windows as possible.
 *
 * Estimated days: AWS may answer the two groupings (and the probe) from different revisions of
 * an estimate, so on an Estimated day region_service can disagree with account_service. The probe
 * compares with account_service (what /costs/summary sums); a day stored Estimated that the probe
 * reports final is always re-read, so both groupings are exact once the day is final.
 *
 * The probe cannot decide (the caller re-reads the whole window) when its answer is paged or lacks
 * a day or a total.
 */
import { GetCostAndUsageCommand, type CostExplorerClient } from '@aws-sdk/client-cost-explorer';
import {
  fullReadDone,
  recordFullRead,
  storedDayTotals,
  type StoredDayTotal,
} from '../database/repositories/restatement.repository.js';
import type { Queryable } from '../lib/db.js';
import { addDays, addMonths, startOfMonth, type DateWindow } from '../lib/dates.js';
import { COST_METRICS } from './cost-explorer.js';

/** The metrics a day's totals are compared on, and the stored column each is summed from. */
const COMPARED: ReadonlyArray<[(typeof COST_METRICS)[number], keyof StoredDayTotal]> = [
  ['UnblendedCost', 'unblendedCost'],
  ['AmortizedCost', 'amortizedCost'],
  ['NetUnblendedCost', 'netUnblendedCost'],
  ['NetAmortizedCost', 'netAmortizedCost'],
  ['UsageQuantity', 'usageQuantity'],
];

/** A day's totals as the probe saw them. */
export interface ProbedDay {
  totals: Record<(typeof COST_METRICS)[number], string>;
  estimated: boolean;
}

/** Differences at or below this (in the metric's unit) are rounding of the sum of groups, not restatements. */
export const PROBE_TOLERANCE = '0.000001';

/**
 * Each day's totals of [from, to), or null when the answer cannot decide (paged, a day or a
 * total missing). One request.
 */
export async function probeDayTotals(
  ce: CostExplorerClient,
  window: DateWindow,
): Promise<Map<string, ProbedDay> | null> {
  const page = await ce.send(
    new GetCostAndUsageCommand({
      TimePeriod: { Start: window.from, End: window.to },
      Granularity: 'DAILY',
      Metrics: [...COST_METRICS],
    }),
  );
  if (page.NextPageToken || !Array.isArray(page.ResultsByTime)) return null;
  const days = new Map<string, ProbedDay>();
  for (const result of page.ResultsByTime) {
    const day = result.TimePeriod?.Start;
    if (!day) return null;
    const totals = {} as ProbedDay['totals'];
    for (const metric of COST_METRICS) {
      const amount = result.Total?.[metric]?.Amount;
      if (typeof amount !== 'string' || !/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(amount)) return null;
      totals[metric] = amount;
    }
    days.set(day, { totals, estimated: result.Estimated === true });
  }
  for (let day = window.from; day < window.to; day = addDays(day, 1)) if (!days.has(day)) return null;
  return days;
}

const SCALE = 18;

/** A decimal string as an integer of 10^-18 units (exact for Cost Explorer's amounts). */
export function decimalUnits(text: string): bigint {
  const match = /^(-?)(\d*)(?:\.(\d*))?(?:[eE]([-+]?\d+))?$/.exec(text.trim());
  if (!match) throw new Error(`not a decimal: ${JSON.stringify(text)}`);
  const [, sign = '', whole = '', fraction = '', exponent = '0'] = match;
  const shift = SCALE + Number(exponent);
  const digits = `${whole}${fraction}`.replace(/^0+(?=\d)/, '') || '0';
  const point = digits.length - fraction.length + shift;
  const value =
    point <= 0
      ? 0n
      : BigInt(point >= digits.length ? digits + '0'.repeat(point - digits.length) : digits.slice(0, point));
  return sign === '-' ? -value : value;
}

const TOLERANCE_UNITS = decimalUnits(PROBE_TOLERANCE);

/** Whether the probe's day differs from what is stored (no stored groups: any non-zero total). */
export function dayChanged(probed: ProbedDay, stored: StoredDayTotal | undefined): boolean {
  if (!stored) return COMPARED.some(([metric]) => decimalUnits(probed.totals[metric]) !== 0n);
  // A day stored Estimated that AWS now reports final is re-read: both groupings become exact.
  if (stored.estimated && !probed.estimated) return true;
  return COMPARED.some(([metric, column]) => {
    const value = stored[column];
    // Stored before migration 0012 (no NetAmortizedCost): re-read, so the day gets it.
    if (value === null) return true;
    const diff = decimalUnits(probed.totals[metric]) - decimalUnits(String(value));
    return (diff < 0n ? -diff : diff) > TOLERANCE_UNITS;
  });
}

/** The changed days of a probed window, in order. */
export function changedDays(probed: Map<string, ProbedDay>, stored: Map<string, StoredDayTotal>): string[] {
  return [...probed.entries()]
    .filter(([day, p]) => dayChanged(p, stored.get(day)))
    .map(([day]) => day)
    .sort();
}

/**
 * The fewest windows covering `days` (sorted) at no more pages: runs of consecutive days, and two
 * neighbouring runs merged when reading the days between them costs no extra page of
 * `groupsPerDay` x days / `pageSize` groups.
 */
export function fetchWindows(days: string[], groupsPerDay: number, pageSize = 500): DateWindow[] {
  const pages = (w: DateWindow) => Math.max(1, Math.ceil((Math.max(1, groupsPerDay) * daysIn(w)) / pageSize));
  const windows: DateWindow[] = [];
  for (const day of days) {
    const last = windows[windows.length - 1];
    const next = { from: day, to: addDays(day, 1) };
    if (last && last.to === day) last.to = next.to;
    else if (last && pages({ from: last.from, to: next.to }) <= pages(last) + pages(next)) last.to = next.to;
    else windows.push(next);
  }
  return windows;
}

function daysIn(w: DateWindow): number {
  return Math.round((Date.parse(`${w.to}T00:00:00Z`) - Date.parse(`${w.from}T00:00:00Z`)) / 86_400_000);
}

/** What a probed refresh needs of the cost fetch. */
export interface ProbedRefreshInput {
  db: Queryable;
  ce: CostExplorerClient;
  orgId: number;
  window: DateWindow;
  today: string;
  billCloseDay: number;
  /** Groups per page of the grouped reads (AWS: 500), for merging windows. */
  pageSize?: number;
  /**
   * Loads one window grouped (replacing its stored rows). `last`: the job's final load, which
   * closes its run; `inTransaction` runs in the load's transaction (the bill-close bookkeeping).
   */
  load(window: DateWindow, last: boolean, inTransaction?: (tx: Queryable) => Promise<void>): Promise<number>;
  /** Nothing changed: close the run without a load. */
  unchanged(): Promise<void>;
}

export interface ProbedRefreshResult {
  mode: 'full' | 'probed';
  /** Why a full re-read: 'bill-close' or 'undecided'. */
  reason?: 'bill-close' | 'undecided';
  rows: number;
  /** The days the loads replaced (the job's window after a full read; null when nothing changed). */
  changed: DateWindow | null;
  windows: DateWindow[];
}

/**
 * A scheduled or manual refresh: probe, then fetch grouped only the changed days, oldest window
 * first, each committed on its own (a job that stops part-way re-probes and finds the committed
 * windows unchanged). Re-reads the whole window once at bill close and when the probe cannot decide.
 */
export async function refreshByProbe(input: ProbedRefreshInput): Promise<ProbedRefreshResult> {
  const { window, today } = input;
  const previousMonth = addMonths(startOfMonth(today), -1);
  const atBillClose =
    window.from <= previousMonth &&
    Number(today.slice(8, 10)) >= input.billCloseDay &&
    !(await fullReadDone(input.db, input.orgId, previousMonth));
  if (atBillClose) {
    const rows = await input.load(window, true, (tx) => recordFullRead(tx, input.orgId, previousMonth));
    return { mode: 'full', reason: 'bill-close', rows, changed: window, windows: [window] };
  }
  const probed = await probeDayTotals(input.ce, window);
  if (!probed) {
    const rows = await input.load(window, true);
    return { mode: 'full', reason: 'undecided', rows, changed: window, windows: [window] };
  }
  const stored = await storedDayTotals(input.db, input.orgId, window, 'account_service');
  const days = changedDays(probed, stored);
  const groups = Math.max(1, ...[...stored.values()].map((s) => s.groups));
  const windows = fetchWindows(days, groups, input.pageSize ?? 500);
  if (windows.length === 0) {
    await input.unchanged();
    return { mode: 'probed', rows: 0, changed: null, windows };
  }
  let rows = 0;
  for (const [i, w] of windows.entries()) rows += await input.load(w, i === windows.length - 1);
  const first = windows[0] as DateWindow;
  const last = windows[windows.length - 1] as DateWindow;
  return { mode: 'probed', rows, changed: { from: first.from, to: last.to }, windows };
}
