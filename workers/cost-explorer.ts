/**
 * Cost Explorer reads of a fetch: GetCostAndUsage DAILY for every grouping the dimension registry
 * lists for the organization (lib/dimensions.ts: SERVICE x LINKED_ACCOUNT, SERVICE x REGION,
 * SERVICE x RECORD_TYPE, and each tracked usage type, tag or cost category; AWS allows two GroupBy
 * keys per query), every page, turned into CostRow batches as they arrive (the next page is
 * requested while the current one is being written). Amounts stay the decimal strings AWS sent.
 * The LINKED_ACCOUNT query's DimensionValueAttributes carry the account names (no extra request).
 */
import { createHash } from 'node:crypto';
import {
  GetCostAndUsageCommand,
  GetCostForecastCommand,
  type CostExplorerClient,
  type GetCostAndUsageCommandInput,
  type GetCostAndUsageCommandOutput,
} from '@aws-sdk/client-cost-explorer';
import type { CostRow } from '../database/repositories/cost-data.repository.js';
import type { MonthForecast } from '../database/repositories/forecast-refreshes.repository.js';
import { MalformedDataError, awsErrorCode } from '../lib/aws-errors.js';
import { fetchGroupings, groupValue, loadedDimensions, type FetchGrouping } from '../lib/dimensions.js';

export const COST_METRICS = [
  'UnblendedCost',
  'AmortizedCost',
  'NetUnblendedCost',
  'NetAmortizedCost',
  'UsageQuantity',
] as const;

/** The groupings of an organization that tracks nothing optional. */
export const DEFAULT_GROUPINGS: readonly FetchGrouping[] = fetchGroupings(loadedDimensions([]));

function rowsOfPage(page: GetCostAndUsageCommandOutput, grouping: FetchGrouping): CostRow[] {
  const column = grouping.dimension.column;
  if (!Array.isArray(page.ResultsByTime))
    throw new MalformedDataError('GetCostAndUsage response has no ResultsByTime');
  const rows: CostRow[] = [];
  for (const result of page.ResultsByTime) {
    const day = result.TimePeriod?.Start;
    if (!day || !/^\d{4}-\d{2}-\d{2}$/.test(day))
      throw new MalformedDataError(
        `GetCostAndUsage result without a valid TimePeriod.Start: ${JSON.stringify(day)}`,
      );
    for (const group of result.Groups ?? []) {
      const [service, second] = group.Keys ?? [];
      if (typeof service !== 'string' || typeof second !== 'string' || group.Keys?.length !== 2) {
        throw new MalformedDataError(
          `GetCostAndUsage group on ${day} has keys ${JSON.stringify(group.Keys)}, expected 2`,
        );
      }
      const m = group.Metrics ?? {};
      const value = (name: (typeof COST_METRICS)[number]): string => {
        const amount = m[name]?.Amount;
        if (typeof amount !== 'string')
          throw new MalformedDataError(`GetCostAndUsage group ${service} on ${day} lacks ${name}.Amount`);
        return amount;
      };
      const key = groupValue(grouping.dimension, second);
      rows.push({
        costDate: day,
        grouping: grouping.grouping,
        service,
        linkedAccount: column === 'linked_account' ? key : '',
        region: column === 'region' ? key : '',
        dimValue: column === 'dim_value' ? key : '',
        unblendedCost: value('UnblendedCost'),
        amortizedCost: value('AmortizedCost'),
        netUnblendedCost: value('NetUnblendedCost'),
        netAmortizedCost: value('NetAmortizedCost'),
        usageQuantity: value('UsageQuantity'),
        unit: m.UnblendedCost?.Unit ?? 'USD',
        usageUnit: m.UsageQuantity?.Unit ?? '',
        estimated: result.Estimated === true,
      });
    }
  }
  return rows;
}

/**
 * Where a job keeps the GetCostAndUsage pages it gets and finds those an earlier attempt of it got
 * (workers/page-checkpoints.ts): a retry of a window that failed part-way sends only the requests
 * whose answers it does not have.
 */
export interface PageCheckpoints {
  /** The page an earlier attempt got for this query and token ('' for the first page), if kept. */
  saved(query: string, token: string): GetCostAndUsageCommandOutput | undefined;
  /**
   * Keeps a page AWS just answered (in the background: the read does not wait for it). Called only
   * for pages with a NextPageToken: a query's last page is never kept.
   */
  save(query: string, token: string, page: GetCostAndUsageCommandOutput): void;
  /** AWS refused a token taken from a kept page: forget the kept pages, so the retry reads afresh. */
  refused(): Promise<void>;
}

/** A kept page's NextPageToken refused by AWS: the job is retried and reads the window afresh. */
export class KeptTokenRefusedError extends Error {
  override readonly name = 'KeptTokenRefusedError';
}

/** The key of a query's checkpoints: its grouping and a hash of the request without a page token. */
export function queryKey(grouping: string, input: GetCostAndUsageCommandInput): string {
  const { NextPageToken: _token, ...request } = input;
  return `${grouping}:${createHash('sha256').update(JSON.stringify(request)).digest('hex').slice(0, 16)}`;
}

interface Answer {
  page: GetCostAndUsageCommandOutput;
  /** Taken from a checkpoint, not sent. */
  kept: boolean;
}

/**
 * Every page of a GetCostAndUsage query. The first request is sent when this is called (not on
 * the first read), so several queries can be in flight at once; each next page is requested while
 * the current one is being written. With `checkpoints`, a page kept by an earlier attempt is used
 * instead of a request, and every page sent that has a next page is kept.
 */
function pagesOf(
  ce: CostExplorerClient,
  input: GetCostAndUsageCommandInput,
  kept?: { checkpoints: PageCheckpoints; query: string },
): AsyncGenerator<GetCostAndUsageCommandOutput> {
  const request = (token: string | undefined, tokenKept: boolean): Promise<Answer> => {
    const saved = kept?.checkpoints.saved(kept.query, token ?? '');
    if (saved) return Promise.resolve({ page: saved, kept: true });
    const sent = ce.send(new GetCostAndUsageCommand(token ? { ...input, NextPageToken: token } : input));
    if (!kept) return sent.then((page) => ({ page, kept: false }));
    return sent.then(
      (page) => {
        // Only a page with more to come is kept: a query's last page (a one-page query's only one)
        // costs a retry one request, the same as reading it back, and keeping it would write every
        // answer of a steady refresh (one page per grouping) to Postgres for nothing.
        if (page.NextPageToken) kept.checkpoints.save(kept.query, token ?? '', page);
        return { page, kept: false };
      },
      async (error: unknown) => {
        // AWS tokens do not live for ever: an old one is refused. The pages written so far cannot
        // be taken back, so this attempt fails (transient) and the next reads without checkpoints.
        if (tokenKept && awsErrorCode(error) === 'InvalidNextTokenException') {
          await kept.checkpoints.refused();
          throw new KeptTokenRefusedError(
            'Cost Explorer refused a NextPageToken kept from an earlier attempt; the window is read again',
          );
        }
        throw error;
      },
    );
  };
  const first = request(undefined, false);
  // If the consumer stops early (an error while loading), a prefetch must not become an unhandled rejection.
  first.catch(() => undefined);
  return (async function* () {
    let pending: Promise<Answer> | null = first;
    const seen = new Set<string>();
    while (pending) {
      const answer: Answer = await pending;
      const page: GetCostAndUsageCommandOutput = answer.page;
      const token: string | undefined = page.NextPageToken;
      if (token && seen.has(token))
        throw new MalformedDataError('GetCostAndUsage returned the same NextPageToken twice');
      if (token) seen.add(token);
      pending = token ? request(token, answer.kept) : null;
      pending?.catch(() => undefined);
      yield page;
    }
  })();
}

/** Linked account names from a page's DimensionValueAttributes (`description`), into `names`. */
function collectAccountNames(page: GetCostAndUsageCommandOutput, names: Map<string, string>): void {
  for (const attribute of page.DimensionValueAttributes ?? []) {
    const name = attribute.Attributes?.description;
    if (typeof attribute.Value === 'string' && typeof name === 'string' && name !== '')
      names.set(attribute.Value, name);
  }
}

/**
 * Every CostRow of [from, to), one query per grouping (their first pages requested together), as
 * batches. Account names seen on the way are added to `accountNames` when given; with
 * `checkpoints`, pages an earlier attempt got are reused and every page sent but a query's last is kept.
 */
export async function* costRowBatches(
  ce: CostExplorerClient,
  window: { from: string; to: string },
  groupings: readonly FetchGrouping[] = DEFAULT_GROUPINGS,
  accountNames?: Map<string, string>,
  checkpoints?: PageCheckpoints,
): AsyncGenerator<CostRow[]> {
  const streams = groupings.map((grouping) => {
    const input: GetCostAndUsageCommandInput = {
      TimePeriod: { Start: window.from, End: window.to },
      Granularity: 'DAILY',
      Metrics: [...COST_METRICS],
      GroupBy: grouping.groupBy.map((g) => ({ Type: g.Type, Key: g.Key })),
    };
    const kept = checkpoints && { checkpoints, query: queryKey(grouping.grouping, input) };
    return { grouping, pages: pagesOf(ce, input, kept) };
  });
  try {
    for (const { grouping, pages } of streams) {
      for await (const page of pages) {
        if (accountNames && grouping.dimension.name === 'account') collectAccountNames(page, accountNames);
        yield rowsOfPage(page, grouping);
      }
    }
  } finally {
    await Promise.all(streams.map(({ pages }) => pages.return(undefined).catch(() => undefined)));
  }
}

/** Cost Explorer's forecast of unblended cost for [from, to), or null when AWS has too little history. */
export async function fetchForecast(
  ce: CostExplorerClient,
  window: { from: string; to: string },
): Promise<MonthForecast | null> {
  try {
    const response = await ce.send(
      new GetCostForecastCommand({
        TimePeriod: { Start: window.from, End: window.to },
        Metric: 'UNBLENDED_COST',
        Granularity: 'MONTHLY',
        PredictionIntervalLevel: 80,
      }),
    );
    const mean = response.Total?.Amount;
    if (typeof mean !== 'string')
      throw new MalformedDataError('GetCostForecast response has no Total.Amount');
    const interval = response.ForecastResultsByTime?.[0];
    return {
      mean,
      lower: interval?.PredictionIntervalLowerBound ?? null,
      upper: interval?.PredictionIntervalUpperBound ?? null,
      unit: response.Total?.Unit ?? 'USD',
    };
  } catch (error) {
    // A new account has no history to forecast from: not a failure of the fetch.
    if (error instanceof Error && error.name === 'DataUnavailableException') return null;
    throw error;
  }
}
