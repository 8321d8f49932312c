/**
 * Anomaly alert decisions: which subscription hears of which anomaly, and when. An anomaly is
 * announced once when it opens (level 0, `anomaly.opened`) and again each time its impact reaches
 * 2^k times the impact it was announced with (level k, `anomaly.updated`). Each decision is a row
 * unique per (anomaly, subscription, level), written in the detection's transaction, so it is
 * made once across replicas, retries and kill -9; the row carries everything the outbox needs.
 */
import type { Queryable } from '../../lib/db.js';
import type { AnomalyRow } from './anomalies.repository.js';

/** One decided alert, in the shape of the outbox's `enqueueNotifications` input. */
export interface AnomalyAlertDecision {
  id: number;
  organizationId: number;
  anomalyId: number;
  subscriptionId: number;
  level: number;
  type: 'anomaly.opened' | 'anomaly.updated';
  channelIds: number[];
  idempotencyKey: string;
  data: Record<string, unknown>;
}

/** The idempotency key of an alert: the same on every retry, distinct per anomaly, subscription and level. */
export function anomalyAlertKey(anomalyId: number, subscriptionId: number, level: number): string {
  return `anomaly-${anomalyId}-sub-${subscriptionId}-level-${level}`;
}

/** Level an anomaly of `impact` has reached against the impact it opened with (0 = opened). */
export function alertLevel(openedImpact: number, impact: number): number {
  if (!(openedImpact > 0) || !(impact > openedImpact)) return 0;
  return Math.floor(Math.log2(impact / openedImpact) + 1e-9);
}

/** The webhook `data` of an anomaly alert. */
export function anomalyAlertData(
  anomaly: AnomalyRow,
  subscription: { id: number; name: string },
  level: number,
) {
  return {
    anomaly: {
      id: anomaly.id,
      dimension: anomaly.dimension,
      key: anomaly.key,
      kind: anomaly.kind,
      start: anomaly.start_day,
      end: anomaly.end_day,
      status: anomaly.status,
      impact: { amount: anomaly.impact, unit: anomaly.unit },
      expected: { amount: anomaly.expected, unit: anomaly.unit },
      actual: { amount: anomaly.actual, unit: anomaly.unit },
      max_score: anomaly.max_score,
      root_causes: anomaly.root_causes,
    },
    subscription: { id: subscription.id, name: subscription.name },
    level,
  };
}

interface Existing {
  anomaly_id: number;
  subscription_id: number;
  max_level: number;
  opened_impact: string | null;
}

/**
 * recordAnomalyNotificationDecisions: for the given anomalies of one org (opening alerts for open or
 * provisional ones, doubling alerts for those already announced; none for suppressed series), decides the alerts each enabled subscription is due and inserts them; returns the
 * decisions this call made (a decision already made is never returned again). Call inside the
 * detection's transaction, under the org's anomaly lock. Params: client, org, anomalies, now.
 */
export async function recordAnomalyNotificationDecisions(
  db: Queryable,
  q: { orgId: number; anomalies: readonly AnomalyRow[]; suppressed: ReadonlySet<string>; now: Date },
): Promise<AnomalyAlertDecision[]> {
  // Withdrawn anomalies say nothing; a closed one may still announce that it doubled, but a
  // closed one nobody heard of (history a backfill found) is not news.
  const candidates = q.anomalies.filter(
    (a) => a.status !== 'withdrawn' && !q.suppressed.has(`${a.dimension}\u0000${a.key}`),
  );
  if (candidates.length === 0) return [];
  const { rows: subscriptions } = await db.query<{
    id: number;
    name: string;
    min_impact: string;
    channel_ids: number[];
  }>(
    `SELECT id::int AS id, name, min_impact::text AS min_impact, channel_ids::int[] AS channel_ids
       FROM anomaly_subscriptions WHERE organization_id = $1 AND enabled ORDER BY id`,
    [q.orgId],
  );
  if (subscriptions.length === 0) return [];
  const { rows: existing } = await db.query<Existing>(
    `SELECT anomaly_id::int AS anomaly_id, subscription_id::int AS subscription_id, max(level)::int AS max_level,
            (min(impact::text) FILTER (WHERE level = 0)) AS opened_impact
       FROM anomaly_notifications WHERE anomaly_id = ANY($1::bigint[])
      GROUP BY anomaly_id, subscription_id`,
    [candidates.map((a) => a.id)],
  );
  const made = new Map(existing.map((e) => [`${e.anomaly_id}/${e.subscription_id}`, e]));
  const decisions: AnomalyAlertDecision[] = [];
  for (const anomaly of candidates) {
    const impact = Math.abs(Number(anomaly.impact));
    for (const sub of subscriptions) {
      if (impact < Number(sub.min_impact)) continue;
      const before = made.get(`${anomaly.id}/${sub.id}`);
      if (!before && anomaly.status === 'closed') continue;
      const level = before ? alertLevel(Math.abs(Number(before.opened_impact ?? 0)), impact) : 0;
      if (before && level <= before.max_level) continue;
      const type = level === 0 ? 'anomaly.opened' : 'anomaly.updated';
      const idempotencyKey = anomalyAlertKey(anomaly.id, sub.id, level);
      const data = anomalyAlertData(anomaly, sub, level);
      const { rows } = await db.query<{ id: number }>(
        `INSERT INTO anomaly_notifications (organization_id, anomaly_id, subscription_id, level, type, impact,
                                            channel_ids, idempotency_key, data, decided_at)
         VALUES ($1, $2, $3, $4, $5, $6::numeric, $7::bigint[], $8, $9::jsonb, $10)
         ON CONFLICT DO NOTHING RETURNING id::int AS id`,
        [
          q.orgId,
          anomaly.id,
          sub.id,
          level,
          type,
          anomaly.impact,
          sub.channel_ids,
          idempotencyKey,
          JSON.stringify(data),
          q.now,
        ],
      );
      const row = rows[0];
      if (!row) continue;
      decisions.push({
        id: row.id,
        organizationId: q.orgId,
        anomalyId: anomaly.id,
        subscriptionId: sub.id,
        level,
        type,
        channelIds: sub.channel_ids,
        idempotencyKey,
        data,
      });
    }
  }
  return decisions;
}

/** markAnomalyNotificationsEnqueued: the outbox has taken these decisions (set once). */
export async function markAnomalyNotificationsEnqueued(
  db: Queryable,
  ids: readonly number[],
  now: Date,
): Promise<void> {
  if (ids.length === 0) return;
  await db.query(
    'UPDATE anomaly_notifications SET enqueued_at = $2 WHERE id = ANY($1::bigint[]) AND enqueued_at IS NULL',
    [ids, now],
  );
}

export interface AnomalyNotificationRow {
  id: number;
  anomaly_id: number;
  subscription_id: number;
  level: number;
  type: string;
  idempotency_key: string;
  decided_at: Date;
  enqueued_at: Date | null;
}

/** listAnomalyNotifications: the decisions of one org's anomaly, oldest first. */
export async function listAnomalyNotifications(
  db: Queryable,
  orgId: number,
  anomalyId: number,
): Promise<AnomalyNotificationRow[]> {
  const { rows } = await db.query<AnomalyNotificationRow>(
    `SELECT id::int AS id, anomaly_id::int AS anomaly_id, subscription_id::int AS subscription_id, level, type,
            idempotency_key, decided_at, enqueued_at
       FROM anomaly_notifications WHERE organization_id = $1 AND anomaly_id = $2 ORDER BY level, id`,
    [orgId, anomalyId],
  );
  return rows;
}
