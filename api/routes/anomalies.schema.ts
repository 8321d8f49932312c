/** Request and response schemas of /anomalies, /anomaly-subscriptions and /anomaly-settings. */
import { z } from 'zod';
import { ApiError } from '../errors.js';
import {
  isoDate,
  limitParam,
  money,
  offsetPage,
  offsetParam,
  orgIdParam,
  textFilter,
} from './common.schema.js';

export const ANOMALY_STATUSES = ['open', 'provisional', 'withdrawn', 'closed'] as const;
export const FEEDBACK_VALUES = ['yes', 'no', 'planned'] as const;

/** A non-negative decimal amount written as a string or a JSON number (at most 2 decimals). */
const amountText = z
  .string()
  .max(20, 'must be a decimal amount such as 50 or 12.50')
  .regex(/^\d{1,12}(\.\d{1,2})?$/, 'must be a decimal amount such as 50 or 12.50');
const amountInput = z
  .union([amountText, z.number().finite().min(0, 'must not be negative').max(1e12)])
  .transform((v) => (typeof v === 'number' ? String(v) : v));

/** A path parameter id: digits only (else 400 naming it). */
export function pathId(value: string | string[] | undefined, field = 'id'): number {
  if (typeof value !== 'string' || !/^\d{1,15}$/.test(value) || Number(value) < 1)
    throw new ApiError('validation_failed', `${field}: must be a positive whole number`, field);
  return Number(value);
}

export const listQuery = z
  .strictObject({
    org_id: orgIdParam,
    status: z.enum(ANOMALY_STATUSES).optional().describe('only anomalies in this status'),
    service: textFilter('only anomalies of this service (the series or a root cause)'),
    account: textFilter('only anomalies of this linked account id (the series or a root cause)'),
    from: isoDate.optional().describe('only anomalies ending on or after this day'),
    to: isoDate.optional().describe('only anomalies starting on or before this day'),
    min_impact: amountText.optional().describe('only anomalies whose |impact| is at least this amount'),
    limit: limitParam,
    offset: offsetParam,
  })
  .superRefine((q, ctx) => {
    if (q.from !== undefined && q.to !== undefined && q.from > q.to)
      ctx.addIssue({ code: 'custom', path: ['from'], message: 'must not be after to' });
  });

export const rootCause = z.object({
  dimension: z
    .string()
    .describe(
      'the dimension this entry splits the anomaly by: a loaded dimension of the registry (account, region, service, usage_type, tag:<key>, cost_category:<name>)',
    ),
  service: z.string().nullable(),
  linked_account: z.string().nullable(),
  region: z.string().nullable(),
  usage_type: z.string().nullable(),
  value: z.string().optional().describe('the contributor value of a tag or cost category dimension'),
  impact: z.object({
    contribution: z
      .string()
      .describe('excess of this contributor over its own baseline, summed over the flagged days'),
    share: z
      .number()
      .describe("contribution / the contributions in the anomaly's direction in this dimension"),
  }),
});

export const anomaly = z.object({
  id: z.number().int(),
  dimension: z.string().describe('the series: service or account'),
  key: z.string().describe('the service name or linked account id'),
  kind: z.enum(['spike', 'drop', 'new_spend']),
  start: z.string(),
  end: z.string().describe('last flagged day (inclusive)'),
  status: z.enum(ANOMALY_STATUSES),
  withdrawn_reason: z.enum(['restated', 'merged']).nullable(),
  impact: money.describe('sum over the flagged days of actual - expected (negative for drops)'),
  expected: money,
  actual: money,
  max_score: z.number().nullable().describe('max |modified z-score|; null for new_spend'),
  root_causes: z.array(rootCause),
  feedback: z.enum(FEEDBACK_VALUES).nullable(),
  feedback_at: z.string().nullable(),
  detected_at: z.string(),
  updated_at: z.string(),
});

export const listResponse = z.object({
  organization_id: z.number().int(),
  items: z.array(anomaly),
  ...offsetPage,
});

export const oneQuery = z.strictObject({ org_id: orgIdParam });

export const feedbackBody = z.strictObject({
  feedback: z
    .enum(FEEDBACK_VALUES)
    .describe('yes: a real anomaly; no: not one (suppresses its series 7 days); planned'),
});

export const feedbackResponse = z.object({
  anomaly,
  suppressed_until: z
    .string()
    .nullable()
    .describe('when feedback is no: until when its series opens no new anomaly'),
});

export const subscription = z.object({
  id: z.number().int(),
  name: z.string(),
  min_impact: money,
  channel_ids: z.array(z.number().int()),
  enabled: z.boolean(),
  created_at: z.string(),
  updated_at: z.string(),
});

export const subscriptionsResponse = z.object({
  organization_id: z.number().int(),
  items: z.array(subscription),
});

const channelIds = z
  .array(
    z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
    'must be a list of notification channel ids',
  )
  .min(1, 'must name at least one channel')
  .max(20, 'at most 20 channels');

export const createSubscriptionBody = z.strictObject({
  name: z
    .string()
    .min(1, 'must not be empty')
    .max(200)
    .regex(/^[^\p{Cc}]*$/u, 'must not contain control characters'),
  min_impact: amountInput.default('0').describe('alert only anomalies whose |impact| reaches this (USD)'),
  channel_ids: channelIds.describe('notification channel ids (POST /notification-channels)'),
});

export const updateSubscriptionBody = z
  .strictObject({
    name: createSubscriptionBody.shape.name.optional(),
    min_impact: amountInput.optional(),
    channel_ids: channelIds.optional(),
    enabled: z.boolean().optional(),
  })
  .refine((b) => Object.values(b).some((v) => v !== undefined), {
    message: 'name at least one field to change',
  });

export const settings = z.object({
  organization_id: z.number().int(),
  min_impact_absolute: money.describe('a flagged day exceeds its baseline by at least this (default 10)'),
  min_impact_relative: z.number().describe('... and by at least this fraction of it (default 0.2)'),
  z_threshold: z.number().describe('minimum modified z-score (default 3.5)'),
  detect_drops: z.boolean().describe('flag drops as well as spikes (default false)'),
});

export const settingsBody = z
  .strictObject({
    min_impact_absolute: amountInput.optional(),
    min_impact_relative: z.number().finite().min(0).max(10).optional(),
    z_threshold: z.number().finite().min(1).max(100).optional(),
    detect_drops: z.boolean().optional(),
  })
  .refine((b) => Object.values(b).some((v) => v !== undefined), {
    message: 'name at least one setting to change',
  });
