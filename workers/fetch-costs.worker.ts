/** Cost fetch: GetCostAndUsage for the window -> COPY into cost_data -> rollup enqueued. */
import type { Job } from 'bullmq';
import type { AwsGateway } from '../lib/aws.js';
import { addMonths, todayUtc } from '../lib/dates.js';
import { replaceCostWindow } from '../database/repositories/cost-data.repository.js';
import { recordCostRefresh } from '../database/repositories/organizations.repository.js';
import { orgDimensions } from '../database/repositories/dimensions.repository.js';
import { fetchGroupings } from '../lib/dimensions.js';
import { costRowBatches, fetchForecast } from './cost-explorer.js';
import { runFetchJob, type FetchJobDeps, type FetchResult } from './fetch-job.js';

export interface FetchCostsDeps extends FetchJobDeps {
  aws: AwsGateway;
  now?: () => Date;
}

export function createFetchCostsProcessor(deps: FetchCostsDeps) {
  return (job: Job, token?: string): Promise<FetchResult> =>
    runFetchJob(job, token, deps, 'costs', async (org, data) => {
      const ce = deps.aws.costExplorer(org);
      // The dimension registry decides the queries: one per grouping the org loads.
      const groupings = fetchGroupings(await orgDimensions(deps.db, org.id));
      const names = new Map<string, string>();
      const load = await replaceCostWindow(
        deps.db,
        org.id,
        data,
        costRowBatches(ce, data, groupings, names),
        names,
      );
      const today = todayUtc(deps.now?.());
      // A refresh that reaches today also refreshes the month's forecast (one more request).
      const forecast =
        data.trigger !== 'backfill' && data.to > today
          ? await fetchForecast(ce, { from: today, to: addMonths(today, 1) })
          : null;
      // The org's success is recorded with the forecast, in one statement (one round trip).
      await recordCostRefresh(deps.db, org.id, { estimatedFrom: load.estimatedFrom, today, forecast });
      return { rows: load.rows, window: { from: data.from, to: data.to } };
    });
}
