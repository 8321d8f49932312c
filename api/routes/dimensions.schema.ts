/** Request and response schemas of /dimensions: what an organization's costs can be grouped by. */
import { z } from 'zod';
import { MAX_TRACKED_PER_KIND } from '../../lib/dimensions.js';
import { orgIdParam } from './common.schema.js';

export const dimensionsQuery = z.strictObject({ org_id: orgIdParam });

const dimension = z.object({
  name: z.string().describe('API name, for group_by, top?dimension= and as a filter parameter'),
  kind: z.enum(['builtin', 'tag', 'cost_category']),
  description: z.string(),
  always: z.boolean().describe('loaded for every organization (false: tracked by this one)'),
});

export const dimensionsResponse = z.object({
  organization_id: z.number().int(),
  dimensions: z.array(dimension).describe('every dimension this organization loads'),
  tracked: z
    .array(z.string())
    .describe('its optional dimensions (each costs one Cost Explorer query per fetch window)'),
  available: z.array(dimension).describe('built-in dimensions it could also track'),
});

const names = (what: string) =>
  z
    .array(z.string().min(1).max(128))
    .max(MAX_TRACKED_PER_KIND, `at most ${MAX_TRACKED_PER_KIND}`)
    .optional()
    .describe(`${what}: replaces the tracked list (omit to keep it, [] for none)`);

export const trackBody = z.strictObject({
  tags: names('cost allocation tag keys'),
  cost_categories: names('cost category names'),
  usage_types: z.boolean().optional().describe('SERVICE x USAGE_TYPE drill-down on or off (omit to keep)'),
});

export const trackResponse = z.object({
  organization_id: z.number().int(),
  tracked: z.array(z.string()),
  note: z.string(),
});
