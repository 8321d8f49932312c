/**
 * Utilisation reads of the API, from the metric_daily rollup only. Averages are weighted by the
 * number of CloudWatch samples of each day; a resource whose days carry no datapoint reads null.
 */
import type { Queryable } from '../../lib/db.js';

export interface ResourceUtilization {
  namespace: string;
  resource_id: string;
  metric_name: string;
  unit: string;
  average: number | null;
  maximum: number | null;
  days_with_data: number;
  samples: number;
}

// Per resource of one metric over [from, to]: sample-weighted average, maximum, days with data.
// Parameters: $1 org, $2 from, $3 to, $4 metric name, $5 namespace or null, $6 resource id or null, $7 limit + 1, $8 offset.
export async function utilizationByResource(
  db: Queryable,
  q: {
    orgId: number;
    from: string;
    to: string;
    metricName: string;
    namespace: string | null;
    resourceId: string | null;
    limit: number;
    offset: number;
  },
): Promise<ResourceUtilization[]> {
  const { rows } = await db.query<ResourceUtilization>(
    `SELECT namespace, resource_id, metric_name, min(unit) AS unit,
            CASE WHEN coalesce(sum(samples) FILTER (WHERE avg_value IS NOT NULL), 0) > 0
                 THEN sum(avg_value * samples) FILTER (WHERE avg_value IS NOT NULL)
                      / sum(samples) FILTER (WHERE avg_value IS NOT NULL)
                 ELSE avg(avg_value) END AS average,
            max(max_value) AS maximum,
            count(*) FILTER (WHERE avg_value IS NOT NULL OR max_value IS NOT NULL)::int AS days_with_data,
            coalesce(sum(samples), 0)::int AS samples
       FROM metric_daily
      WHERE organization_id = $1 AND day BETWEEN $2::date AND $3::date AND metric_name = $4::text
        AND ($5::text IS NULL OR namespace = $5::text)
        AND ($6::text IS NULL OR resource_id = $6::text)
      GROUP BY namespace, resource_id, metric_name
      ORDER BY namespace, resource_id, metric_name
      LIMIT $7 OFFSET $8`,
    [q.orgId, q.from, q.to, q.metricName, q.namespace, q.resourceId, q.limit + 1, q.offset],
  );
  return rows;
}
