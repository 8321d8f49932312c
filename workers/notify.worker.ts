/**
 * The notifications queue: `deliver-notification` sends one outbox row — claim (with a lease),
 * send once, record the attempt — and retries it with exponential backoff until its deadline,
 * then `failed`; `sweep-notifications` (a Job Scheduler) re-dispatches rows left without a job.
 * At least once: only a crash between sending and recording sends a delivery twice, with the same
 * X-CostWatch-Delivery id.
 */
import type { Config } from '../lib/config.js';
import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import type { Pool } from '../lib/db.js';
import type { Logger } from '../lib/logger.js';
import { deliverNotificationJobSchema, JOB_NAMES } from '../lib/jobs.js';
import { notificationsTotal } from '../lib/metrics.js';
import {
  sendEmail,
  sendWebhook,
  type Envelope,
  type SendResult,
  type SmtpSettings,
} from '../lib/notification-senders.js';
import {
  channelSecrets,
  type ChannelSecrets,
} from '../database/repositories/notification-channels.repository.js';
import {
  claimDelivery,
  dueDeliveries,
  recordDeliveryAttempt,
  type ClaimedDelivery,
  type DeliveryStatus,
} from '../database/repositories/notifications.repository.js';
import { dispatchDeliveries } from '../producers/notifications.js';
import type { Queues } from '../producers/queues.js';
import { delayWhileDatabaseDown } from './fetch-job.js';

export interface NotifySettings {
  timeoutMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
  publicApiUrl: string;
  /** The deployment's SMTP server (SMTP_*); a channel's own settings override it field by field. */
  smtp: Partial<SmtpSettings> & { port: number; secure: boolean; from: string };
}

type NotifyConfig = Pick<
  Config,
  | 'NOTIFY_TIMEOUT_MS'
  | 'NOTIFY_RETRY_BASE_MS'
  | 'NOTIFY_RETRY_MAX_MS'
  | 'PUBLIC_API_URL'
  | 'SMTP_HOST'
  | 'SMTP_PORT'
  | 'SMTP_SECURE'
  | 'SMTP_USER'
  | 'SMTP_PASSWORD'
  | 'SMTP_FROM'
>;

/** The delivery settings the NOTIFY_* and SMTP_* variables give (the worker's and the CLI's test send). */
export function notifySettings(config: NotifyConfig): NotifySettings {
  return {
    timeoutMs: config.NOTIFY_TIMEOUT_MS,
    retryBaseMs: config.NOTIFY_RETRY_BASE_MS,
    retryMaxMs: config.NOTIFY_RETRY_MAX_MS,
    publicApiUrl: config.PUBLIC_API_URL,
    smtp: {
      host: config.SMTP_HOST,
      port: config.SMTP_PORT,
      secure: config.SMTP_SECURE,
      user: config.SMTP_USER,
      password: config.SMTP_PASSWORD,
      from: config.SMTP_FROM,
    },
  };
}

export interface NotifyDeps {
  db: Pool;
  queues: Pick<Queues, 'notifications'>;
  log: Logger;
  settings: NotifySettings;
}

export type NotifyResult =
  { status: DeliveryStatus | 'missing'; attempt?: number } | { redispatched: number };

/** Delay after failed attempt n (1-based): base x 2^(n-1), at most max, with +-20% jitter. */
export function retryDelayMs(attempt: number, base: number, max: number): number {
  const raw = Math.min(base * 2 ** Math.min(attempt - 1, 30), max);
  return Math.round(raw * (0.8 + Math.random() * 0.4));
}

export function envelopeOf(d: ClaimedDelivery): Envelope {
  return {
    id: d.id,
    type: d.type,
    created_at: d.createdAt.toISOString(),
    organization: d.organization,
    data: d.data,
  };
}

/** Sends once through the channel; never throws. */
export async function sendThroughChannel(
  channel: ChannelSecrets,
  envelope: Envelope,
  settings: NotifySettings,
): Promise<SendResult> {
  if (channel.type === 'webhook') {
    if (!channel.url || !channel.signingSecret)
      return { ok: false, responseCode: null, error: 'webhook channel without url or secret' };
    return sendWebhook(
      { url: channel.url, signingSecret: channel.signingSecret, format: channel.format ?? 'json' },
      envelope,
      {
        timeoutMs: settings.timeoutMs,
        publicApiUrl: settings.publicApiUrl,
      },
    );
  }
  const host = channel.smtpHost ?? settings.smtp.host;
  if (!host)
    return { ok: false, responseCode: null, error: 'no SMTP server: set SMTP_HOST or the channel smtp.host' };
  const smtp: SmtpSettings = {
    host,
    port: channel.smtpPort ?? settings.smtp.port,
    secure: channel.smtpSecure ?? settings.smtp.secure,
    user: channel.smtpUsername ?? settings.smtp.user,
    password: channel.smtpUsername ? (channel.smtpPassword ?? undefined) : settings.smtp.password,
    from: settings.smtp.from,
  };
  return sendEmail(smtp, channel.recipients ?? [], envelope, {
    timeoutMs: settings.timeoutMs,
    publicApiUrl: settings.publicApiUrl,
  });
}

/**
 * One attempt of one delivery: claim, send, record. Returns the outcome, or when the delivery is
 * not due (leased by another sender, or waiting for its backoff) the instant to come back.
 */
export async function attemptDelivery(
  deps: Omit<NotifyDeps, 'queues'>,
  deliveryId: string,
): Promise<{ status: DeliveryStatus | 'missing'; attempt?: number; retryAt?: Date }> {
  // A sender that dies mid-send leaves its lease; a retry may take over once it expires. SMTP has
  // three timed phases, hence the margin.
  const leaseSeconds = Math.ceil((deps.settings.timeoutMs * 3) / 1000) + 5;
  const claim = await claimDelivery(deps.db, deliveryId, leaseSeconds);
  if (claim.state === 'missing') return { status: 'missing' };
  if (claim.state === 'done') return { status: claim.status };
  if (claim.state === 'wait') return { status: 'pending', retryAt: claim.until };
  const delivery = claim.delivery;
  const channel = await channelSecrets(deps.db, delivery.channelId);
  const started = Date.now();
  const result: SendResult = channel
    ? await sendThroughChannel(channel, envelopeOf(delivery), deps.settings)
    : { ok: false, responseCode: null, error: 'channel deleted' };
  const recorded = await recordDeliveryAttempt(deps.db, {
    id: delivery.id,
    attempt: delivery.attempt,
    ok: result.ok,
    responseCode: result.responseCode,
    error: result.error,
    durationMs: Date.now() - started,
    retryInMs: retryDelayMs(delivery.attempt, deps.settings.retryBaseMs, deps.settings.retryMaxMs),
  });
  // null: our lease expired and another sender took the delivery over; it records its own attempt.
  if (!recorded) return { status: 'sending', attempt: delivery.attempt };
  const outcome =
    recorded.status === 'delivered' ? 'delivered' : recorded.status === 'failed' ? 'failed' : 'retried';
  notificationsTotal.inc({ channel: delivery.channelType, outcome });
  const context = {
    deliveryId: delivery.id,
    channelId: delivery.channelId,
    type: delivery.type,
    attempt: delivery.attempt,
  };
  if (recorded.status === 'failed')
    deps.log.warn(
      { ...context, code: result.responseCode, reason: result.error },
      'notification failed for good (deadline passed)',
    );
  else if (recorded.status === 'pending')
    deps.log.info(
      { ...context, code: result.responseCode, reason: result.error, retryAt: recorded.nextAttemptAt },
      'notification attempt failed; will retry',
    );
  else deps.log.debug(context, 'notification delivered');
  return {
    status: recorded.status,
    attempt: delivery.attempt,
    ...(recorded.status === 'pending' ? { retryAt: new Date(recorded.nextAttemptAt) } : {}),
  };
}

export function createNotifyProcessor(deps: NotifyDeps) {
  return async (job: Job, token?: string): Promise<NotifyResult> => {
    try {
      if (job.name === JOB_NAMES.sweepNotifications) {
        const grace = Math.ceil(deps.settings.timeoutMs / 1000) + 5;
        const ids = await dueDeliveries(deps.db, grace, 1000);
        await dispatchDeliveries(deps.queues, ids);
        if (ids.length > 0)
          deps.log.info({ deliveries: ids.length }, 'outbox sweep re-dispatched deliveries without a job');
        return { redispatched: ids.length };
      }
      const parsed = deliverNotificationJobSchema.safeParse(job.data);
      if (!parsed.success)
        throw new UnrecoverableError(`invalid ${job.name} job data: ${parsed.error.message}`);
      const outcome = await attemptDelivery(deps, parsed.data.deliveryId);
      if (outcome.retryAt && token) {
        // The same job comes back at the next attempt's time (no BullMQ attempt spent).
        await job.moveToDelayed(Math.max(outcome.retryAt.getTime(), Date.now() + 50), token);
        throw new DelayedError();
      }
      return { status: outcome.status, ...(outcome.attempt ? { attempt: outcome.attempt } : {}) };
    } catch (error) {
      if (error instanceof DelayedError || error instanceof UnrecoverableError) throw error;
      return delayWhileDatabaseDown(job, token, error, deps.log);
    }
  };
}
