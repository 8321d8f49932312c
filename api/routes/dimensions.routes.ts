/** /dimensions: what an organization's costs can be grouped and filtered by, and what it tracks. */
import {
  listTrackedDimensions,
  replaceTrackedDimensions,
} from '../../database/repositories/dimensions.repository.js';
import {
  BUILTIN_DIMENSIONS,
  loadedDimensions,
  parseTrackedLists,
  type Dimension,
} from '../../lib/dimensions.js';
import { invalidateOrgCache } from '../../lib/cache.js';
import { ApiError } from '../errors.js';
import { orgRoute, type Route } from '../routing.js';
import { dimensionsQuery, dimensionsResponse, trackBody, trackResponse } from './dimensions.schema.js';

function describe(d: Dimension) {
  return { name: d.name, kind: d.kind, description: d.description, always: d.always };
}

export const dimensionRoutes: Route[] = [
  orgRoute({
    method: 'get',
    path: '/dimensions',
    tag: 'costs',
    summary: "The organization's dimensions: what group_by, top and the filters accept for it",
    query: dimensionsQuery,
    response: dimensionsResponse,
    async handler({ app, orgId }) {
      const tracked = await listTrackedDimensions(app.db, orgId);
      const loaded = loadedDimensions(tracked);
      const names = new Set(loaded.map((d) => d.name));
      return {
        organization_id: orgId,
        dimensions: loaded.map(describe),
        tracked,
        available: BUILTIN_DIMENSIONS.filter((d) => !names.has(d.name)).map(describe),
      };
    },
  }),
  orgRoute({
    method: 'post',
    path: '/dimensions/tracked',
    tag: 'costs',
    summary: 'Set the tag keys, cost categories and usage-type drill-down the organization tracks',
    description:
      'Each tracked tag key, cost category and the usage types add one Cost Explorer query ($0.01 a page) per fetch ' +
      'window, from the next fetch on; backfill to load their history. `costwatch org tags` lists what AWS knows.',
    roles: ['admin', 'operator'],
    query: dimensionsQuery,
    body: trackBody,
    response: trackResponse,
    async handler({ app, orgId, body }) {
      const lists = parseTrackedLists({
        tags: body.tags,
        costCategories: body.cost_categories,
        usageTypes: body.usage_types,
      });
      if (!lists.ok) {
        const field = lists.field === 'costCategories' ? 'cost_categories' : 'tags';
        throw new ApiError('validation_failed', `${field}: ${lists.message}`, field);
      }
      let tracked = await listTrackedDimensions(app.db, orgId);
      for (const change of lists.changes)
        tracked = await replaceTrackedDimensions(app.db, orgId, change.kind, change.names);
      await invalidateOrgCache(app.redis, app.config.QUEUE_PREFIX, orgId);
      return {
        organization_id: orgId,
        tracked,
        note: 'takes effect from the next fetch; backfill a range to load its history',
      };
    },
  }),
];
