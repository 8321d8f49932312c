/**
 * Notification channels: webhooks (URL, signing secret, json|slack body) and email (recipients,
 * optional SMTP settings overriding the deployment's). Secrets are write-only: the listing
 * functions never select them; only `channelForDelivery` (the sender) reads them.
 */
import type { Queryable } from '../../lib/db.js';

export type ChannelType = 'webhook' | 'email';
export type WebhookFormat = 'json' | 'slack';

/** A channel as the API and CLI show it: no secret, only whether one is set. */
export interface ChannelSummary {
  id: number;
  organizationId: number;
  name: string;
  type: ChannelType;
  url: string | null;
  format: WebhookFormat | null;
  recipients: string[] | null;
  smtp: {
    host: string | null;
    port: number | null;
    secure: boolean | null;
    username: string | null;
    passwordSet: boolean;
  } | null;
  signingSecretSet: boolean;
  budgetIds: number[];
  createdAt: Date;
}

/** What the sender needs, secrets included. Never log it. */
export interface ChannelSecrets {
  id: number;
  type: ChannelType;
  name: string;
  url: string | null;
  signingSecret: string | null;
  format: WebhookFormat | null;
  recipients: string[] | null;
  smtpHost: string | null;
  smtpPort: number | null;
  smtpSecure: boolean | null;
  smtpUsername: string | null;
  smtpPassword: string | null;
}

export type NewChannel =
  | { type: 'webhook'; name: string; url: string; signingSecret: string; format: WebhookFormat }
  | {
      type: 'email';
      name: string;
      recipients: string[];
      smtp?:
        | {
            host?: string | undefined;
            port?: number | undefined;
            secure?: boolean | undefined;
            username?: string | undefined;
            password?: string | undefined;
          }
        | undefined;
    };

const SUMMARY_COLUMNS = `c.id::int AS id, c.organization_id::int AS "organizationId", c.name, c.type, c.url, c.format, c.recipients,
  CASE WHEN c.type = 'email' THEN json_build_object('host', c.smtp_host, 'port', c.smtp_port, 'secure', c.smtp_secure,
    'username', c.smtp_username, 'passwordSet', c.smtp_password IS NOT NULL) END AS smtp,
  c.signing_secret IS NOT NULL AS "signingSecretSet",
  coalesce((SELECT array_agg(bc.budget_id::int ORDER BY bc.budget_id) FROM budget_channels bc WHERE bc.channel_id = c.id), '{}') AS "budgetIds",
  c.created_at AS "createdAt"`;

// createChannel: inserts a channel. Params: org, name, type, url, secret, format, recipients, smtp fields.
export async function createChannel(db: Queryable, orgId: number, c: NewChannel): Promise<ChannelSummary> {
  const smtp = c.type === 'email' ? c.smtp : undefined;
  const { rows } = await db.query<ChannelSummary>(
    `WITH c AS (
       INSERT INTO notification_channels (organization_id, name, type, url, signing_secret, format, recipients,
                                          smtp_host, smtp_port, smtp_secure, smtp_username, smtp_password)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING *)
     SELECT ${SUMMARY_COLUMNS} FROM c`,
    [
      orgId,
      c.name,
      c.type,
      c.type === 'webhook' ? c.url : null,
      c.type === 'webhook' ? c.signingSecret : null,
      c.type === 'webhook' ? c.format : null,
      c.type === 'email' ? c.recipients : null,
      smtp?.host ?? null,
      smtp?.port ?? null,
      smtp?.secure ?? null,
      smtp?.username ?? null,
      smtp?.password ?? null,
    ],
  );
  const created = rows[0];
  if (!created) throw new Error('insert returned no row');
  return created;
}

// listChannels: an organization's channels (or one), by id, without secrets. Params: org, id or null.
export async function listChannels(
  db: Queryable,
  orgId: number,
  id: number | null = null,
): Promise<ChannelSummary[]> {
  const { rows } = await db.query<ChannelSummary>(
    `SELECT ${SUMMARY_COLUMNS} FROM notification_channels c WHERE c.organization_id = $1 AND ($2::bigint IS NULL OR c.id = $2) ORDER BY c.id`,
    [orgId, id],
  );
  return rows;
}

// listAllChannels: every channel of every organization, without secrets (doctor). Params: none.
export async function listAllChannels(db: Queryable): Promise<ChannelSummary[]> {
  const { rows } = await db.query<ChannelSummary>(
    `SELECT ${SUMMARY_COLUMNS} FROM notification_channels c ORDER BY c.id`,
  );
  return rows;
}

// deleteChannel: removes a channel (its pending deliveries go with it). Params: org, id.
export async function deleteChannel(db: Queryable, orgId: number, id: number): Promise<boolean> {
  const { rowCount } = await db.query(
    `DELETE FROM notification_channels WHERE id = $2 AND organization_id = $1`,
    [orgId, id],
  );
  return (rowCount ?? 0) > 0;
}

// channelSecrets: one channel with its secrets, for the sender and the doctor only. Params: id.
export async function channelSecrets(db: Queryable, id: number): Promise<ChannelSecrets | null> {
  const { rows } = await db.query<ChannelSecrets>(
    `SELECT id::int AS id, type, name, url, signing_secret AS "signingSecret", format, recipients, smtp_host AS "smtpHost",
            smtp_port AS "smtpPort", smtp_secure AS "smtpSecure", smtp_username AS "smtpUsername", smtp_password AS "smtpPassword"
       FROM notification_channels WHERE id = $1`,
    [id],
  );
  return rows[0] ?? null;
}
