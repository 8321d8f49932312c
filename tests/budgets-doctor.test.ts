/**
 * `costwatch doctor`'s channel check against real endpoints: a loopback webhook receiver (DNS +
 * TCP connect), an unresolvable host, a loopback SMTP server with login (connect, EHLO, AUTH
 * through nodemailer's verify) and a closed SMTP port. Nothing may be sent.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import {
  startSmtpReceiver,
  startWebhookReceiver,
  type SmtpReceiver,
  type WebhookReceiver,
} from './helpers/notifications.js';
import { createChannel } from '../database/repositories/notification-channels.repository.js';
import { checkNotificationChannels } from '../cli/doctor/channels.check.js';

let db: TestDatabase;
let hook: WebhookReceiver;
let smtp: SmtpReceiver;

before(async () => {
  db = await createTestDatabase();
  hook = await startWebhookReceiver('doctor-secret-0123456789');
  smtp = await startSmtpReceiver({ user: 'doc', password: 'doc-password' });
});
after(async () => {
  await hook.close();
  await smtp.close();
  await db.drop();
});

test('each channel: DNS and connect checked, failures named with a fix, nothing sent', async () => {
  const defaults = {
    host: '127.0.0.1',
    port: smtp.port,
    secure: false,
    user: 'doc',
    password: 'doc-password',
    from: 'doctor@costwatch.test',
  };
  assert.equal((await checkNotificationChannels(db.pool, defaults, 2000))[0]?.detail, 'none configured');
  const { rows } = await db.pool.query<{ id: number }>(
    `INSERT INTO organizations (name, aws_account_id) VALUES ('doc', '123456789012') RETURNING id::int AS id`,
  );
  const org = rows[0]?.id ?? 0;
  const ok = await createChannel(db.pool, org, {
    type: 'webhook',
    name: 'ok',
    url: hook.url,
    signingSecret: 'doctor-secret-0123456789',
    format: 'json',
  });
  const nx = await createChannel(db.pool, org, {
    type: 'webhook',
    name: 'nx',
    url: 'https://costwatch-receiver.invalid/hook',
    signingSecret: 'doctor-secret-0123456789',
    format: 'json',
  });
  const mail = await createChannel(db.pool, org, {
    type: 'email',
    name: 'mail',
    recipients: ['a@example.com'],
  });
  const closed = await createChannel(db.pool, org, {
    type: 'email',
    name: 'closed',
    recipients: ['a@example.com'],
    smtp: { host: '127.0.0.1', port: 9 },
  });
  const badLogin = await createChannel(db.pool, org, {
    type: 'email',
    name: 'login',
    recipients: ['a@example.com'],
    smtp: { username: 'doc', password: 'wrong' },
  });
  const results = await checkNotificationChannels(db.pool, defaults, 2000);
  const byId = (id: number) => results.find((r) => r.name.startsWith(`channel ${id} `));
  assert.equal(byId(ok.id)?.status, 'pass', JSON.stringify(byId(ok.id)));
  assert.match(
    byId(ok.id)?.detail ?? '',
    /127\.0\.0\.1 resolves to 127\.0\.0\.1; .* accepts connections \(nothing sent\)/,
  );
  assert.equal(byId(nx.id)?.status, 'fail');
  assert.match(byId(nx.id)?.detail ?? '', /ENOTFOUND/);
  assert.match(byId(nx.id)?.fix ?? '', /costwatch channel test/);
  assert.equal(byId(mail.id)?.status, 'pass', JSON.stringify(byId(mail.id)));
  assert.match(byId(mail.id)?.detail ?? '', /accepts the login \(nothing sent\)/);
  assert.equal(byId(closed.id)?.status, 'fail');
  assert.match(byId(closed.id)?.detail ?? '', /ECONNREFUSED/);
  assert.equal(byId(badLogin.id)?.status, 'fail');
  assert.match(byId(badLogin.id)?.detail ?? '', /EAUTH|535|[Ii]nvalid/);
  assert.equal(hook.received.length, 0, 'no webhook sent');
  assert.equal(smtp.messages.length, 0, 'no email sent');
  assert.ok(!JSON.stringify(results).includes('doc-password'));
});
