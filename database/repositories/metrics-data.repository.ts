/** cloudwatch_metrics writes: replace one organization's datapoints for a window atomically (COPY). */
import type { Pool, Queryable } from '../../lib/db.js';
import { addDays } from '../../lib/dates.js';
import { copyInto, copyText } from '../copy.js';
import { MalformedDataError } from './cost-data.repository.js';

export interface MetricRow {
  ts: Date;
  namespace: string;
  metricName: string;
  resourceId: string;
  stat: string;
  value: number;
  unit: string;
}

const partitionsReady = new Set<string>();

async function ensureMetricPartitions(db: Queryable, from: string, to: string): Promise<void> {
  const key = `${from.slice(0, 7)}..${to.slice(0, 7)}`;
  if (partitionsReady.has(key)) return;
  await db.query(`SELECT ensure_monthly_partitions('cloudwatch_metrics', $1::date, $2::date)`, [from, addDays(to, -1)]);
  partitionsReady.add(key);
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
  await ensureMetricPartitions(pool, window.from, window.to);
  const start = Date.parse(`${window.from}T00:00:00Z`);
  const end = Date.parse(`${window.to}T00:00:00Z`);
  let rows = 0;
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock(1002, $1)', [orgId]);
    await client.query(
      `DELETE FROM cloudwatch_metrics WHERE organization_id = $1
         AND ts >= ($2::date::timestamp AT TIME ZONE 'UTC') AND ts < ($3::date::timestamp AT TIME ZONE 'UTC')`,
      [orgId, window.from, window.to],
    );
    const org = String(orgId);
    async function* lines(): AsyncGenerator<string> {
      for await (const batch of batches) {
        let chunk = '';
        for (const row of batch) {
          const t = row.ts.getTime();
          if (!Number.isFinite(t) || t < start || t >= end) continue; // CloudWatch may round to period edges
          if (!Number.isFinite(row.value)) throw new MalformedDataError(`CloudWatch sent a non-finite value for ${row.metricName} of ${row.resourceId}`);
          chunk += `${org}\t${row.ts.toISOString()}\t${copyText(row.namespace)}\t${copyText(row.metricName)}\t${copyText(row.resourceId)}\t${copyText(row.stat)}\t${row.value}\t${copyText(row.unit)}\n`;
          rows++;
        }
        if (chunk) yield chunk;
      }
    }
    await copyInto(client, 'cloudwatch_metrics (organization_id, ts, namespace, metric_name, resource_id, stat, value, unit)', lines());
    await client.query('COMMIT');
    return { rows };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}
