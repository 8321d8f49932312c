/** Metrics fetch: ListMetrics + GetMetricData (500 queries a call, p-limit) -> COPY -> rollup enqueued. */
import type { Job } from 'bullmq';
import type { AwsGateway } from '../lib/aws.js';
import { replaceMetricsWindow } from '../database/repositories/metrics-data.repository.js';
import { metricRowBatches } from './cloudwatch.js';
import { runFetchJob, type FetchJobDeps, type FetchResult } from './fetch-job.js';

export interface FetchMetricsDeps extends FetchJobDeps {
  aws: AwsGateway;
  periodSeconds: number;
  concurrency: number;
}

export function createFetchMetricsProcessor(deps: FetchMetricsDeps) {
  return (job: Job, token?: string): Promise<FetchResult> =>
    runFetchJob(job, token, deps, 'metrics', async (org, data) => {
      const cw = deps.aws.cloudWatch(org);
      const batches = metricRowBatches(cw, data, { periodSeconds: deps.periodSeconds, concurrency: deps.concurrency });
      const load = await replaceMetricsWindow(deps.db, org.id, data, batches);
      return { rows: load.rows, window: { from: data.from, to: data.to } };
    });
}
