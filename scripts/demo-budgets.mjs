// The budgets part of `npm run demo`: a loopback webhook receiver that verifies
// X-CostWatch-Signature, a webhook channel pointing at it, a refresh (so Cost Explorer's forecast
// of the month is stored), then a monthly budget sized so that the demo org's forecast is 90% of
// it: the 80% forecasted threshold fires, and the receiver prints the notification it got.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import { Buffer } from 'node:buffer';

function verify(secret, header, raw) {
  const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? '');
  if (!match) return false;
  if (Math.abs(Date.now() / 1000 - Number(match[1])) > 300) return false;
  const expected = createHmac('sha256', secret).update(`${match[1]}.${raw}`).digest();
  return timingSafeEqual(expected, Buffer.from(match[2], 'hex'));
}

/** Runs the budget demo against a running API; resolves with the received notification. */
export async function runBudgetsDemo({ api, token, log, timeoutMs = 120_000 }) {
  const secret = `whsec_${randomBytes(18).toString('base64url')}`;
  let resolveReceived;
  const received = new Promise((resolve) => (resolveReceived = resolve));
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const ok = verify(secret, req.headers['x-costwatch-signature'], raw);
      res.writeHead(ok ? 204 : 401).end();
      if (ok) resolveReceived({ delivery: req.headers['x-costwatch-delivery'], body: JSON.parse(raw) });
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  server.unref();
  const receiver = `http://127.0.0.1:${server.address().port}/costwatch`;
  const call = async (method, path, body) => {
    const res = await fetch(`${api}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const json = await res.json();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };

  const channels = await call('GET', '/notification-channels');
  for (const c of channels.items.filter((c) => c.name === 'demo receiver'))
    await call('DELETE', `/notification-channels/${c.id}`);
  const channel = await call('POST', '/notification-channels', {
    type: 'webhook',
    name: 'demo receiver',
    url: receiver,
    signing_secret: secret,
    format: 'json',
  });
  const budgets = await call('GET', '/budgets');
  for (const b of budgets.items.filter((b) => b.name === 'Demo monthly budget'))
    await call('DELETE', `/budgets/${b.id}`);
  const budget = await call('POST', '/budgets', {
    name: 'Demo monthly budget',
    period: 'monthly',
    amount: { amount: '100000000.00', unit: 'USD' },
    metric: 'unblended',
    thresholds: [
      { percent: 80, kind: 'forecasted' },
      { percent: 100, kind: 'actual' },
    ],
    channel_ids: [channel.id],
  });
  // The demo's refresh already stored this month's Cost Explorer forecast (its fetch-forecast job).
  log(`budgets: webhook receiver on ${receiver}; reading the stored forecast...`);
  const deadline = Date.now() + timeoutMs;
  let forecast = null;
  while (forecast === null) {
    if (Date.now() > deadline)
      throw new Error('budgets demo: no forecast was stored (see .costwatch/demo/worker-*.log)');
    await new Promise((r) => setTimeout(r, 500));
    forecast = (await call('GET', `/budgets/${budget.id}`)).current.forecast;
  }
  // The forecast is 90% of the budget: over the 80% forecasted threshold, under 100%.
  const amount = (Math.ceil((Number(forecast.amount) / 0.9) * 100) / 100).toFixed(2);
  await call('PATCH', `/budgets/${budget.id}`, { amount: { amount, unit: 'USD' } });
  log(
    `budgets: "Demo monthly budget" of ${amount} USD, forecast ${Number(forecast.amount).toFixed(2)} USD (90%): waiting for the 80% alert...`,
  );
  const notification = await Promise.race([
    received,
    new Promise((_, reject) =>
      setTimeout(() => reject(new Error('budgets demo: no notification arrived')), timeoutMs).unref(),
    ),
  ]);
  process.stdout.write(
    `\nThe demo receiver got a signed notification (X-CostWatch-Delivery ${notification.delivery}):\n${JSON.stringify(notification.body, null, 2)}\n`,
  );
  return notification;
}
