/**
 * Cost Explorer reads of a fetch: GetCostAndUsage DAILY for both groupings CostWatch stores
 * (SERVICE x LINKED_ACCOUNT and SERVICE x REGION: AWS allows two GroupBy keys per query), every
 * page, turned into CostRow batches as they arrive (the next page is requested while the current
 * one is being written). Amounts stay the decimal strings AWS sent.
 */
import {
  GetCostAndUsageCommand,
  GetCostForecastCommand,
  type CostExplorerClient,
  type GetCostAndUsageCommandInput,
  type GetCostAndUsageCommandOutput,
} from '@aws-sdk/client-cost-explorer';
import type { CostGrouping, CostRow } from '../database/repositories/cost-data.repository.js';
import type { MonthForecast } from '../database/repositories/forecast-refreshes.repository.js';
import { MalformedDataError } from '../lib/aws-errors.js';

export const COST_METRICS = ['UnblendedCost', 'AmortizedCost', 'NetUnblendedCost', 'UsageQuantity'] as const;

const GROUPINGS: Record<CostGrouping, [string, string]> = {
  account_service: ['SERVICE', 'LINKED_ACCOUNT'],
  region_service: ['SERVICE', 'REGION'],
};

function rowsOfPage(page: GetCostAndUsageCommandOutput, grouping: CostGrouping): CostRow[] {
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
      rows.push({
        costDate: day,
        grouping,
        service,
        linkedAccount: grouping === 'account_service' ? second : '',
        region: grouping === 'region_service' ? second : '',
        unblendedCost: value('UnblendedCost'),
        amortizedCost: value('AmortizedCost'),
        netUnblendedCost: value('NetUnblendedCost'),
        usageQuantity: value('UsageQuantity'),
        unit: m.UnblendedCost?.Unit ?? 'USD',
        estimated: result.Estimated === true,
      });
    }
  }
  return rows;
}

/**
 * Every page of a GetCostAndUsage query. The first request is sent when this is called (not on
 * the first read), so several queries can be in flight at once; each next page is requested while
 * the current one is being written.
 */
function pagesOf(
  ce: CostExplorerClient,
  input: GetCostAndUsageCommandInput,
): AsyncGenerator<GetCostAndUsageCommandOutput> {
  const first = ce.send(new GetCostAndUsageCommand(input));
  // If the consumer stops early (an error while loading), a prefetch must not become an unhandled rejection.
  first.catch(() => undefined);
  return (async function* () {
    let pending: Promise<GetCostAndUsageCommandOutput> | null = first;
    const seen = new Set<string>();
    while (pending) {
      const page: GetCostAndUsageCommandOutput = await pending;
      const token = page.NextPageToken;
      if (token && seen.has(token))
        throw new MalformedDataError('GetCostAndUsage returned the same NextPageToken twice');
      if (token) seen.add(token);
      pending = token ? ce.send(new GetCostAndUsageCommand({ ...input, NextPageToken: token })) : null;
      pending?.catch(() => undefined);
      yield page;
    }
  })();
}

/** Every CostRow of [from, to), both groupings (their first pages requested together), as batches. */
export async function* costRowBatches(
  ce: CostExplorerClient,
  window: { from: string; to: string },
): AsyncGenerator<CostRow[]> {
  const streams = (Object.entries(GROUPINGS) as Array<[CostGrouping, [string, string]]>).map(
    ([grouping, keys]) => ({
      grouping,
      pages: pagesOf(ce, {
        TimePeriod: { Start: window.from, End: window.to },
        Granularity: 'DAILY',
        Metrics: [...COST_METRICS],
        GroupBy: keys.map((Key) => ({ Type: 'DIMENSION', Key })),
      }),
    }),
  );
  try {
    for (const { grouping, pages } of streams) {
      for await (const page of pages) yield rowsOfPage(page, grouping);
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
