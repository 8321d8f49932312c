/**
 * Real notification endpoints on loopback for tests: a webhook receiver that verifies
 * X-CostWatch-Signature (and can go down and come back on the same port), an SMTP server
 * (`smtp-server`) whose messages are parsed with `mailparser`, and a rollup seeder.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { simpleParser, type ParsedMail } from 'mailparser';
import type { Queryable } from '../../lib/db.js';

export interface ReceivedWebhook {
  id: string;
  signatureValid: boolean;
  timestamp: number;
  headers: Record<string, string | string[] | undefined>;
  raw: string;
  body: Record<string, unknown>;
}

/** Verifies `t=<unix seconds>,v1=<hex>` over `<t>.<raw body>`, refusing a t older than 5 minutes. */
export function verifySignature(
  secret: string,
  header: string | undefined,
  raw: string,
  nowSeconds = Math.floor(Date.now() / 1000),
): boolean {
  const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? '');
  if (!match?.[1] || !match[2]) return false;
  const t = Number(match[1]);
  if (Math.abs(nowSeconds - t) > 300) return false;
  const expected = createHmac('sha256', secret).update(`${t}.${raw}`).digest();
  return timingSafeEqual(expected, Buffer.from(match[2], 'hex'));
}

export interface WebhookReceiver {
  url: string;
  received: ReceivedWebhook[];
  /** Requests refused because the signature did not verify. */
  rejected: number;
  /** Stops listening (connections refused) until `up()`. */
  down(): Promise<void>;
  up(): Promise<void>;
  /** Resolves once `n` distinct delivery ids arrived. */
  waitForDistinct(n: number, timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

export async function startWebhookReceiver(
  secret: string,
  options: { port?: number } = {},
): Promise<WebhookReceiver> {
  const received: ReceivedWebhook[] = [];
  const state = { rejected: 0 };
  let server: Server;
  let port = options.port ?? 0;
  const listen = async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const header = req.headers['x-costwatch-signature'];
        const valid = verifySignature(secret, typeof header === 'string' ? header : undefined, raw);
        if (!valid) {
          state.rejected += 1;
          res.writeHead(401).end('bad signature');
          return;
        }
        const t = Number(/^t=(\d+)/.exec(String(header))?.[1]);
        received.push({
          id: String(req.headers['x-costwatch-delivery']),
          signatureValid: valid,
          timestamp: t,
          headers: req.headers,
          raw,
          body: JSON.parse(raw) as Record<string, unknown>,
        });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
    port = (server.address() as AddressInfo).port;
  };
  await listen();
  const closeServer = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return {
    get url() {
      return `http://127.0.0.1:${port}/hook`;
    },
    received,
    get rejected() {
      return state.rejected;
    },
    down: closeServer,
    up: listen,
    async waitForDistinct(n, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (new Set(received.map((r) => r.id)).size < n) {
        if (Date.now() > deadline)
          throw new Error(
            `only ${new Set(received.map((r) => r.id)).size} of ${n} deliveries arrived in ${timeoutMs} ms`,
          );
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    close: closeServer,
  };
}

export interface SmtpReceiver {
  port: number;
  messages: ParsedMail[];
  /** Authentications seen (user names). */
  logins: string[];
  waitFor(n: number, timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

/** An SMTP server on loopback (no TLS; AUTH PLAIN/LOGIN accepted for `user`/`password` when given). */
export async function startSmtpReceiver(auth?: { user: string; password: string }): Promise<SmtpReceiver> {
  const messages: ParsedMail[] = [];
  const logins: string[] = [];
  const server = new SMTPServer({
    secure: false,
    disabledCommands: ['STARTTLS', ...(auth ? [] : ['AUTH'])],
    allowInsecureAuth: true,
    authOptional: !auth,
    logger: false,
    onAuth(a, _session, callback) {
      if (auth && a.username === auth.user && a.password === auth.password) {
        logins.push(a.username ?? '');
        callback(null, { user: a.username });
      } else callback(new Error('invalid credentials'));
    },
    onData(stream, _session, callback) {
      simpleParser(stream)
        .then((mail) => {
          messages.push(mail);
          callback();
        })
        .catch((error: unknown) => callback(error instanceof Error ? error : new Error(String(error))));
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.server.address() as AddressInfo;
  return {
    port: address.port,
    messages,
    logins,
    async waitFor(n, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (messages.length < n) {
        if (Date.now() > deadline)
          throw new Error(`only ${messages.length} of ${n} emails arrived in ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Writes one service's daily cost into the service, account and region rollups (all three metrics equal). */
export async function seedDailyCost(
  db: Queryable,
  orgId: number,
  days: string[],
  cost: string,
  dims: { service?: string; account?: string; region?: string } = {},
): Promise<void> {
  const service = dims.service ?? 'Amazon Elastic Compute Cloud - Compute';
  const account = dims.account ?? '111122223333';
  const region = dims.region ?? 'us-east-1';
  await db.query(
    `WITH d AS (SELECT unnest($2::date[]) AS day),
     s AS (INSERT INTO cost_daily_service SELECT $1, day, $4, $3, $3, $3, 1, 'USD', false FROM d
           ON CONFLICT (organization_id, day, service) DO UPDATE SET unblended_cost = EXCLUDED.unblended_cost,
             amortized_cost = EXCLUDED.amortized_cost, net_unblended_cost = EXCLUDED.net_unblended_cost),
     a AS (INSERT INTO cost_daily_account SELECT $1, day, $5, $3, $3, $3, 1, 'USD', false FROM d
           ON CONFLICT (organization_id, day, linked_account) DO UPDATE SET unblended_cost = EXCLUDED.unblended_cost,
             amortized_cost = EXCLUDED.amortized_cost, net_unblended_cost = EXCLUDED.net_unblended_cost)
     INSERT INTO cost_daily_region SELECT $1, day, $6, $3, $3, $3, 1, 'USD', false FROM d
     ON CONFLICT (organization_id, day, region) DO UPDATE SET unblended_cost = EXCLUDED.unblended_cost,
       amortized_cost = EXCLUDED.amortized_cost, net_unblended_cost = EXCLUDED.net_unblended_cost`,
    [orgId, days, cost, service, account, region],
  );
  // The monthly service rollup of the months touched, from the daily one (as the rollup worker does).
  await db.query(
    `INSERT INTO cost_monthly_service
     SELECT organization_id, date_trunc('month', day)::date, service, sum(unblended_cost), sum(amortized_cost),
            sum(net_unblended_cost), sum(usage_quantity), unit, bool_or(estimated), count(*)
       FROM cost_daily_service
      WHERE organization_id = $1 AND date_trunc('month', day) IN (SELECT DISTINCT date_trunc('month', d) FROM unnest($2::date[]) d)
      GROUP BY organization_id, date_trunc('month', day), service, unit
     ON CONFLICT (organization_id, month, service) DO UPDATE SET unblended_cost = EXCLUDED.unblended_cost,
       amortized_cost = EXCLUDED.amortized_cost, net_unblended_cost = EXCLUDED.net_unblended_cost, days = EXCLUDED.days`,
    [orgId, days],
  );
}

/** Stores the month's projected total as the forecast would (cost_forecasts.amount). */
export async function seedForecast(
  db: Queryable,
  orgId: number,
  month: string,
  amount: string,
): Promise<void> {
  await db.query(
    `INSERT INTO cost_forecasts (organization_id, month, amount, unit) VALUES ($1, $2, $3, 'USD')
     ON CONFLICT (organization_id, month) DO UPDATE SET amount = EXCLUDED.amount, fetched_at = now()`,
    [orgId, month, amount],
  );
}
