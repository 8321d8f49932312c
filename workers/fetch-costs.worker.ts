/**
 * Cost fetch: GetCostAndUsage for the window -> COPY into cost_data, committed with the run's
 * success and the org's Estimated-day bookkeeping -> rollup enqueued -> a refresh that reaches
 * today enqueues the org's daily forecast (its own job: a forecast failure never touches the load).
 */
import type { Job } from 'bullmq';
import type { AwsGateway } from '../lib/aws.js';
import type { Now } from '../lib/clock.js';
import { todayUtc } from '../lib/dates.js';
import { replaceCostWindow } from '../database/repositories/cost-data.repository.js';
import { recordCostLoad } from '../database/repositories/organizations.repository.js';
import { orgDimensions } from '../database/repositories/dimensions.repository.js';
import { fetchGroupings } from '../lib/dimensions.js';
import { enqueueForecast } from '../producers/enqueue.js';
import { costRowBatches } from './cost-explorer.js';
import { runFetchJob, type FetchJobDeps, type FetchResult } from './fetch-job.js';

export interface FetchCostsDeps extends FetchJobDeps {
  aws: AwsGateway;
  now: Now;
}

export function createFetchCostsProcessor(deps: FetchCostsDeps) {
  return (job: Job, token?: string): Promise<FetchResult> =>
    runFetchJob(
      job,
      token,
      deps,
      'costs',
      async (org, data, run) => {
        const ce = deps.aws.costExplorer(org);
        // The dimension registry decides the queries: one per grouping the org loads.
        const groupings = fetchGroupings(await orgDimensions(deps.db, org.id));
        const names = new Map<string, string>();
        // The run's success and the org's estimated_from commit with the rows, under the loader lock.
        const load = await replaceCostWindow(
          deps.db,
          org.id,
          data,
          costRowBatches(ce, data, groupings, names),
          (tx, result) =>
            recordCostLoad(tx, org.id, {
              runId: run.runId,
              window: { from: data.from, to: data.to },
              estimatedFrom: result.estimatedFrom,
              rows: result.rows,
              awsRequests: run.awsRequests(),
            }).then(() => undefined),
          names,
        );
        return { rows: load.rows, window: { from: data.from, to: data.to }, recorded: true };
      },
      async (org, data) => {
        // A refresh that reaches today also refreshes the forecast, once a day (fetch-forecast).
        const today = todayUtc(deps.now());
        if (data.trigger !== 'backfill' && data.to > today)
          await enqueueForecast(deps.queues, { orgId: org.id, day: today, trigger: data.trigger });
      },
    );
}
