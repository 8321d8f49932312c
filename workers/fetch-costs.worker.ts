/** Cost fetch: GetCostAndUsage for the window -> COPY into cost_data -> rollup enqueued. */
import type { Job } from 'bullmq';
import type { AwsGateway } from '../lib/aws.js';
import { addMonths, todayUtc } from '../lib/dates.js';
import { replaceCostWindow } from '../database/repositories/cost-data.repository.js';
import { recordCostRefresh } from '../database/repositories/organizations.repository.js';
import { costRowBatches, fetchForecast } from './cost-explorer.js';
import { runFetchJob, type FetchJobDeps, type FetchResult } from './fetch-job.js';
import { enqueueBudgetEvaluation } from '../producers/notifications.js';

export interface FetchCostsDeps extends FetchJobDeps {
  aws: AwsGateway;
  now?: () => Date;
}

export function createFetchCostsProcessor(deps: FetchCostsDeps) {
  return (job: Job, token?: string): Promise<FetchResult> =>
    runFetchJob(job, token, deps, 'costs', async (org, data) => {
      const ce = deps.aws.costExplorer(org);
      const load = await replaceCostWindow(deps.db, org.id, data, costRowBatches(ce, data));
      const today = todayUtc(deps.now?.());
      // A refresh that reaches today also refreshes the month's forecast (one more request).
      const forecast =
        data.trigger !== 'backfill' && data.to > today
          ? await fetchForecast(ce, { from: today, to: addMonths(today, 1) })
          : null;
      // The org's success is recorded with the forecast, in one statement (one round trip).
      await recordCostRefresh(deps.db, org.id, { estimatedFrom: load.estimatedFrom, today, forecast });
      if (forecast) await enqueueBudgetEvaluation(deps.queues, org.id); // budgets: after every forecast refresh
      return { rows: load.rows, window: { from: data.from, to: data.to } };
    });
}
