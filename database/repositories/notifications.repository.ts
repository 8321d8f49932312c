/**
 * The notification outbox and delivery log. A delivery is one outbox row per (channel, source
 * event); its id is the idempotency key sent as X-CostWatch-Delivery on every attempt. Senders
 * claim a row with a lease, send, then record the attempt; a crash between sending and recording
 * is the only way a receiver sees a delivery twice, and then with the same id.
 */
import type { Queryable } from '../../lib/db.js';
import type { ChannelType } from './notification-channels.repository.js';

export type NotificationType = 'budget.threshold_crossed' | 'anomaly.opened' | 'anomaly.updated' | 'test';
export type DeliveryStatus = 'pending' | 'sending' | 'delivered' | 'failed';

/** Default time a notification is retried for before it is marked failed (NOTIFY_DEADLINE_SECONDS). */
export const DEFAULT_DEADLINE_SECONDS = 86_400;

export interface NewNotification {
  organizationId: number;
  /** Channels to notify; channels of another organization are ignored. */
  channelIds: number[];
  type: NotificationType;
  /**
   * What the notification is about, e.g. `anomaly_42_opened`: at most one delivery per (channel,
   * key) ever exists, so enqueueing the same key again (a retried job) adds nothing.
   */
  idempotencyKey: string;
  /** The webhook body's `data`. */
  data: Record<string, unknown>;
  /** The body's created_at (the injected clock's instant); default: the database's now(). */
  createdAt?: Date;
  /** Retry until this many seconds from now, then `failed` (default NOTIFY_DEADLINE_SECONDS' default). */
  deadlineSeconds?: number;
  /** Optional budget alert the deliveries belong to. */
  alertId?: number | null;
}

/**
 * enqueueNotifications: adds one outbox row per channel, in the caller's transaction when `client`
 * is one, and returns the ids of the rows it created (none for a key already enqueued). Hand the ids
 * to `dispatchDeliveries` (producers/notifications.ts) after commit; the notifications queue's
 * sweep also picks up any row left without a job (a crash between commit and enqueue).
 * Params: org, channel ids, type, key, data, created_at, deadline seconds, alert id.
 */
export async function enqueueNotifications(client: Queryable, n: NewNotification): Promise<string[]> {
  const { rows } = await client.query<{ id: string }>(
    `INSERT INTO notification_outbox (organization_id, channel_id, alert_id, source_key, type, data, created_at, deadline_at)
     SELECT $1, c.id, $8, $4, $3, $5::jsonb, coalesce($6::timestamptz, now()), now() + make_interval(secs => $7)
       FROM notification_channels c WHERE c.organization_id = $1 AND c.id = ANY($2::bigint[])
     ON CONFLICT (channel_id, source_key) DO NOTHING
     RETURNING id::text`,
    [
      n.organizationId,
      n.channelIds,
      n.type,
      n.idempotencyKey,
      JSON.stringify(n.data),
      n.createdAt ?? null,
      n.deadlineSeconds ?? DEFAULT_DEADLINE_SECONDS,
      n.alertId ?? null,
    ],
  );
  return rows.map((r) => r.id);
}

export interface ClaimedDelivery {
  id: string;
  type: NotificationType;
  data: Record<string, unknown>;
  createdAt: Date;
  attempt: number;
  deadlineAt: Date;
  channelId: number;
  channelType: ChannelType;
  organization: { id: number; name: string };
}

export type Claim =
  | { state: 'claimed'; delivery: ClaimedDelivery }
  | { state: 'done'; status: DeliveryStatus }
  | { state: 'wait'; until: Date }
  | { state: 'missing' };

// claimDelivery: takes a pending, due delivery (or one whose sender's lease expired) for one
// attempt: status sending, attempts + 1, lease for leaseSeconds. Otherwise says why not.
// Params: id, lease seconds.
export async function claimDelivery(db: Queryable, id: string, leaseSeconds: number): Promise<Claim> {
  const { rows } = await db.query<{
    state: 'claimed' | 'done' | 'wait';
    status: DeliveryStatus;
    until: Date | null;
    delivery: ClaimedDelivery | null;
  }>(
    `WITH c AS (
       UPDATE notification_outbox SET status = 'sending', attempts = attempts + 1, lease_until = now() + make_interval(secs => $2)
        WHERE id = $1::uuid AND ((status = 'pending' AND next_attempt_at <= now()) OR (status = 'sending' AND lease_until < now()))
       RETURNING *)
     SELECT 'claimed' AS state, 'sending' AS status, NULL::timestamptz AS until,
            json_build_object('id', c.id, 'type', c.type, 'data', c.data, 'createdAt', c.created_at, 'attempt', c.attempts,
                              'deadlineAt', c.deadline_at, 'channelId', c.channel_id, 'channelType', ch.type,
                              'organization', json_build_object('id', o.id, 'name', o.name)) AS delivery
       FROM c JOIN organizations o ON o.id = c.organization_id JOIN notification_channels ch ON ch.id = c.channel_id
     UNION ALL
     SELECT CASE WHEN n.status IN ('delivered', 'failed') THEN 'done' ELSE 'wait' END, n.status,
            CASE WHEN n.status = 'pending' THEN n.next_attempt_at ELSE n.lease_until END, NULL
       FROM notification_outbox n WHERE n.id = $1::uuid AND NOT EXISTS (SELECT 1 FROM c)`,
    [id, leaseSeconds],
  );
  const row = rows[0];
  if (!row) return { state: 'missing' };
  if (row.state === 'claimed' && row.delivery) {
    const d = row.delivery;
    return {
      state: 'claimed',
      delivery: { ...d, createdAt: new Date(d.createdAt), deadlineAt: new Date(d.deadlineAt) },
    };
  }
  if (row.state === 'wait') return { state: 'wait', until: row.until ?? new Date() };
  return { state: 'done', status: row.status };
}

export interface AttemptOutcome {
  id: string;
  attempt: number;
  ok: boolean;
  responseCode: number | null;
  error: string | null;
  durationMs: number;
  /** Delay before the next attempt when this one failed; past the deadline the delivery fails. */
  retryInMs: number;
}

// recordDeliveryAttempt: ends the claimed attempt: delivered, or pending again after retryInMs, or
// failed when that would pass the deadline; appends the attempt to the delivery log. Only the
// holder of this attempt records it (status sending, same attempt number).
// Params: id, ok, code, error, duration, retry delay ms, attempt.
export async function recordDeliveryAttempt(
  db: Queryable,
  o: AttemptOutcome,
): Promise<{ status: DeliveryStatus; nextAttemptAt: Date } | null> {
  const { rows } = await db.query<{ status: DeliveryStatus; nextAttemptAt: Date }>(
    `WITH u AS (
       UPDATE notification_outbox SET
              status = CASE WHEN $2 THEN 'delivered' WHEN now() + make_interval(secs => $6 / 1000.0) > deadline_at THEN 'failed' ELSE 'pending' END,
              next_attempt_at = CASE WHEN $2 THEN next_attempt_at ELSE now() + make_interval(secs => $6 / 1000.0) END,
              lease_until = NULL, last_response_code = $3, last_error = $4,
              delivered_at = CASE WHEN $2 THEN now() END,
              failed_at = CASE WHEN NOT $2 AND now() + make_interval(secs => $6 / 1000.0) > deadline_at THEN now() END
        WHERE id = $1::uuid AND status = 'sending' AND attempts = $7
       RETURNING id, status, next_attempt_at),
     log AS (
       INSERT INTO notification_attempts (delivery_id, attempt, outcome, response_code, error, duration_ms)
       SELECT id, $7, CASE status WHEN 'delivered' THEN 'delivered' WHEN 'failed' THEN 'failed' ELSE 'retry' END, $3, $4, $5 FROM u)
     SELECT status, next_attempt_at AS "nextAttemptAt" FROM u`,
    [o.id, o.ok, o.responseCode, o.error, o.durationMs, o.retryInMs, o.attempt],
  );
  return rows[0] ?? null;
}

// dueDeliveries: deliveries that should be in flight but may have no job (a crash between commit
// and enqueue, a job that failed): pending and overdue by graceSeconds, or sending with an expired
// lease. Params: grace seconds, limit.
export async function dueDeliveries(db: Queryable, graceSeconds: number, limit: number): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    `SELECT id::text FROM notification_outbox
      WHERE (status = 'pending' AND next_attempt_at < now() - make_interval(secs => $1))
         OR (status = 'sending' AND lease_until < now() - make_interval(secs => $1))
      ORDER BY next_attempt_at LIMIT $2`,
    [graceSeconds, limit],
  );
  return rows.map((r) => r.id);
}

// undeliveredCount: deliveries not yet delivered nor failed (the undelivered gauge). Params: none.
export async function undeliveredCount(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM notification_outbox WHERE status IN ('pending', 'sending')`,
  );
  return rows[0]?.n ?? 0;
}

export interface DeliveryView {
  id: string;
  channel_id: number;
  type: NotificationType;
  status: DeliveryStatus;
  attempts: number;
  last_response_code: number | null;
  last_error: string | null;
  next_attempt_at: string;
  deadline_at: string;
  created_at: string;
  delivered_at: string | null;
}

const DELIVERY_JSON = `json_build_object('id', n.id, 'channel_id', n.channel_id, 'type', n.type, 'status', n.status, 'attempts', n.attempts,
  'last_response_code', n.last_response_code, 'last_error', n.last_error, 'next_attempt_at', n.next_attempt_at,
  'deadline_at', n.deadline_at, 'created_at', n.created_at, 'delivered_at', n.delivered_at)`;

// getDelivery: one delivery of an organization as the API shows it. Params: org, id.
export async function getDelivery(db: Queryable, orgId: number, id: string): Promise<DeliveryView | null> {
  const { rows } = await db.query<{ d: DeliveryView }>(
    `SELECT ${DELIVERY_JSON} AS d FROM notification_outbox n WHERE n.organization_id = $1 AND n.id = $2::uuid`,
    [orgId, id],
  );
  return rows[0]?.d ?? null;
}

export interface AlertView {
  id: number;
  budget_id: number;
  budget_name: string;
  period_start: string;
  period_end: string;
  threshold_percent: number;
  kind: 'actual' | 'forecasted';
  budget_amount: string;
  currency: string;
  threshold_amount: string;
  spend_at_fire: string;
  actual_at_fire: string;
  forecast_at_fire: string | null;
  fired_at: Date;
  current_spend: string;
  below_since: Date | null;
  first_below_at: Date | null;
  restatements: number;
  deliveries: DeliveryView[];
}

export interface AlertFilter {
  orgId: number;
  budgetId: number | null;
  kind: 'actual' | 'forecasted' | null;
  /** fired_at on or after this day / before the day after `to` (UTC). */
  from: string | null;
  to: string | null;
  limit: number;
  offset: number;
}

// listAlerts: an organization's alerts, newest first, each with its deliveries; limit + 1 rows.
// Params: org, budget id, kind, from, to, limit + 1, offset.
export async function listAlerts(db: Queryable, f: AlertFilter): Promise<AlertView[]> {
  const { rows } = await db.query<AlertView>(
    `SELECT a.id::int AS id, a.budget_id::int AS budget_id, b.name AS budget_name, to_char(a.period_start, 'YYYY-MM-DD') AS period_start,
            to_char(a.period_end - 1, 'YYYY-MM-DD') AS period_end, a.threshold_percent::float8 AS threshold_percent, a.kind,
            a.budget_amount::text AS budget_amount, a.currency, a.threshold_amount::text AS threshold_amount,
            a.spend_at_fire::text AS spend_at_fire, a.actual_at_fire::text AS actual_at_fire, a.forecast_at_fire::text AS forecast_at_fire,
            a.fired_at, a.current_spend::text AS current_spend, a.below_since, a.first_below_at, a.restatements,
            coalesce((SELECT json_agg(${DELIVERY_JSON} ORDER BY n.channel_id) FROM notification_outbox n WHERE n.alert_id = a.id), '[]'::json) AS deliveries
       FROM budget_alerts a JOIN budgets b ON b.id = a.budget_id
      WHERE a.organization_id = $1 AND ($2::bigint IS NULL OR a.budget_id = $2) AND ($3::text IS NULL OR a.kind = $3)
        AND ($4::date IS NULL OR a.fired_at >= $4::date) AND ($5::date IS NULL OR a.fired_at < $5::date + 1)
      ORDER BY a.fired_at DESC, a.id DESC
      LIMIT $6 OFFSET $7`,
    [f.orgId, f.budgetId, f.kind, f.from, f.to, f.limit + 1, f.offset],
  );
  return rows;
}
