/**
 * How a notification leaves: the webhook envelope of SPEC.md ("Budgets, anomalies, alerts,
 * notifications"), its HMAC-SHA256 signature, the Slack-compatible body, and the SMTP email
 * (nodemailer). Pure senders: they send once and report what happened; retries, backoff and the
 * delivery log belong to the notifications worker.
 */
import { createHmac } from 'node:crypto';
import nodemailer from 'nodemailer';

export interface Envelope {
  id: string;
  type: string;
  created_at: string;
  organization: { id: number; name: string };
  data: Record<string, unknown>;
}

export interface SendResult {
  ok: boolean;
  /** HTTP status, or the SMTP reply code. */
  responseCode: number | null;
  error: string | null;
}

/** The hex HMAC-SHA256 of `<t>.<raw body>` with the channel's signing secret. */
export function webhookSignature(secret: string, timestampSeconds: number, rawBody: string): string {
  return createHmac('sha256', secret).update(`${timestampSeconds}.${rawBody}`).digest('hex');
}

/** The X-CostWatch-Signature header value: `t=<unix seconds>,v1=<hex>`. */
export function signatureHeader(secret: string, timestampSeconds: number, rawBody: string): string {
  return `t=${timestampSeconds},v1=${webhookSignature(secret, timestampSeconds, rawBody)}`;
}

interface Money {
  amount: string;
  unit: string;
}

function isMoney(value: unknown): value is Money {
  return typeof value === 'object' && value !== null && 'amount' in value && 'unit' in value;
}

function money(value: unknown): string {
  if (!isMoney(value)) return 'n/a';
  const n = Number(value.amount);
  return `${Number.isFinite(n) ? n.toFixed(2) : value.amount} ${value.unit}`;
}

function record(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
}

/** One human line (subject, Slack text) and the plain-text body of a notification. */
export function describe(
  envelope: Envelope,
  publicApiUrl: string,
): { subject: string; text: string; link: string } {
  const api = publicApiUrl.replace(/\/+$/, '');
  const org = `${envelope.organization.name} (#${envelope.organization.id})`;
  if (envelope.type === 'budget.threshold_crossed') {
    const d = envelope.data;
    const budget = record(d.budget);
    const threshold = record(d.threshold);
    const period = record(d.period);
    const kind = threshold.kind === 'forecasted' ? 'Forecasted' : 'Actual';
    const link = `${api}/api/v1/alerts?budget_id=${String(budget.id)}&org_id=${envelope.organization.id}`;
    const subject = `[CostWatch] ${kind} spend of budget "${String(budget.name)}" crossed ${String(threshold.percent)}%`;
    const text = [
      `${subject}.`,
      '',
      `Organization: ${org}`,
      `Budget: ${String(budget.name)} (${String(budget.period)}, ${String(budget.metric)} cost) of ${money(budget.amount)}`,
      `Period: ${String(period.start)} to ${String(period.end)}`,
      `Threshold: ${String(threshold.percent)}% of the budget on ${String(threshold.kind)} spend = ${money(d.threshold_amount)}`,
      `${kind} spend: ${money(d.spend)} (actual ${money(d.actual)}, forecast ${money(d.forecast)})`,
      '',
      `Details: ${link}`,
      `Delivery: ${envelope.id}`,
    ].join('\n');
    return { subject, text, link };
  }
  const link = `${api}/api/v1/alerts?org_id=${envelope.organization.id}`;
  const subject =
    envelope.type === 'test'
      ? `[CostWatch] Test notification for ${org}`
      : `[CostWatch] ${envelope.type} for ${org}`;
  const text = [
    `${subject}.`,
    '',
    JSON.stringify(envelope.data, null, 2),
    '',
    `API: ${link}`,
    `Delivery: ${envelope.id}`,
  ].join('\n');
  return { subject, text, link };
}

/** The Slack / Teams incoming-webhook body: `text` plus `blocks`. */
export function slackBody(envelope: Envelope, publicApiUrl: string): Record<string, unknown> {
  const { subject, text, link } = describe(envelope, publicApiUrl);
  return {
    text: subject,
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: subject.slice(0, 150) } },
      { type: 'section', text: { type: 'mrkdwn', text: '```' + text.slice(0, 2900) + '```' } },
      {
        type: 'context',
        elements: [{ type: 'mrkdwn', text: `<${link}|Open in CostWatch> · delivery ${envelope.id}` }],
      },
    ],
  };
}

function errorText(error: unknown): string {
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
    return `${error.name === 'Error' ? '' : `${error.name}: `}${error.message}${cause}`.slice(0, 1000);
  }
  return String(error).slice(0, 1000);
}

export interface WebhookTarget {
  url: string;
  signingSecret: string;
  format: 'json' | 'slack';
}

/**
 * POSTs the notification once: X-CostWatch-Delivery (the idempotency key) and
 * X-CostWatch-Signature over the exact bytes sent. 2xx is delivered; anything else is a failure
 * to retry. `nowSeconds` is the signature timestamp (a duration-free instant, not a date decision).
 */
export async function sendWebhook(
  target: WebhookTarget,
  envelope: Envelope,
  options: { timeoutMs: number; publicApiUrl: string; nowSeconds?: number },
): Promise<SendResult> {
  const body = JSON.stringify(
    target.format === 'slack' ? slackBody(envelope, options.publicApiUrl) : envelope,
  );
  const t = options.nowSeconds ?? Math.floor(Date.now() / 1000);
  try {
    const response = await fetch(target.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'CostWatch-Webhook/1',
        'x-costwatch-delivery': envelope.id,
        'x-costwatch-event': envelope.type,
        'x-costwatch-signature': signatureHeader(target.signingSecret, t, body),
      },
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(options.timeoutMs),
    });
    // The body is not needed; drain it so the connection is released.
    const reply = await response.text().catch(() => '');
    if (response.status >= 200 && response.status < 300)
      return { ok: true, responseCode: response.status, error: null };
    return {
      ok: false,
      responseCode: response.status,
      error: `HTTP ${response.status}${reply ? `: ${reply.slice(0, 200)}` : ''}`,
    };
  } catch (error) {
    return { ok: false, responseCode: null, error: errorText(error) };
  }
}

export interface SmtpSettings {
  host: string;
  port: number;
  secure: boolean;
  user?: string | undefined;
  password?: string | undefined;
  from: string;
}

/** The nodemailer transport options of an SMTP setting (auth only when a user is set). */
export function smtpTransportOptions(smtp: SmtpSettings, timeoutMs: number) {
  return {
    host: smtp.host,
    port: smtp.port,
    secure: smtp.secure,
    ...(smtp.user ? { auth: { user: smtp.user, pass: smtp.password ?? '' } } : {}),
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
  };
}

/** Sends the plain-text email once; the Message-ID carries the delivery id, so a duplicate is recognisable. */
export async function sendEmail(
  smtp: SmtpSettings,
  recipients: string[],
  envelope: Envelope,
  options: { timeoutMs: number; publicApiUrl: string },
): Promise<SendResult> {
  const { subject, text } = describe(envelope, options.publicApiUrl);
  const transport = nodemailer.createTransport(smtpTransportOptions(smtp, options.timeoutMs));
  try {
    const info = await transport.sendMail({
      from: smtp.from,
      to: recipients,
      subject,
      text,
      messageId: `<${envelope.id}@costwatch>`,
      headers: { 'X-CostWatch-Delivery': envelope.id, 'X-CostWatch-Event': envelope.type },
    });
    const code = Number(/^(\d{3})/.exec(info.response)?.[1] ?? 250);
    if (info.rejected.length > 0)
      return {
        ok: false,
        responseCode: code,
        error: `rejected recipients: ${info.rejected.map(String).join(', ')}`,
      };
    return { ok: true, responseCode: code, error: null };
  } catch (error) {
    const code = (error as { responseCode?: unknown }).responseCode;
    return { ok: false, responseCode: typeof code === 'number' ? code : null, error: errorText(error) };
  } finally {
    transport.close();
  }
}
