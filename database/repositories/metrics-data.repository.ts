/** cloudwatch_metrics writes: replace one organization's datapoints for a window atomically (COPY). */
import { withTransaction, type Pool } from '../../lib/db.js';
import { MalformedDataError } from '../../lib/aws-errors.js';
import { afterFirst, copyInto, copyText } from '../copy.js';
import { ensureMonthlyPartitions } from '../partitions.js';

export interface MetricRow {
  ts: Date;
  namespace: string;
  metricName: string;
  resourceId: string;
  stat: string;
  value: number;
  unit: string;
}

/**
 * replaceMetricsWindow: deletes the org's datapoints with ts in [from, to) (UTC days) and COPYs
 * `batches` in, in one transaction serialised per organization. Params: pool, org, window, batches.
 */
export async function replaceMetricsWindow(
  pool: Pool,
  orgId: number,
  window: { from: string; to: string },
  batches: AsyncIterable<MetricRow[]>,
): Promise<{ rows: number }> {
  await ensureMonthlyPartitions(pool, 'cloudwatch_metrics', window.from, window.to);
  const rowsFromAws = await afterFirst(batches);
  const start = Date.parse(`${window.from}T00:00:00Z`);
  const end = Date.parse(`${window.to}T00:00:00Z`);
  let rows = 0;
  const org = String(orgId);
  async function* lines(): AsyncGenerator<string> {
    for await (const batch of rowsFromAws) {
      let chunk = '';
      for (const row of batch) {
        const t = row.ts.getTime();
        if (!Number.isFinite(t) || t < start || t >= end) continue; // CloudWatch may round to period edges
        if (!Number.isFinite(row.value))
          throw new MalformedDataError(
            `CloudWatch sent a non-finite value for ${row.metricName} of ${row.resourceId}`,
          );
        chunk += `${org}\t${row.ts.toISOString()}\t${copyText(row.namespace)}\t${copyText(row.metricName)}\t${copyText(row.resourceId)}\t${copyText(row.stat)}\t${row.value}\t${copyText(row.unit)}\n`;
        rows++;
      }
      if (chunk) yield chunk;
    }
  }
  await withTransaction(pool, async (client) => {
    // Takes the org's loader lock and clears the window's datapoints (migration 0004).
    await client.query('SELECT cw_clear_metrics_window($1, $2::date, $3::date)', [
      orgId,
      window.from,
      window.to,
    ]);
    await copyInto(
      client,
      'cloudwatch_metrics (organization_id, ts, namespace, metric_name, resource_id, stat, value, unit)',
      lines(),
    );
  });
  return { rows };
}
