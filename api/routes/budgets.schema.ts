/**
 * Request and response schemas of /budgets, /notification-channels and /alerts (SPEC.md:
 * "Budgets, anomalies, alerts, notifications"). Bad input answers 400 naming the field:
 * thresholds outside 1..1000, an unknown scope dimension, an empty scope value, a currency other
 * than USD, a non-http(s) URL, an SMTP port out of range.
 */
import { z } from 'zod';
import { validateBudgetScope } from '../../lib/budget-scope.js';
import { isoDate, limitParam, money, offsetPage, offsetParam, orgIdParam } from './common.schema.js';

const name = z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters');

const threshold = z.strictObject({
  percent: z
    .number()
    .min(1, 'must be between 1 and 1000')
    .max(1000, 'must be between 1 and 1000')
    .refine((p) => Math.round(p * 100) === p * 100, 'at most two decimals')
    .describe('percent of the budget amount, 1..1000'),
  kind: z.enum(['actual', 'forecasted']).describe('compare with actual or forecasted spend of the period'),
});

const budgetAmount = z.strictObject({
  amount: z
    .string()
    .regex(/^\d{1,12}(\.\d{1,2})?$/, 'must be a decimal string such as "100.00"')
    .refine((a) => Number(a) > 0, 'must be more than 0'),
  unit: z.string().refine((u) => u === 'USD', 'must be USD, the unit Cost Explorer returns'),
});

const scope = z
  // keys up to cost_category:<128 characters> (lib/dimensions.ts)
  .record(z.string().max(160), z.union([z.string(), z.array(z.string())]))
  .describe(
    'dimension filters, e.g. {"service": "Amazon Elastic Compute Cloud - Compute"}, {"region": ["us-east-1", "eu-west-1"]} or {"tag:team": "payments"}; one dimension (service, account, region, record_type, usage_type, tag:<key>, cost_category:<name>)',
  );

const thresholds = z
  .array(threshold)
  .min(1, 'at least one threshold')
  .max(10, 'at most 10 thresholds')
  .superRefine((list, ctx) => {
    const seen = new Set<string>();
    list.forEach((t, i) => {
      const key = `${t.kind}:${t.percent}`;
      if (seen.has(key))
        ctx.addIssue({ code: 'custom', path: [i, 'percent'], message: 'the same threshold twice' });
      seen.add(key);
    });
  });

const channelIds = z
  .array(z.number().int().positive())
  .max(20, 'at most 20 channels')
  .describe('notification channels of this organization');

function checkScope(
  value: { scope?: Record<string, string | string[]> | undefined },
  ctx: z.RefinementCtx,
): void {
  if (value.scope === undefined) return;
  const check = validateBudgetScope(value.scope);
  if (!check.ok) ctx.addIssue({ code: 'custom', path: check.field.split('.'), message: check.message });
}

export const createBudgetBody = z
  .strictObject({
    name,
    period: z.enum(['monthly', 'quarterly', 'annual']).describe('calendar period, UTC'),
    amount: budgetAmount,
    metric: z.enum(['unblended', 'amortized', 'net_unblended']).default('unblended'),
    scope: scope.optional(),
    thresholds,
    channel_ids: channelIds.default([]),
  })
  .superRefine(checkScope);
export type CreateBudgetBody = z.output<typeof createBudgetBody>;

export const updateBudgetBody = z
  .strictObject({
    name: name.optional(),
    period: z.enum(['monthly', 'quarterly', 'annual']).optional(),
    amount: budgetAmount.optional(),
    metric: z.enum(['unblended', 'amortized', 'net_unblended']).optional(),
    scope: scope.optional(),
    thresholds: thresholds.optional(),
    channel_ids: channelIds.optional(),
  })
  .superRefine(checkScope)
  .refine((b) => Object.keys(b).length > 0, { message: 'name at least one field to change', path: ['body'] });

export const orgQuery = z.strictObject({ org_id: orgIdParam });

const thresholdState = z.object({
  percent: z.number(),
  kind: z.enum(['actual', 'forecasted']),
  amount: money.describe('budget amount x percent'),
  spend: money.nullable().describe('the actual or forecasted spend it compares (null: no forecast stored)'),
  state: z
    .enum(['ok', 'crossed', 'fired', 'restated_below', 'no_forecast'])
    .describe(
      'ok: under; crossed: over, alert being fired; fired: alerted this period; restated_below: alerted, and a restatement brought spend back under (never fires again this period); no_forecast',
    ),
  alert_id: z.number().int().nullable(),
  fired_at: z.string().nullable(),
  below_since: z.string().nullable(),
  restatements: z.number().int(),
});

export const budgetSchema = z.object({
  id: z.number().int(),
  organization_id: z.number().int(),
  name: z.string(),
  period: z.enum(['monthly', 'quarterly', 'annual']),
  amount: money,
  metric: z.enum(['unblended', 'amortized', 'net_unblended']),
  scope: z.record(z.string(), z.array(z.string())),
  channel_ids: z.array(z.number().int()),
  created_at: z.string(),
  updated_at: z.string(),
  current: z.object({
    period_start: z.string().describe('first day of the current period'),
    period_end: z.string().describe('last day of the current period, inclusive'),
    actual: money,
    forecast: money
      .nullable()
      .describe('projected spend of the whole period (docs/ALERTS.md); null without a stored forecast'),
  }),
  thresholds: z.array(thresholdState),
});

export const budgetListResponse = z.object({
  organization_id: z.number().int(),
  items: z.array(budgetSchema),
});
export const deletedResponse = z.object({ id: z.number().int(), deleted: z.literal(true) });

const httpUrl = z
  .string()
  .max(2048, 'must be at most 2048 characters')
  .refine((v) => {
    try {
      const u = new URL(v);
      return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
    } catch {
      return false;
    }
  }, 'must be an http:// or https:// URL');

const email = z
  .string()
  .max(254)
  .regex(/^[^@\s]+@[^@\s]+\.[^@\s]+$/, 'must be an email address');

export const createChannelBody = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('webhook'),
    name,
    url: httpUrl,
    signing_secret: z
      .string()
      .min(16, 'must be at least 16 characters')
      .max(512, 'must be at most 512 characters')
      .describe('HMAC-SHA256 key of X-CostWatch-Signature; write-only (never returned)'),
    format: z
      .enum(['json', 'slack'])
      .default('json')
      .describe('json: the CostWatch envelope; slack: text + blocks (Slack, Teams)'),
  }),
  z.strictObject({
    type: z.literal('email'),
    name,
    to: z.array(email).min(1, 'at least one recipient').max(50, 'at most 50 recipients'),
    smtp: z
      .strictObject({
        host: z.string().trim().min(1).max(253).optional(),
        port: z
          .number()
          .int('must be a whole number')
          .min(1, 'must be between 1 and 65535')
          .max(65535, 'must be between 1 and 65535')
          .optional(),
        secure: z.boolean().optional(),
        username: z.string().min(1).max(256).optional(),
        password: z.string().min(1).max(512).optional().describe('write-only (never returned)'),
      })
      .optional()
      .describe('overrides of the deployment SMTP_* settings'),
  }),
]);
export type CreateChannelBody = z.output<typeof createChannelBody>;

export const channelSchema = z.object({
  id: z.number().int(),
  organization_id: z.number().int(),
  name: z.string(),
  type: z.enum(['webhook', 'email']),
  url: z.string().nullable(),
  format: z.enum(['json', 'slack']).nullable(),
  to: z.array(z.string()).nullable(),
  smtp: z
    .object({
      host: z.string().nullable(),
      port: z.number().int().nullable(),
      secure: z.boolean().nullable(),
      username: z.string().nullable(),
      password_set: z.boolean(),
    })
    .nullable(),
  signing_secret_set: z.boolean(),
  budget_ids: z.array(z.number().int()),
  created_at: z.string(),
});
export const channelListResponse = z.object({
  organization_id: z.number().int(),
  items: z.array(channelSchema),
});

export const deliverySchema = z.object({
  id: z.string().describe('delivery id = X-CostWatch-Delivery, the idempotency key'),
  channel_id: z.number().int(),
  type: z.string(),
  status: z.enum(['pending', 'sending', 'delivered', 'failed']),
  attempts: z.number().int(),
  last_response_code: z.number().int().nullable(),
  last_error: z.string().nullable(),
  next_attempt_at: z.string(),
  deadline_at: z.string(),
  created_at: z.string(),
  delivered_at: z.string().nullable(),
});
export const testResponse = z.object({ delivery: deliverySchema });

export const alertsQuery = z
  .strictObject({
    org_id: orgIdParam,
    budget_id: z
      .string()
      .regex(/^\d{1,15}$/, 'must be a positive whole number')
      .transform(Number)
      .optional()
      .describe('only this budget'),
    kind: z.enum(['actual', 'forecasted']).optional(),
    from: isoDate.optional().describe('fired on or after this day'),
    to: isoDate.optional().describe('fired on or before this day'),
    limit: limitParam,
    offset: offsetParam,
  })
  .superRefine((q, ctx) => {
    if (q.from && q.to && q.from > q.to)
      ctx.addIssue({ code: 'custom', path: ['from'], message: 'must not be after to' });
  });

export const alertsResponse = z.object({
  organization_id: z.number().int(),
  items: z.array(
    z.object({
      id: z.number().int(),
      budget: z.object({ id: z.number().int(), name: z.string() }),
      period_start: z.string(),
      period_end: z.string(),
      threshold: z.object({ percent: z.number(), kind: z.enum(['actual', 'forecasted']) }),
      budget_amount: money,
      threshold_amount: money,
      spend_at_fire: money,
      actual_at_fire: money,
      forecast_at_fire: money.nullable(),
      fired_at: z.string(),
      current_spend: money.describe('the latest evaluation of this kind of spend'),
      below_since: z.string().nullable().describe('set while a restatement keeps spend under the threshold'),
      first_below_at: z.string().nullable(),
      restatements: z
        .number()
        .int()
        .describe('times spend fell back under the threshold (never fired again)'),
      deliveries: z.array(deliverySchema),
    }),
  ),
  ...offsetPage,
});
