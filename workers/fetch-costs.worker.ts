/**
 * Cost fetch: GetCostAndUsage for the window (a refresh: only the days the restatement probe found
 * changed) -> COPY into cost_data, committed with the run's success and the org's Estimated-day
 * bookkeeping -> rollup enqueued -> a refresh that reaches
 * today enqueues the org's daily forecast (its own job: a forecast failure never touches the load).
 */
import type { Job } from 'bullmq';
import type { AwsGateway } from '../lib/aws.js';
import type { Now } from '../lib/clock.js';
import { addDays, todayUtc } from '../lib/dates.js';
import { replaceCostWindow } from '../database/repositories/cost-data.repository.js';
import { recordCostLoad } from '../database/repositories/organizations.repository.js';
import { orgDimensions } from '../database/repositories/dimensions.repository.js';
import { fetchGroupings } from '../lib/dimensions.js';
import { enqueueForecast } from '../producers/enqueue.js';
import type { Queryable } from '../lib/db.js';
import { costRowBatches } from './cost-explorer.js';
import { refreshByProbe } from './restatement-probe.js';
import { runFetchJob, type FetchJobDeps, type FetchResult } from './fetch-job.js';
import { WindowCheckpoints, type CheckpointStore } from './page-checkpoints.js';

export interface FetchCostsDeps extends FetchJobDeps {
  aws: AwsGateway;
  now: Now;
  /** RESTATEMENT_PROBE: scheduled and manual refreshes fetch only the days Cost Explorer changed. */
  restatementProbe?: boolean;
  /** BILL_CLOSE_DAY: the probe re-reads the previous month in full once, on this day. */
  billCloseDay?: number;
  /**
   * Page checkpoints (CE_PAGE_CHECKPOINT_SECONDS > 0): a retry of a window that failed part-way
   * reuses the pages its earlier attempts got. Absent: every attempt reads the whole window.
   */
  checkpoints?: CheckpointStore;
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
        const loadWindow = async (
          window: { from: string; to: string },
          closesRun: boolean,
          inTransaction?: (tx: Queryable) => Promise<void>,
        ): Promise<number> => {
          const checkpoints =
            deps.checkpoints && run.jobId !== null
              ? await WindowCheckpoints.open(
                  deps.checkpoints,
                  { orgId: org.id, jobId: run.jobId, window },
                  run.retry,
                )
              : undefined;
          const load = await replaceCostWindow(
            deps.db,
            org.id,
            window,
            costRowBatches(ce, window, groupings, names, checkpoints),
            async (tx, result) => {
              await inTransaction?.(tx);
              await recordCostLoad(tx, org.id, {
                runId: closesRun ? run.runId : null,
                window,
                estimatedFrom: result.estimatedFrom,
                rows: result.rows,
                awsRequests: run.awsRequests(),
              });
              // The window's kept pages go with its commit: nothing can reuse them afterwards.
              await checkpoints?.commit(tx, run.runId);
            },
            names,
          );
          return load.rows;
        };
        const window = { from: data.from, to: data.to };
        if (deps.restatementProbe && data.trigger !== 'backfill') {
          // Only the days Cost Explorer changed are fetched grouped (workers/restatement-probe.ts).
          const result = await refreshByProbe({
            db: deps.db,
            ce,
            orgId: org.id,
            window,
            today: todayUtc(deps.now()),
            billCloseDay: deps.billCloseDay ?? 5,
            load: loadWindow,
            unchanged: () =>
              recordCostLoad(deps.db, org.id, {
                runId: run.runId,
                window: { from: data.to, to: data.to },
                estimatedFrom: null,
                rows: 0,
                awsRequests: run.awsRequests(),
              }).then(() => undefined),
          });
          // The rollup rebuilds only the changed days (the others' rollups are current) and publishes
          // the run by id (fetch_runs.rolled_up_at); nothing changed: its last day, to publish it.
          return {
            rows: result.rows,
            window: result.changed ?? { from: addDays(data.to, -1), to: data.to },
            recorded: true,
          };
        }
        return { rows: await loadWindow(window, true), window, recorded: true };
      },
      async (org, data) => {
        // A refresh that reaches today also refreshes the forecast, once a day (fetch-forecast).
        const today = todayUtc(deps.now());
        if (data.trigger !== 'backfill' && data.to > today)
          await enqueueForecast(deps.queues, { orgId: org.id, day: today, trigger: data.trigger });
      },
    );
}
