/**
 * /anomalies: the organization's cost anomalies, feedback on them; /anomaly-subscriptions: who is
 * alerted; /anomaly-settings: the detector's per-org gates. Reads and writes of the org's own rows
 * only (another org's id answers 404).
 */
import { checkChannels } from './budgets.routes.js';
import {
  createAnomalySubscription,
  findAnomaly,
  findAnomalySettings,
  listAnomalies,
  listAnomalySubscriptions,
  recordAnomalyFeedback,
  updateAnomalySubscription,
  upsertAnomalySettings,
  type AnomalyRow,
  type SubscriptionRow,
} from '../../database/repositories/anomalies.repository.js';
import { DEFAULT_DETECTOR_SETTINGS } from '../../lib/anomaly-detect.js';
import { notFound } from '../errors.js';
import { orgRoute, type Route } from '../routing.js';
import { pageOf } from './common.schema.js';
import {
  createSubscriptionBody,
  feedbackBody,
  feedbackResponse,
  anomaly as anomalySchema,
  listQuery,
  listResponse,
  oneQuery,
  pathId,
  settings,
  settingsBody,
  subscription as subscriptionSchema,
  subscriptionsResponse,
  updateSubscriptionBody,
} from './anomalies.schema.js';

/** A `no` feedback keeps its series from opening new anomalies this long. */
export const SUPPRESSION_MS = 7 * 86_400_000;

function anomalyOut(a: AnomalyRow) {
  return {
    id: a.id,
    dimension: a.dimension,
    key: a.key,
    kind: a.kind,
    start: a.start_day,
    end: a.end_day,
    status: a.status,
    withdrawn_reason: a.withdrawn_reason,
    impact: { amount: a.impact, unit: a.unit },
    expected: { amount: a.expected, unit: a.unit },
    actual: { amount: a.actual, unit: a.unit },
    max_score: a.max_score,
    root_causes: a.root_causes,
    feedback: a.feedback,
    feedback_at: a.feedback_at?.toISOString() ?? null,
    detected_at: a.detected_at.toISOString(),
    updated_at: a.updated_at.toISOString(),
  };
}

function subscriptionOut(s: SubscriptionRow) {
  return {
    id: s.id,
    name: s.name,
    min_impact: { amount: s.min_impact, unit: 'USD' },
    channel_ids: s.channel_ids,
    enabled: s.enabled,
    created_at: s.created_at.toISOString(),
    updated_at: s.updated_at.toISOString(),
  };
}

async function settingsOut(app: { db: Parameters<typeof findAnomalySettings>[0] }, orgId: number) {
  const row = await findAnomalySettings(app.db, orgId);
  return {
    organization_id: orgId,
    min_impact_absolute: {
      amount: row?.min_impact_absolute ?? String(DEFAULT_DETECTOR_SETTINGS.minImpactAbsolute),
      unit: 'USD',
    },
    min_impact_relative: Number(row?.min_impact_relative ?? DEFAULT_DETECTOR_SETTINGS.minImpactRelative),
    z_threshold: Number(row?.z_threshold ?? DEFAULT_DETECTOR_SETTINGS.zThreshold),
    detect_drops: row?.detect_drops ?? DEFAULT_DETECTOR_SETTINGS.detectDrops,
  };
}

const WRITERS = ['admin', 'operator'] as const;

export const anomalyRoutes: Route[] = [
  orgRoute({
    method: 'get',
    path: '/anomalies',
    tag: 'anomalies',
    summary: 'Cost anomalies, newest start first, offset-paginated',
    description:
      'Anomalies found on the daily service and linked-account series (docs/ANOMALIES.md), with root causes. ' +
      '`provisional`: a flagged day is still Estimated; `withdrawn`: a restatement moved it below the gates.',
    query: listQuery,
    response: listResponse,
    async handler({ app, orgId, query }) {
      const rows = await listAnomalies(app.db, {
        orgId,
        status: query.status ?? null,
        service: query.service ?? null,
        account: query.account ?? null,
        from: query.from ?? null,
        to: query.to ?? null,
        minImpact: query.min_impact ?? null,
        limit: query.limit,
        offset: query.offset,
      });
      const page = pageOf(rows, query.limit, query.offset);
      return { organization_id: orgId, ...page, items: page.items.map(anomalyOut) };
    },
  }),
  orgRoute({
    method: 'get',
    path: '/anomalies/:id',
    tag: 'anomalies',
    summary: 'One anomaly',
    query: oneQuery,
    response: anomalySchema,
    async handler({ app, orgId, req }) {
      const row = await findAnomaly(app.db, orgId, pathId(req.params.id));
      if (!row) throw notFound('anomaly');
      return anomalyOut(row);
    },
  }),
  orgRoute({
    method: 'post',
    path: '/anomalies/:id/feedback',
    tag: 'anomalies',
    summary: 'Feedback on an anomaly: yes | no | planned (no suppresses its series for 7 days)',
    query: oneQuery,
    body: feedbackBody,
    response: feedbackResponse,
    async handler({ app, orgId, req, body, now, principal }) {
      const id = pathId(req.params.id);
      const until = new Date(now.getTime() + SUPPRESSION_MS);
      const row = await recordAnomalyFeedback(app.db, {
        orgId,
        id,
        feedback: body.feedback,
        userId: principal.userId,
        now,
        until,
      });
      if (!row) throw notFound('anomaly');
      return {
        anomaly: anomalyOut(row),
        suppressed_until: body.feedback === 'no' ? until.toISOString() : null,
      };
    },
  }),
  orgRoute({
    method: 'get',
    path: '/anomaly-subscriptions',
    tag: 'anomalies',
    summary: 'Anomaly alert subscriptions (min impact, notification channels)',
    query: oneQuery,
    response: subscriptionsResponse,
    async handler({ app, orgId }) {
      const rows = await listAnomalySubscriptions(app.db, orgId);
      return { organization_id: orgId, items: rows.map(subscriptionOut) };
    },
  }),
  orgRoute({
    method: 'post',
    path: '/anomaly-subscriptions',
    tag: 'anomalies',
    summary: 'Subscribe notification channels to anomalies of at least min_impact (admin or operator)',
    description: 'Each anomaly alerts once when it opens and again each time its impact doubles.',
    status: 201,
    errors: [403],
    roles: WRITERS,
    query: oneQuery,
    body: createSubscriptionBody,
    response: subscriptionSchema,
    async handler({ app, orgId, body, now }) {
      await checkChannels(app.db, orgId, body.channel_ids);
      const row = await createAnomalySubscription(app.db, {
        orgId,
        name: body.name,
        minImpact: body.min_impact,
        channelIds: body.channel_ids,
        now,
      });
      return subscriptionOut(row);
    },
  }),
  orgRoute({
    method: 'post',
    path: '/anomaly-subscriptions/:id',
    tag: 'anomalies',
    summary: 'Change a subscription: name, min_impact, channel_ids, enabled (admin or operator)',
    errors: [403],
    roles: WRITERS,
    query: oneQuery,
    body: updateSubscriptionBody,
    response: subscriptionSchema,
    async handler({ app, orgId, req, body, now }) {
      await checkChannels(app.db, orgId, body.channel_ids);
      const row = await updateAnomalySubscription(app.db, {
        orgId,
        id: pathId(req.params.id),
        name: body.name ?? null,
        minImpact: body.min_impact ?? null,
        channelIds: body.channel_ids ?? null,
        enabled: body.enabled ?? null,
        now,
      });
      if (!row) throw notFound('subscription');
      return subscriptionOut(row);
    },
  }),
  orgRoute({
    method: 'get',
    path: '/anomaly-settings',
    tag: 'anomalies',
    summary: "The detector's gates for this organization",
    query: oneQuery,
    response: settings,
    async handler({ app, orgId }) {
      return settingsOut(app, orgId);
    },
  }),
  orgRoute({
    method: 'post',
    path: '/anomaly-settings',
    tag: 'anomalies',
    summary: "Change the detector's gates (admin or operator); applies from the next detection",
    errors: [403],
    roles: WRITERS,
    query: oneQuery,
    body: settingsBody,
    response: settings,
    async handler({ app, orgId, body, now }) {
      await upsertAnomalySettings(app.db, {
        orgId,
        minImpactAbsolute: body.min_impact_absolute ?? null,
        minImpactRelative: body.min_impact_relative === undefined ? null : String(body.min_impact_relative),
        zThreshold: body.z_threshold === undefined ? null : String(body.z_threshold),
        detectDrops: body.detect_drops ?? null,
        now,
      });
      return settingsOut(app, orgId);
    },
  }),
];
