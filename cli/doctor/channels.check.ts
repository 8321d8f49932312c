/**
 * Notification channels: for each, the host resolves (DNS) and answers — a TCP connect to a
 * webhook's host and port, an SMTP connect + EHLO (+ AUTH) through nodemailer's `verify()` for
 * email. Nothing is ever sent.
 */
import { lookup } from 'node:dns/promises';
import { connect } from 'node:net';
import nodemailer from 'nodemailer';
import type { Queryable } from '../../lib/db.js';
import { smtpTransportOptions, type SmtpSettings } from '../../lib/notification-senders.js';
import {
  channelSecrets,
  listAllChannels,
} from '../../database/repositories/notification-channels.repository.js';
import { describeError, fail, pass, skip, withTimeout, type CheckResult } from './check.js';

export interface SmtpDefaults {
  host: string | undefined;
  port: number;
  secure: boolean;
  user: string | undefined;
  password: string | undefined;
  from: string;
}

function tcpConnect(host: string, port: number, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, timeout: timeoutMs });
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
    socket.once('timeout', () => {
      socket.destroy();
      reject(new Error(`no TCP answer from ${host}:${port} within ${timeoutMs} ms`));
    });
    socket.once('error', reject);
  });
}

/** One result per channel (or one `pass`/`skip` when there are none or the table is missing). */
export async function checkNotificationChannels(
  db: Queryable,
  smtp: SmtpDefaults,
  timeoutMs: number,
): Promise<CheckResult[]> {
  const table = await db.query<{ t: string | null }>(
    `SELECT to_regclass('notification_channels')::text AS t`,
  );
  if (table.rows[0]?.t == null)
    return [
      skip(
        'notification channels',
        'the notification_channels table is missing (apply the migrations first)',
      ),
    ];
  const channels = await listAllChannels(db);
  if (channels.length === 0) return [pass('notification channels', 'none configured')];
  const results: CheckResult[] = [];
  for (const summary of channels) {
    const name = `channel ${summary.id} (${summary.type} "${summary.name}", org ${summary.organizationId})`;
    const channel = await channelSecrets(db, summary.id);
    if (!channel) continue;
    if (channel.type === 'webhook') {
      let url: URL;
      try {
        url = new URL(channel.url ?? '');
      } catch {
        results.push(
          fail(
            name,
            `the URL ${JSON.stringify(channel.url)} does not parse`,
            `costwatch channel delete --org ${summary.organizationId} --id ${summary.id}, then create it again`,
          ),
        );
        continue;
      }
      const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
      try {
        const address = await withTimeout(lookup(url.hostname), timeoutMs, `DNS ${url.hostname}`);
        await tcpConnect(url.hostname, port, timeoutMs);
        results.push(
          pass(
            name,
            `${url.hostname} resolves to ${address.address}; ${url.hostname}:${port} accepts connections (nothing sent)`,
          ),
        );
      } catch (error) {
        results.push(
          fail(
            name,
            `${url.hostname}:${port}: ${describeError(error)}`,
            `check the receiver is up and reachable from the workers (curl -sS -o /dev/null -w '%{http_code}' ${url.origin}); then costwatch channel test --org ${summary.organizationId} --id ${summary.id}`,
          ),
        );
      }
      continue;
    }
    const host = channel.smtpHost ?? smtp.host;
    if (!host) {
      results.push(
        fail(
          name,
          'no SMTP server: SMTP_HOST is unset and the channel names none',
          'set SMTP_HOST (and SMTP_PORT, SMTP_SECURE, SMTP_USER, SMTP_PASSWORD) in costwatch-config / costwatch-secrets',
        ),
      );
      continue;
    }
    const settings: SmtpSettings = {
      host,
      port: channel.smtpPort ?? smtp.port,
      secure: channel.smtpSecure ?? smtp.secure,
      user: channel.smtpUsername ?? smtp.user,
      password: channel.smtpUsername ? (channel.smtpPassword ?? undefined) : smtp.password,
      from: smtp.from,
    };
    const transport = nodemailer.createTransport(smtpTransportOptions(settings, timeoutMs));
    try {
      const address = await withTimeout(lookup(host), timeoutMs, `DNS ${host}`);
      await withTimeout(transport.verify(), timeoutMs * 3, `SMTP ${host}:${settings.port}`);
      results.push(
        pass(
          name,
          `${host} resolves to ${address.address}; SMTP ${host}:${settings.port} answers${settings.user ? ' and accepts the login' : ''} (nothing sent)`,
        ),
      );
    } catch (error) {
      results.push(
        fail(
          name,
          `SMTP ${host}:${settings.port}${settings.secure ? ' (TLS)' : ''}: ${describeError(error)}`,
          'check SMTP_HOST / SMTP_PORT / SMTP_SECURE (465 is implicit TLS, 587 STARTTLS) and the credentials; the workers must reach the server',
        ),
      );
    } finally {
      transport.close();
    }
  }
  return results;
}
