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
  GetTags: 0.01,
  GetCostCategories: 0.01,
};

/** Budget alerts fired (counted by the evaluation whose insert won), by kind (actual, forecasted). */
export const alertsFired = new client.Counter({
  name: 'costwatch_alerts_fired_total',
  help: 'Budget alerts fired, by threshold kind (actual, forecasted)',
  labelNames: ['kind'] as const,
  registers: [registry],
});

/** Notification attempts, by channel type (webhook, email) and outcome (delivered, retried, failed). */
export const notificationsTotal = new client.Counter({
  name: 'costwatch_notifications_total',
  help: 'Notification delivery attempts, by channel type and outcome (delivered, retried, failed)',
  labelNames: ['channel', 'outcome'] as const,
  registers: [registry],
});

let sampleUndelivered: (() => Promise<number>) | null = null;

/** Registers how this process counts undelivered notifications; sampled on each scrape. */
export function setUndeliveredSampler(sampler: () => Promise<number>): void {
  sampleUndelivered = sampler;
}

export const notificationsUndelivered = new client.Gauge({
  name: 'costwatch_notifications_undelivered',
  help: 'Notifications in the outbox not yet delivered nor failed (pending or sending; sampled at scrape time)',
  registers: [registry],
  async collect() {
    if (!sampleUndelivered) return;
    const n = await sampleUndelivered().catch(() => null);
    if (n !== null) this.set(n);
  },
});
let sampleOpenAnomalies: (() => Promise<Array<{ status: string; n: number }>>) | null = null;

/** Registers how this process counts open anomalies (a Postgres read at scrape time). */
export function setOpenAnomaliesSampler(sampler: () => Promise<Array<{ status: string; n: number }>>): void {
  sampleOpenAnomalies = sampler;
}

/** Anomalies: open and provisional, across organizations (sampled at scrape time). */
export const anomaliesOpen = new client.Gauge({
  name: 'costwatch_anomalies_open',
  help: 'Anomalies currently open or provisional, by status (sampled at scrape time)',
  labelNames: ['status'] as const,
  registers: [registry],
  async collect() {
    if (!sampleOpenAnomalies) return;
    const samples = await sampleOpenAnomalies().catch(() => null);
    if (!samples) return;
    for (const status of ['open', 'provisional']) this.set({ status }, samples.find((s) => s.status === status)?.n ?? 0);
  },
});

/** Anomalies opened, updated and withdrawn by detection. */
export const anomalyChanges = new client.Counter({
  name: 'costwatch_anomaly_changes_total',
  help: 'Anomalies opened, updated or withdrawn by the detector',
  labelNames: ['change'] as const,
  registers: [registry],
});

/** Anomaly alerts decided (each handed to the notification outbox once). */
export const anomalyAlertsDecided = new client.Counter({
  name: 'costwatch_anomaly_alerts_total',
  help: 'Anomaly alerts decided for subscriptions, by type (anomaly.opened, anomaly.updated)',
  labelNames: ['type'] as const,
  registers: [registry],
});
