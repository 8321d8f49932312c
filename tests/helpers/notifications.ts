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

/**
 * Writes one service's daily cost as a load would (cost_data rows of the SERVICE x LINKED_ACCOUNT
 * and SERVICE x REGION groupings, all three metrics equal; a second call on the same keys replaces
 * them) and rebuilds the rollups of those days with the rollup routine (migration 0008), so the
 * generic rollup tables (daily, daily by service, monthly) hold what the rollup worker would write.
 * `extra` adds SERVICE x <dimension> rows, e.g. `{ 'tag:team': 'payments' }`.
 */
export async function seedDailyCost(
  db: Queryable,
  orgId: number,
  days: string[],
  cost: string,
  dims: { service?: string; account?: string; region?: string; extra?: Record<string, string> } = {},
): Promise<void> {
  if (days.length === 0) return;
  const service = dims.service ?? 'Amazon Elastic Compute Cloud - Compute';
  const account = dims.account ?? '111122223333';
  const region = dims.region ?? 'us-east-1';
  const sorted = [...days].sort();
  const from = sorted[0] ?? '';
  const last = sorted[sorted.length - 1] ?? '';
  await db.query(`SELECT ensure_monthly_partitions('cost_data', $1::date, $2::date)`, [from, last]);
  const groupings = ['account_service', 'region_service', ...Object.keys(dims.extra ?? {})];
  const linked = [account, '', ...Object.keys(dims.extra ?? {}).map(() => '')];
  const regions = ['', region, ...Object.keys(dims.extra ?? {}).map(() => '')];
  const values = ['', '', ...Object.values(dims.extra ?? {})];
  await db.query(
    `INSERT INTO cost_data (organization_id, cost_date, grouping, service, linked_account, region, dim_value,
                            unblended_cost, amortized_cost, net_unblended_cost, usage_quantity, unit, estimated)
     SELECT $1, d, g.grouping, $4, g.linked_account, g.region, g.dim_value, $3::numeric, $3::numeric, $3::numeric, 1, 'USD', false
       FROM unnest($2::date[]) d, unnest($5::text[], $6::text[], $7::text[], $8::text[]) AS g(grouping, linked_account, region, dim_value)
     ON CONFLICT (organization_id, cost_date, grouping, service, linked_account, region, dim_value) DO UPDATE SET unblended_cost = EXCLUDED.unblended_cost,
       amortized_cost = EXCLUDED.amortized_cost, net_unblended_cost = EXCLUDED.net_unblended_cost`,
    [orgId, days, cost, service, groupings, linked, regions, values],
  );
  await db.query(`SELECT * FROM cw_rebuild_cost_rollups($1, $2::date, ($3::date + 1))`, [orgId, from, last]);
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
