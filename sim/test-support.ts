/**
 * Test helpers: a simulator on a free port and real AWS SDK clients pointed at it with fake
 * static credentials. Not a test file itself (no `.test.ts`).
 */
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import {
  CostExplorerClient,
  GetCostAndUsageCommand,
  type GetCostAndUsageCommandInput,
  type GetCostAndUsageCommandOutput,
} from '@aws-sdk/client-cost-explorer';
import { STSClient } from '@aws-sdk/client-sts';
import { formatFixed, parseFixed } from './money.js';
import type { SimOptions } from './options.js';
import { startSimulator, type RunningSimulator } from './server.js';

/** A fixed today so expectations do not move with the calendar. */
export const TEST_TODAY = '2026-03-15';
/** The simulator's frozen clock in these tests: noon of TEST_TODAY, so "now" is not the time of day either. */
export const TEST_NOW = `${TEST_TODAY}T12:00:00Z`;

export function startTestSimulator(options: Partial<SimOptions> = {}): Promise<RunningSimulator> {
  return startSimulator({ port: 0, clockStart: TEST_NOW, clockFrozen: true, ...options });
}

/** Long-term-looking access key that maps to `accountId`. */
export function accessKeyFor(accountId: string): string {
  return `AKIA${accountId}TEST`;
}

interface ClientOptions {
  accountId?: string;
  maxAttempts?: number;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

function config(sim: RunningSimulator, opts: ClientOptions) {
  return {
    endpoint: sim.url,
    region: 'us-east-1',
    maxAttempts: opts.maxAttempts ?? 3,
    credentials: opts.credentials ?? {
      accessKeyId: accessKeyFor(opts.accountId ?? '111122223333'),
      secretAccessKey: 'sim-secret',
    },
  };
}

export function costExplorer(sim: RunningSimulator, opts: ClientOptions = {}): CostExplorerClient {
  return new CostExplorerClient(config(sim, opts));
}

export function cloudWatch(sim: RunningSimulator, opts: ClientOptions = {}): CloudWatchClient {
  return new CloudWatchClient(config(sim, opts));
}

export function sts(sim: RunningSimulator, opts: ClientOptions = {}): STSClient {
  return new STSClient(config(sim, opts));
}

/** The error an SDK call rejects with, with the fields tests look at. */
export interface SdkError {
  name: string;
  message: string;
  $fault?: string;
  $metadata: { httpStatusCode?: number; attempts?: number };
}

/** Awaits a call expected to fail and returns its error. */
export async function failure(call: Promise<unknown>): Promise<SdkError> {
  try {
    await call;
  } catch (error) {
    return error as SdkError;
  }
  throw new Error('expected the call to fail');
}

/** Every page of a GetCostAndUsage query, following NextPageToken. */
export async function allPages(
  ce: CostExplorerClient,
  input: GetCostAndUsageCommandInput,
): Promise<GetCostAndUsageCommandOutput[]> {
  const pages: GetCostAndUsageCommandOutput[] = [];
  let token: string | undefined;
  do {
    const page = await ce.send(new GetCostAndUsageCommand({ ...input, NextPageToken: token }));
    pages.push(page);
    token = page.NextPageToken;
  } while (token);
  return pages;
}

/**
 * Per-day sums of `metric` over every page, exact: the groups' amounts, or the day's Total when
 * the query is not grouped. A missing amount fails the parse (never counts as zero).
 */
export function sumsByDay(
  pages: GetCostAndUsageCommandOutput[],
  metric = 'UnblendedCost',
): Map<string, string> {
  const sums = new Map<string, bigint>();
  for (const page of pages)
    for (const r of page.ResultsByTime ?? []) {
      const day = r.TimePeriod?.Start ?? '';
      const amounts = (r.Groups ?? []).length
        ? (r.Groups ?? []).map((g) => g.Metrics?.[metric]?.Amount ?? 'x')
        : [r.Total?.[metric]?.Amount ?? 'x'];
      for (const a of amounts) sums.set(day, (sums.get(day) ?? 0n) + parseFixed(a));
    }
  return new Map([...sums].map(([d, v]) => [d, formatFixed(v)]));
}
