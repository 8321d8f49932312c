/**
 * Prometheus metrics of every role (prom-client). One registry per process; names are part of the
 * deployment contract (dashboards and alert rules in deploy/ use them).
 */
import client from 'prom-client';

export const registry = new client.Registry();
client.collectDefaultMetrics({ register: registry });
// prom-client's gauges named *_total fail `promtool check metrics` (only counters may end in
// _total); the same numbers remain, by type, in nodejs_active_handles/_requests/_resources.
for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
  registry.removeSingleMetric(name);
}

/** API: requests by method, route template (never the raw path) and status. */
export const httpRequests = new client.Counter({
  name: 'http_requests_total',
  help: 'HTTP requests served, by method, route template and status code',
  labelNames: ['method', 'route', 'status'] as const,
  registers: [registry],
});

export const httpDuration = new client.Histogram({
  name: 'http_request_duration_seconds',
  help: 'HTTP request latency, by method, route template and status code',
  labelNames: ['method', 'route', 'status'] as const,
  buckets: [0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  registers: [registry],
});

export const jobsTotal = new client.Counter({
  name: 'costwatch_jobs_total',
  help: 'Jobs finished by this process, by queue and outcome (completed, failed, retried, delayed)',
  labelNames: ['queue', 'outcome'] as const,
  registers: [registry],
});

export const jobDuration = new client.Histogram({
  name: 'costwatch_job_duration_seconds',
  help: 'Job processing time, by queue',
  labelNames: ['queue'] as const,
  buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
  registers: [registry],
});

let sampleQueueDepth: (() => Promise<Array<{ queue: string; state: string; count: number }>>) | null = null;

/** Registers how this process reads queue depth; sampled on each scrape, not on a timer. */
export function setQueueDepthSampler(sampler: () => Promise<Array<{ queue: string; state: string; count: number }>>): void {
  sampleQueueDepth = sampler;
}

export const queueJobs = new client.Gauge({
  name: 'costwatch_queue_jobs',
  help: 'Jobs in each queue by state (sampled at scrape time)',
  labelNames: ['queue', 'state'] as const,
  registers: [registry],
  async collect() {
    if (!sampleQueueDepth) return;
    // A failed Redis call keeps the previous values rather than failing the scrape.
    const samples = await sampleQueueDepth().catch(() => null);
    for (const s of samples ?? []) this.set({ queue: s.queue, state: s.state }, s.count);
  },
});

export const awsRequests = new client.Counter({
  name: 'costwatch_aws_requests_total',
  help: 'AWS API requests sent (every attempt and page), by service and operation',
  labelNames: ['service', 'operation'] as const,
  registers: [registry],
});

export const awsThrottles = new client.Counter({
  name: 'costwatch_aws_throttles_total',
  help: 'AWS throttling responses received, by service and operation',
  labelNames: ['service', 'operation'] as const,
  registers: [registry],
});

export const awsErrors = new client.Counter({
  name: 'costwatch_aws_errors_total',
  help: 'AWS error responses, by service, operation and error code',
  labelNames: ['service', 'operation', 'code'] as const,
  registers: [registry],
});

export const ceCapHits = new client.Counter({
  name: 'costwatch_ce_daily_cap_hits_total',
  help: 'Cost Explorer requests refused because their organization reached CE_DAILY_REQUEST_CAP today (its work resumes the next day)',
  registers: [registry],
});

export const awsEstimatedCost = new client.Counter({
  name: 'costwatch_aws_estimated_cost_dollars_total',
  help: 'Estimated AWS API charges of the requests sent (Cost Explorer bills $0.01 per request)',
  labelNames: ['service', 'operation'] as const,
  registers: [registry],
});

export const rowsLoaded = new client.Counter({
  name: 'costwatch_rows_loaded_total',
  help: 'Rows committed to Postgres by fetch jobs, by source (costs, metrics)',
  labelNames: ['source'] as const,
  registers: [registry],
});

export const refreshAge = new client.Gauge({
  name: 'costwatch_last_successful_refresh_age_seconds',
  help: 'Age of the oldest last successful cost refresh among active organizations',
  registers: [registry],
});

export const organizationsGauge = new client.Gauge({
  name: 'costwatch_organizations',
  help: 'Organizations by status',
  labelNames: ['status'] as const,
  registers: [registry],
});

/** Cost Explorer charges per request; CloudWatch GetMetricData is billed per metric, ListMetrics is free. */
export const AWS_REQUEST_PRICE_DOLLARS: Record<string, number> = {
  GetCostAndUsage: 0.01,
  GetCostForecast: 0.01,
  GetDimensionValues: 0.01,
};
