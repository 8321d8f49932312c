/**
 * Bull Board in a real browser (headless Chromium via playwright-core): /admin/queues redirects
 * to the login form, an operator signs in, and the board lists every queue.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { seedOrg, seedUser, startTestApi, TEST_PASSWORD, type TestApi } from './helpers/api.js';

const CHROMIUM = '/usr/bin/chromium';
const skip = existsSync(CHROMIUM)
  ? false
  : `${CHROMIUM} is not installed (apt-get install chromium); skipping the browser test`;

let api: TestApi;

before(async () => {
  if (skip) return;
  api = await startTestApi();
  const org = await seedOrg(api.db, 'browser');
  await seedUser(api.db, org, 'ops@browser.test', 'operator');
});
after(async () => {
  if (!skip) await api.close();
});

test(
  'an operator logs in through the form and sees every queue in Bull Board',
  { skip, timeout: 120_000 },
  async () => {
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    try {
      const page = await browser.newPage();
      await page.goto(`${api.baseUrl}/admin/queues`);
      assert.match(page.url(), /\/admin\/login\?next=%2Fadmin%2Fqueues$/, 'redirected to the login form');
      await page.fill('input[name=email]', 'ops@browser.test');
      await page.fill('input[name=password]', TEST_PASSWORD);
      await Promise.all([page.waitForURL(/\/admin\/queues/), page.click('button[type=submit]')]);
      for (const name of [
        'fetch-costs',
        'fetch-forecast',
        'fetch-metrics',
        'rollups',
        'anomalies',
        'scheduler',
        'budgets',
        'notifications',
      ]) {
        await page.getByText(name, { exact: true }).first().waitFor({ timeout: 30_000 });
      }
      const cookies = await page.context().cookies();
      const session = cookies.find((c) => c.name === 'cw_admin');
      assert.ok(session, 'session cookie set');
      assert.equal(session.httpOnly, true);
      assert.equal(session.sameSite, 'Strict');
    } finally {
      await browser.close();
    }
  },
);
