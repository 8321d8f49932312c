/** /utilization: per-resource average and maximum of a metric (CPU by default), from metric_daily. */
import { utilizationByResource } from '../../database/repositories/utilization.repository.js';
import { orgRoute, type Route } from '../routing.js';
import { pageOf } from './common.schema.js';
import { utilizationQuery, utilizationResponse } from './utilization.schema.js';

export const utilizationRoutes: Route[] = [
  orgRoute({
    method: 'get',
    path: '/utilization',
    tag: 'utilization',
    summary:
      'Average and maximum of a metric (default CPUUtilization) per resource over an inclusive date range',
    description: 'Ordered by namespace, then resource id. Offset-paginated. Range at most 400 days.',
    cache: true,
    query: utilizationQuery,
    response: utilizationResponse,
    async handler({ app, orgId, query }) {
      const rows = await utilizationByResource(app.db, {
        orgId,
        from: query.from,
        to: query.to,
        metricName: query.metric,
        namespace: query.namespace ?? null,
        resourceId: query.resource_id ?? null,
        limit: query.limit,
        offset: query.offset,
      });
      const page = pageOf(rows, query.limit, query.offset);
      return {
        organization_id: orgId,
        from: query.from,
        to: query.to,
        metric: query.metric,
        ...page,
        items: page.items.map((r) => ({
          namespace: r.namespace,
          resource_id: r.resource_id,
          metric: r.metric_name,
          unit: r.unit,
          average: r.average,
          maximum: r.maximum,
          days_with_data: r.days_with_data,
          samples: r.samples,
        })),
      };
    },
  }),
];
