/** Request and response schemas of /utilization. */
import { z } from 'zod';
import {
  checkRange,
  isoDate,
  limitParam,
  offsetPage,
  offsetParam,
  orgIdParam,
  textFilter,
} from './common.schema.js';

export const MAX_UTILIZATION_RANGE_DAYS = 400;

export const utilizationQuery = z
  .strictObject({
    org_id: orgIdParam,
    from: isoDate.describe('first day, inclusive'),
    to: isoDate.describe('last day, inclusive'),
    namespace: textFilter('only this CloudWatch namespace, e.g. AWS/EC2'),
    resource_id: textFilter('only this resource, e.g. i-0123456789abcdef0'),
    metric: z
      .string()
      .max(255, 'must be at most 255 characters')
      .regex(/^[A-Za-z0-9_.:/-]+$/, 'must be a CloudWatch metric name')
      .default('CPUUtilization')
      .describe('metric name (default CPUUtilization)'),
    limit: limitParam,
    offset: offsetParam,
  })
  .superRefine((q, ctx) => checkRange(q, ctx, MAX_UTILIZATION_RANGE_DAYS));

export const utilizationResponse = z.object({
  organization_id: z.number().int(),
  from: z.string(),
  to: z.string(),
  metric: z.string(),
  items: z.array(
    z.object({
      namespace: z.string(),
      resource_id: z.string(),
      metric: z.string(),
      unit: z.string(),
      average: z
        .number()
        .nullable()
        .describe('sample-weighted average over the range; null when CloudWatch had no data'),
      maximum: z
        .number()
        .nullable()
        .describe('highest datapoint over the range; null when CloudWatch had no data'),
      days_with_data: z.number().int(),
      samples: z.number().int(),
    }),
  ),
  ...offsetPage,
});
