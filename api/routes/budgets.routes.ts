/**
 * /budgets (viewers read with the current actual, forecast and each threshold's state; admins
 * write), /notification-channels (admins; secrets write-only; POST /{id}/test), /alerts (viewers,
 * each alert with its deliveries). Org-scoped like every route: the caller's organization, or for
 * an operator the one named by org_id.
 */
import { randomUUID } from 'node:crypto';
import type { Request } from 'express';
import type { z } from 'zod';
import type { ApiContext } from '../context.js';
import { toIsoDate } from '../../lib/dates.js';
import type { Queryable } from '../../lib/db.js';
import { validateBudgetScope, type BudgetScope } from '../../lib/budget-scope.js';
import {
  budgetStates,
  createBudget,
  deleteBudget,
  foreignChannels,
  listBudgets,
  updateBudget,
  type Budget,
  type BudgetInput,
  type ThresholdState,
} from '../../database/repositories/budgets.repository.js';
import {
  createChannel,
  deleteChannel,
  listChannels,
  type ChannelSummary,
} from '../../database/repositories/notification-channels.repository.js';
import {
  enqueueNotifications,
  getDelivery,
  listAlerts,
} from '../../database/repositories/notifications.repository.js';
import { dispatchDeliveries, enqueueBudgetEvaluation } from '../../producers/notifications.js';
import { ApiError, notFound } from '../errors.js';
import { orgRoute, type Route } from '../routing.js';
import { asMoney, pageOf } from './common.schema.js';
import {
  alertsQuery,
  alertsResponse,
  budgetListResponse,
  budgetSchema,
  channelListResponse,
  channelSchema,
  createBudgetBody,
  createChannelBody,
  deletedResponse,
  orgQuery,
  testResponse,
  updateBudgetBody,
} from './budgets.schema.js';

/** The `:id` path parameter, or 400 naming it. */
function pathId(req: Request): number {
  const raw = req.params.id;
  if (typeof raw !== 'string' || !/^\d{1,15}$/.test(raw) || Number(raw) < 1)
    throw new ApiError('validation_failed', 'id: must be a positive whole number', 'id');
  return Number(raw);
}

function stateOf(s: ThresholdState): z.input<typeof budgetSchema>['thresholds'][number]['state'] {
  if (s.kind === 'forecasted' && s.forecast === null && s.alertId === null) return 'no_forecast';
  if (s.alertId !== null) return s.belowSince ? 'restated_below' : 'fired';
  return s.crossed ? 'crossed' : 'ok';
}

function budgetView(b: Budget, states: ThresholdState[]): z.input<typeof budgetSchema> {
  const mine = states.filter((s) => s.budgetId === b.id);
  const first = mine[0];
  const lastDay = (end: string) => toIsoDate(new Date(Date.parse(`${end}T00:00:00Z`) - 86_400_000));
  return {
    id: b.id,
    organization_id: b.organizationId,
    name: b.name,
    period: b.period,
    amount: asMoney(b.amount, b.currency),
    metric: b.metric,
    scope: b.scope,
    channel_ids: b.channelIds,
    created_at: b.createdAt.toISOString(),
    updated_at: b.updatedAt.toISOString(),
    current: {
      period_start: first?.periodStart ?? '',
      period_end: first ? lastDay(first.periodEnd) : '',
      actual: asMoney(first?.actual ?? '0', b.currency),
      forecast: first?.forecast != null ? asMoney(first.forecast, b.currency) : null,
    },
    thresholds: mine.map((s) => {
      const spend = s.kind === 'actual' ? s.actual : s.forecast;
      return {
        percent: s.percent,
        kind: s.kind,
        amount: asMoney(s.thresholdAmount, b.currency),
        spend: spend === null ? null : asMoney(spend, b.currency),
        state: stateOf(s),
        alert_id: s.alertId,
        fired_at: s.firedAt?.toISOString() ?? null,
        below_since: s.belowSince?.toISOString() ?? null,
        restatements: s.restatements,
      };
    }),
  };
}

async function budgetViews(db: Queryable, orgId: number, today: string, ids: number[] | null) {
  const [budgets, states] = await Promise.all([
    listBudgets(db, orgId, ids),
    budgetStates(db, orgId, today, ids),
  ]);
  return budgets.map((b) => budgetView(b, states));
}

/** A budget just written: its evaluation queued (it evaluates at once), and its view as of `now`. */
async function evaluatedView(app: ApiContext, orgId: number, id: number, now: Date) {
  await enqueueBudgetEvaluation(app.queues, orgId);
  const [view] = await budgetViews(app.db, orgId, toIsoDate(now), [id]);
  if (!view) throw notFound('budget');
  return view;
}

/** Refuses (400 on channel_ids) channel ids that are not notification channels of the organization. */
export async function checkChannels(
  db: Queryable,
  orgId: number,
  ids: number[] | undefined | null,
): Promise<void> {
  if (!ids) return;
  const foreign = await foreignChannels(db, orgId, ids);
  if (foreign.length > 0)
    throw new ApiError(
      'validation_failed',
      `channel_ids: no notification channel ${foreign.join(', ')} in this organization`,
      'channel_ids',
    );
}

function normalizedScope(raw: Record<string, string | string[]> | undefined): BudgetScope | undefined {
  if (raw === undefined) return undefined;
  const check = validateBudgetScope(raw);
  if (!check.ok) throw new ApiError('validation_failed', `${check.field}: ${check.message}`, check.field);
  return check.scope;
}

function isUniqueViolation(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === '23505';
}

const ADMINS = ['admin', 'operator'] as const;

export const budgetRoutes: Route[] = [
  orgRoute({
    method: 'get',
    path: '/budgets',
    tag: 'budgets',
    summary:
      "The organization's budgets with the current period's actual and forecasted spend and each threshold's state",
    query: orgQuery,
    response: budgetListResponse,
    async handler({ app, orgId, now }) {
      return { organization_id: orgId, items: await budgetViews(app.db, orgId, toIsoDate(now), null) };
    },
  }),
  orgRoute({
    method: 'get',
    path: '/budgets/:id',
    tag: 'budgets',
    summary: 'One budget with its current spend and threshold states',
    query: orgQuery,
    response: budgetSchema,
    async handler({ app, orgId, now, req }) {
      const [view] = await budgetViews(app.db, orgId, toIsoDate(now), [pathId(req)]);
      if (!view) throw notFound('budget');
      return view;
    },
  }),
  orgRoute({
    method: 'post',
    path: '/budgets',
    tag: 'budgets',
    summary: 'Create a budget (admin); it is evaluated at once',
    description:
      'Thresholds are percents (1..1000) of the amount on actual or forecasted spend of the calendar period (UTC). ' +
      'The amount must be in USD. An alert fires once per (budget, period, threshold, kind) to the listed channels.',
    status: 201,
    errors: [403, 409],
    roles: ADMINS,
    query: orgQuery,
    body: createBudgetBody,
    response: budgetSchema,
    async handler({ app, orgId, now, body }) {
      await checkChannels(app.db, orgId, body.channel_ids);
      const input: BudgetInput = {
        name: body.name,
        period: body.period,
        amount: body.amount.amount,
        currency: body.amount.unit,
        metric: body.metric,
        scope: normalizedScope(body.scope) ?? {},
        thresholds: body.thresholds,
        channelIds: body.channel_ids,
      };
      let id: number;
      try {
        id = await createBudget(app.db, orgId, input);
      } catch (error) {
        if (isUniqueViolation(error))
          throw new ApiError('conflict', `a budget named "${body.name}" exists`, 'name');
        throw error;
      }
      // A budget created mid-period evaluates at once.
      return evaluatedView(app, orgId, id, now);
    },
  }),
  orgRoute({
    method: 'patch',
    path: '/budgets/:id',
    tag: 'budgets',
    summary: 'Change a budget (admin); thresholds and channel_ids replace the lists; evaluated at once',
    errors: [403, 409],
    roles: ADMINS,
    query: orgQuery,
    body: updateBudgetBody,
    response: budgetSchema,
    async handler({ app, orgId, now, body, req }) {
      const id = pathId(req);
      await checkChannels(app.db, orgId, body.channel_ids);
      const scope = normalizedScope(body.scope);
      let found: boolean;
      try {
        found = await updateBudget(app.db, orgId, id, {
          ...(body.name !== undefined ? { name: body.name } : {}),
          ...(body.period !== undefined ? { period: body.period } : {}),
          ...(body.amount !== undefined ? { amount: body.amount.amount, currency: body.amount.unit } : {}),
          ...(body.metric !== undefined ? { metric: body.metric } : {}),
          ...(scope !== undefined ? { scope } : {}),
          ...(body.thresholds !== undefined ? { thresholds: body.thresholds } : {}),
          ...(body.channel_ids !== undefined ? { channelIds: body.channel_ids } : {}),
        });
      } catch (error) {
        if (isUniqueViolation(error))
          throw new ApiError('conflict', `a budget named "${body.name ?? ''}" exists`, 'name');
        throw error;
      }
      if (!found) throw notFound('budget');
      return evaluatedView(app, orgId, id, now);
    },
  }),
  orgRoute({
    method: 'delete',
    path: '/budgets/:id',
    tag: 'budgets',
    summary: 'Delete a budget and its alerts (admin)',
    errors: [403],
    roles: ADMINS,
    query: orgQuery,
    response: deletedResponse,
    async handler({ app, orgId, req }) {
      const id = pathId(req);
      if (!(await deleteBudget(app.db, orgId, id))) throw notFound('budget');
      return { id, deleted: true as const };
    },
  }),
];

function channelView(c: ChannelSummary): z.input<typeof channelSchema> {
  return {
    id: c.id,
    organization_id: c.organizationId,
    name: c.name,
    type: c.type,
    url: c.url,
    format: c.format,
    to: c.recipients,
    smtp: c.smtp
      ? {
          host: c.smtp.host,
          port: c.smtp.port,
          secure: c.smtp.secure,
          username: c.smtp.username,
          password_set: c.smtp.passwordSet,
        }
      : null,
    signing_secret_set: c.signingSecretSet,
    budget_ids: c.budgetIds,
    created_at: c.createdAt.toISOString(),
  };
}

const iso = (v: string | Date | null): string | null => (v === null ? null : new Date(v).toISOString());

function deliveryView(d: Awaited<ReturnType<typeof getDelivery>> & object) {
  return {
    ...d,
    next_attempt_at: new Date(d.next_attempt_at).toISOString(),
    deadline_at: new Date(d.deadline_at).toISOString(),
    created_at: new Date(d.created_at).toISOString(),
    delivered_at: iso(d.delivered_at),
  };
}

export const channelRoutes: Route[] = [
  orgRoute({
    method: 'get',
    path: '/notification-channels',
    tag: 'notification-channels',
    summary: "The organization's notification channels (admin); secrets are never returned",
    errors: [403],
    roles: ADMINS,
    query: orgQuery,
    response: channelListResponse,
    async handler({ app, orgId }) {
      return { organization_id: orgId, items: (await listChannels(app.db, orgId)).map(channelView) };
    },
  }),
  orgRoute({
    method: 'post',
    path: '/notification-channels',
    tag: 'notification-channels',
    summary: 'Create a webhook or email channel (admin)',
    description:
      'Webhook: POSTs the JSON envelope (or a Slack-compatible body) signed with X-CostWatch-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">. ' +
      'Email: plain text through SMTP (SMTP_* config, or the channel smtp overrides). signing_secret and smtp.password are write-only.',
    status: 201,
    errors: [403, 409],
    roles: ADMINS,
    query: orgQuery,
    body: createChannelBody,
    response: channelSchema,
    async handler({ app, orgId, body }) {
      try {
        const created = await createChannel(
          app.db,
          orgId,
          body.type === 'webhook'
            ? {
                type: 'webhook',
                name: body.name,
                url: body.url,
                signingSecret: body.signing_secret,
                format: body.format,
              }
            : { type: 'email', name: body.name, recipients: body.to, smtp: body.smtp },
        );
        return channelView(created);
      } catch (error) {
        if (isUniqueViolation(error))
          throw new ApiError('conflict', `a channel named "${body.name}" exists`, 'name');
        throw error;
      }
    },
  }),
  orgRoute({
    method: 'delete',
    path: '/notification-channels/:id',
    tag: 'notification-channels',
    summary: 'Delete a channel (admin); its undelivered notifications are dropped',
    errors: [403],
    roles: ADMINS,
    query: orgQuery,
    response: deletedResponse,
    async handler({ app, orgId, req }) {
      const id = pathId(req);
      if (!(await deleteChannel(app.db, orgId, id))) throw notFound('notification channel');
      return { id, deleted: true as const };
    },
  }),
  orgRoute({
    method: 'post',
    path: '/notification-channels/:id/test',
    tag: 'notification-channels',
    summary:
      'Send a test notification (admin) through the outbox; answers with the delivery once it is delivered or failed',
    description:
      'One attempt, sent by a worker like every notification (type "test"); the answer waits up to NOTIFY_TIMEOUT_MS + 5 s ' +
      'and may show status pending when no worker serves the notifications queue.',
    errors: [403],
    roles: ADMINS,
    query: orgQuery,
    response: testResponse,
    async handler({ app, orgId, now, req }) {
      const id = pathId(req);
      const [channel] = await listChannels(app.db, orgId, id);
      if (!channel) throw notFound('notification channel');
      const [deliveryId] = await enqueueNotifications(app.db, {
        organizationId: orgId,
        channelIds: [id],
        type: 'test',
        idempotencyKey: `test_${randomUUID()}`,
        data: {
          message: 'CostWatch test notification',
          channel: { id: channel.id, name: channel.name, type: channel.type },
        },
        createdAt: now,
        // One attempt: a failed test is reported, not retried for a day.
        deadlineSeconds: 0,
      });
      if (!deliveryId) throw new Error('test notification was not enqueued');
      await dispatchDeliveries(app.queues, [deliveryId]);
      const waitUntil = Date.now() + app.config.NOTIFY_TIMEOUT_MS + 5_000;
      for (;;) {
        const delivery = await getDelivery(app.db, orgId, deliveryId);
        if (!delivery) throw notFound('delivery');
        if (delivery.status === 'delivered' || delivery.status === 'failed' || Date.now() > waitUntil)
          return { delivery: deliveryView(delivery) };
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
  }),
];

export const alertRoutes: Route[] = [
  orgRoute({
    method: 'get',
    path: '/alerts',
    tag: 'alerts',
    summary:
      'Budget alerts, newest first, each with its deliveries (status, attempts, last response code and error)',
    query: alertsQuery,
    response: alertsResponse,
    async handler({ app, orgId, query }) {
      const rows = await listAlerts(app.db, {
        orgId,
        budgetId: query.budget_id ?? null,
        kind: query.kind ?? null,
        from: query.from ?? null,
        to: query.to ?? null,
        limit: query.limit,
        offset: query.offset,
      });
      const page = pageOf(rows, query.limit, query.offset);
      return {
        organization_id: orgId,
        ...page,
        items: page.items.map((a) => ({
          id: a.id,
          budget: { id: a.budget_id, name: a.budget_name },
          period_start: a.period_start,
          period_end: a.period_end,
          threshold: { percent: a.threshold_percent, kind: a.kind },
          budget_amount: asMoney(a.budget_amount, a.currency),
          threshold_amount: asMoney(a.threshold_amount, a.currency),
          spend_at_fire: asMoney(a.spend_at_fire, a.currency),
          actual_at_fire: asMoney(a.actual_at_fire, a.currency),
          forecast_at_fire: a.forecast_at_fire === null ? null : asMoney(a.forecast_at_fire, a.currency),
          fired_at: a.fired_at.toISOString(),
          current_spend: asMoney(a.current_spend, a.currency),
          below_since: iso(a.below_since),
          first_below_at: iso(a.first_below_at),
          restatements: a.restatements,
          deliveries: a.deliveries.map(deliveryView),
        })),
      };
    },
  }),
];
