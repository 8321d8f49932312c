/**
 * Dimensions end to end, through the real SDK against the simulator: an admin tracks tags, a cost
 * category and usage types through the API; a backfill loads every grouping; then on final days
 * every grouping's per-day total equals the ungrouped total and the simulator's truth to the last
 * digit, untagged spend is the group (untagged), tag and service filters cross, usage types carry
 * their unit, accounts come with their names (a rename shows after the next fetch), and the summary
 * splits the month by record type. The API clock and the simulator's today are pinned.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { request as httpRequest } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { expectedDailyTotal, finalCostLines, formatFixed, linkedAccounts, parseFixed } from '../sim/data.js';
import { parseDay } from '../sim/calendar.js';
import { eachDay } from '../lib/dates.js';
import { startTestPipeline, type TestPipeline } from './helpers/pipeline.js';
import { allItems, get, login, seedUser, startTestApi, type TestApi } from './helpers/api.js';
import { parseCsv } from './helpers/csv.js';
import { normDecimal } from './helpers/decimal.js';

const TODAY = '2026-03-15';
const NOW = new Date(`${TODAY}T12:00:00Z`);
// The simulator flags today and the two days before as Estimated: the window ends before them.
const FROM = '2026-02-01';
const TO = '2026-03-13';
const FINAL_DAYS = eachDay(FROM, TO);
const ACCOUNT = '334455667788';
const EC2 = 'Amazon Elastic Compute Cloud - Compute';

interface Item {
  date: string;
  group: string | null;
  account?: { id: string; name: string | null };
  usage?: { amount: string; unit: string };
  unblended_cost: { amount: string; unit: string };
}

const BIN = fileURLToPath(new URL('../bin/costwatch.mjs', import.meta.url));

/** Runs the real CLI against the pipeline's database, Redis and simulator. */
function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      {
        env: {
          ...process.env,
          DATABASE_URL: p.db.url,
          REDIS_URL: p.config.REDIS_URL,
          QUEUE_PREFIX: p.config.QUEUE_PREFIX,
          AWS_ENDPOINT_URL: p.sim.url,
          ALLOW_INSECURE_AWS_ENDPOINT: 'true',
          LOG_LEVEL: 'silent',
        },
      },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** A raw GET (no automatic decompression): status, headers and body bytes. */
function rawGet(
  path: string,
  token: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${api.baseUrl}${path}`,
      { headers: { authorization: `Bearer ${token}`, ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

let p: TestPipeline;
let api: TestApi;
let admin: string;
let orgId: number;

async function post(path: string, body: unknown, token: string) {
  const res = await fetch(`${api.baseUrl}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as unknown };
}

function daily(query: string): Promise<Item[]> {
  return allItems<Item>(api, `/api/v1/costs/daily?from=${FROM}&to=${TO}&${query}`, admin);
}

/** Per final day, the sum of the items' unblended cost ('0' for a day without items). */
function perDay(items: Item[]): Map<string, string> {
  const sums = new Map<string, bigint>(FINAL_DAYS.map((d) => [d, 0n]));
  for (const i of items)
    sums.set(i.date, (sums.get(i.date) ?? 0n) + parseFixed(normDecimal(i.unblended_cost.amount)));
  return new Map([...sums].map(([d, v]) => [d, formatFixed(v)]));
}

/** The simulator's truth: final unblended cost of the lines matching `keep`, per day. */
function truth(keep: (line: ReturnType<typeof finalCostLines>[number]) => boolean): Map<string, string> {
  const out = new Map<string, string>();
  for (const day of FINAL_DAYS) {
    let total = 0n;
    for (const line of finalCostLines(ACCOUNT, parseDay(day) ?? 0))
      if (keep(line)) total += line.values.UnblendedCost;
    out.set(day, formatFixed(total));
  }
  return out;
}

describe('dimensions through the pipeline', () => {
  before(async () => {
    p = await startTestPipeline({ sim: { today: TODAY } });
    const org = await p.createOrg(ACCOUNT);
    orgId = org.id;
    api = await startTestApi({
      db: p.db,
      env: { QUEUE_PREFIX: p.config.QUEUE_PREFIX },
      options: { now: () => NOW },
    });
    await seedUser(p.db, org.id, 'admin@dims.example', 'admin');
    await seedUser(p.db, org.id, 'viewer@dims.example', 'viewer');
    admin = await login(api, 'admin@dims.example');
    const viewer = await login(api, 'viewer@dims.example');
    const denied = await post('/api/v1/dimensions/tracked', { tags: ['team'] }, viewer);
    assert.equal(denied.status, 403, 'viewers may not change what is tracked');
    const bad = await post('/api/v1/dimensions/tracked', { tags: ['te$am'] }, admin);
    assert.equal(bad.status, 400);
    assert.equal((bad.json as { error: { field: string } }).error.field, 'tags');
    const set = await post(
      '/api/v1/dimensions/tracked',
      { tags: ['team', 'env'], cost_categories: ['Product'], usage_types: true },
      admin,
    );
    assert.equal(set.status, 200, JSON.stringify(set.json));
    assert.deepEqual((set.json as { tracked: string[] }).tracked, [
      'cost_category:Product',
      'tag:env',
      'tag:team',
      'usage_type',
    ]);
    const loaded = await p.backfill([org.id], FROM, TO, 240_000);
    assert.equal(loaded.failed, 0);
  });
  after(async () => {
    await api?.close();
    await p?.close();
  });

  test('GET /dimensions lists what the organization loads', async () => {
    const res = await get(api, '/api/v1/dimensions', admin);
    assert.equal(res.status, 200, res.text);
    const body = res.json as { dimensions: Array<{ name: string }>; tracked: string[] };
    assert.deepEqual(
      body.dimensions.map((d) => d.name),
      [
        'service',
        'account',
        'region',
        'record_type',
        'cost_category:Product',
        'tag:env',
        'tag:team',
        'usage_type',
      ],
    );
  });

  test('each tracked key costs one more GetCostAndUsage query per window, counted in the runs', async () => {
    const { rows } = await p.db.pool.query<{ ce: number; windows: number }>(
      `SELECT sum((aws_requests_by_operation->>'GetCostAndUsage')::int)::int AS ce, count(*)::int AS windows
         FROM fetch_runs WHERE organization_id = $1 AND source = 'costs' AND status = 'succeeded'`,
      [orgId],
    );
    const run = rows[0];
    assert.ok(run && run.windows > 0);
    // 3 always-loaded groupings + 4 tracked; each window's groups fit in one page here.
    assert.ok(run.ce >= run.windows * 7, `${run.ce} requests for ${run.windows} windows`);
  });

  test('on final days every grouping sums to the ungrouped total and the simulator, to the last digit', async () => {
    const total = perDay(await daily('group_by=none'));
    for (const day of FINAL_DAYS)
      assert.equal(total.get(day), expectedDailyTotal(ACCOUNT, day), `total ${day}`);
    for (const groupBy of [
      'service',
      'account',
      'region',
      'record_type',
      'usage_type',
      'tag:team',
      'tag:env',
      'cost_category:Product',
    ]) {
      const sums = perDay(await daily(`group_by=${encodeURIComponent(groupBy)}`));
      for (const day of FINAL_DAYS) assert.equal(sums.get(day), total.get(day), `${groupBy} ${day}`);
    }
  });

  test('untagged spend is the group (untagged); a tag filter crosses group_by=service', async () => {
    const byTeam = await daily('group_by=tag:team');
    const groups = new Set(byTeam.map((i) => i.group));
    assert.ok(groups.has('(untagged)'), [...groups].join(', '));
    assert.ok(groups.has('payments'));
    assert.deepEqual(
      perDay(byTeam.filter((i) => i.group === '(untagged)')),
      truth((l) => l.tags.team === undefined),
    );
    const payments = await daily('group_by=service&tag:team=payments');
    assert.ok(payments.every((i) => i.group !== null));
    assert.deepEqual(
      perDay(payments),
      truth((l) => l.tags.team === 'payments'),
    );
    const team = 'payments';
    const service = payments[0]?.group ?? EC2;
    const crossedBoth = await daily(
      `group_by=none&tag:team=${encodeURIComponent(team)}&service=${encodeURIComponent(service)}`,
    );
    const expected = truth((l) => l.tags.team === team && l.service === service);
    assert.notEqual(
      [...expected.values()].join(),
      FINAL_DAYS.map(() => '0').join(),
      'a combination with spend',
    );
    assert.deepEqual(perDay(crossedBoth), expected);
    const product = await daily('group_by=service&cost_category:Product=Checkout');
    assert.deepEqual(
      perDay(product),
      truth((l) => l.costCategories.Product === 'Checkout'),
    );
    const uncategorized = await daily('group_by=cost_category:Product&cost_category:Product=(uncategorized)');
    assert.deepEqual(
      perDay(uncategorized),
      truth((l) => l.costCategories.Product === undefined),
    );
    const crossed = await get(
      api,
      `/api/v1/costs/daily?from=${FROM}&to=${TO}&group_by=region&tag:team=payments`,
      admin,
    );
    assert.equal(crossed.status, 400, 'no grouping holds region x tag');
    assert.equal((crossed.json as { error: { field: string } }).error.field, 'tag:team');
    const typo = await get(api, `/api/v1/costs/daily?from=${FROM}&to=${TO}&tags:team=x`, admin);
    assert.equal(typo.status, 400);
    assert.equal((typo.json as { error: { field: string } }).error.field, 'tags:team');
  });

  test('group_by=usage_type&service=EC2: which usage inside EC2, with units', async () => {
    const items = await daily(`group_by=usage_type&service=${encodeURIComponent(EC2)}`);
    assert.ok(items.length > 0);
    const box = items.filter((i) => i.group?.endsWith('BoxUsage:m5.large'));
    assert.ok(box.length > 0);
    for (const i of box) assert.equal(i.usage?.unit, 'Hrs');
    assert.deepEqual(
      perDay(items),
      truth((l) => l.service === EC2),
    );
  });

  test('accounts come as {id, name}; a rename shows after the next fetch', async () => {
    const names = new Map(linkedAccounts(ACCOUNT).map((a) => [a.id, a.name]));
    const items = await daily('group_by=account');
    for (const i of items) assert.deepEqual(i.account, { id: i.group, name: names.get(i.group ?? '') });
    const top = await get(api, `/api/v1/costs/top?from=${FROM}&to=${TO}&dimension=account`, admin);
    const ranked = (top.json as { items: Array<{ key: string; account: { id: string; name: string } }> })
      .items;
    for (const r of ranked) assert.deepEqual(r.account, { id: r.key, name: names.get(r.key) });
    const member = [...names.keys()][1] ?? '';
    p.sim.control.setOptions({ accountNames: { [member]: 'Payments Production' } });
    const again = await p.backfill([orgId], '2026-03-12', '2026-03-13');
    assert.equal(again.failed, 0);
    const renamed = await get(
      api,
      `/api/v1/costs/top?from=${FROM}&to=${TO}&dimension=account&limit=100`,
      admin,
    );
    const after = (renamed.json as { items: Array<{ key: string; account: { name: string } }> }).items;
    assert.equal(after.find((r) => r.key === member)?.account.name, 'Payments Production');
  });

  test('the summary splits the month to date into gross usage, credits, refunds, other and net', async () => {
    const res = await get(api, '/api/v1/costs/summary', admin);
    assert.equal(res.status, 200, res.text);
    const s = res.json as {
      month_to_date: { total: { amount: string } };
      record_types: Record<'gross_usage' | 'credits' | 'refunds' | 'other' | 'net', { amount: string }>;
    };
    const r = s.record_types;
    assert.equal(normDecimal(r.net.amount), normDecimal(s.month_to_date.total.amount));
    const parts = ['gross_usage', 'credits', 'refunds', 'other'] as const;
    assert.equal(
      formatFixed(parts.reduce((acc, k) => acc + parseFixed(normDecimal(r[k].amount)), 0n)),
      normDecimal(r.net.amount),
    );
    const march = FINAL_DAYS.filter((d) => d >= '2026-03-01');
    const credits = march.reduce(
      (acc, d) =>
        acc +
        finalCostLines(ACCOUNT, parseDay(d) ?? 0)
          .filter((l) => l.recordType === 'Credit')
          .reduce((a, l) => a + l.values.UnblendedCost, 0n),
      0n,
    );
    assert.equal(normDecimal(r.credits.amount), formatFixed(credits));
    assert.ok(credits <= 0n);
  });

  test('costwatch org tags lists what AWS knows (GetTags, GetCostCategories); org track sets the lists', async () => {
    const tags = await cli(['org', 'tags', '--org', String(orgId), '--as-of', TODAY, '--json']);
    assert.equal(tags.code, 0, tags.stderr);
    const listed = JSON.parse(tags.stdout) as {
      tags: string[];
      categories: string[];
      tracked: string[];
      aws_requests: Record<string, number>;
    };
    assert.deepEqual(listed.tags, ['cost-center', 'env', 'team']);
    assert.deepEqual(listed.categories, ['Environment', 'Product']);
    assert.equal(listed.aws_requests.GetTags, 1);
    assert.equal(listed.aws_requests.GetCostCategories, 1);
    const bad = await cli(['org', 'track', '--org', String(orgId), '--cost-categories', 'a$b']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /--cost-categories: "a\$b"/);
    const set = await cli(['org', 'track', '--org', String(orgId), '--tags', 'team', '--usage-types', 'off']);
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /tracks: cost_category:Product, tag:team$/m);
    const res = await get(api, '/api/v1/dimensions', admin);
    assert.deepEqual((res.json as { tracked: string[] }).tracked, ['cost_category:Product', 'tag:team']);
  });

  test('exports: CSV sums to the simulator per day, gzip on request, Content-Disposition, FOCUS columns', async () => {
    const path = `/api/v1/costs/export?format=csv&from=${FROM}&to=${TO}&group_by=account`;
    const plain = await rawGet(path, admin);
    assert.equal(plain.status, 200, plain.body.toString());
    assert.match(String(plain.headers['content-type']), /^text\/csv/);
    assert.equal(
      plain.headers['content-disposition'],
      `attachment; filename="costwatch-${orgId}-${FROM}-${TO}-account.csv"`,
    );
    const rows = parseCsv(plain.body.toString('utf8'));
    const sums = new Map<string, bigint>();
    for (const r of rows)
      sums.set(
        r.date ?? '',
        (sums.get(r.date ?? '') ?? 0n) + parseFixed(normDecimal(r.unblended_cost ?? 'x')),
      );
    for (const day of FINAL_DAYS)
      assert.equal(formatFixed(sums.get(day) ?? 0n), expectedDailyTotal(ACCOUNT, day), day);
    // The names AWS gives now (an earlier test renamed one).
    const names = new Map(linkedAccounts(ACCOUNT).map((a) => [a.id, a.name]));
    for (const [id, name] of Object.entries(p.sim.control.options().accountNames)) names.set(id, name);
    assert.ok(rows.every((r) => r.dimension === 'account' && r.account_name !== '' && r.service !== ''));
    const zipped = await rawGet(path, admin, { 'accept-encoding': 'gzip' });
    assert.equal(zipped.headers['content-encoding'], 'gzip');
    assert.ok(zipped.body.length < plain.body.length / 3, 'compressed');
    assert.deepEqual(gunzipSync(zipped.body), plain.body);

    const focus = await rawGet(
      `/api/v1/costs/export?format=focus&from=2026-02-27&to=2026-03-02&group_by=account`,
      admin,
    );
    assert.equal(focus.status, 200);
    const frows = parseCsv(focus.body.toString('utf8'));
    const header = focus.body.toString('utf8').split('\n')[0]?.split(',') ?? [];
    for (const column of [
      'BilledCost',
      'BillingAccountId',
      'BillingAccountName',
      'BillingCurrency',
      'BillingPeriodEnd',
      'BillingPeriodStart',
      'ChargeCategory',
      'ChargeDescription',
      'ChargePeriodEnd',
      'ChargePeriodStart',
      'ContractedCost',
      'EffectiveCost',
      'InvoiceIssuerName',
      'ListCost',
      'PricingQuantity',
      'PricingUnit',
      'ProviderName',
      'PublisherName',
      'RegionId',
      'ServiceCategory',
      'ServiceName',
      'SubAccountId',
      'SubAccountName',
      'Tags',
    ])
      assert.ok(header.includes(column), column);
    const feb = frows.find((r) => r.ChargePeriodStart === '2026-02-28T00:00:00Z');
    assert.ok(feb);
    assert.equal(feb.ChargePeriodEnd, '2026-03-01T00:00:00Z');
    assert.equal(feb.BillingPeriodStart, '2026-02-01T00:00:00Z');
    assert.equal(feb.BillingPeriodEnd, '2026-03-01T00:00:00Z', 'the end is exclusive');
    assert.equal(feb.BillingAccountId, ACCOUNT);
    assert.equal(feb.SubAccountName, names.get(feb.SubAccountId ?? ''));
    assert.equal(feb.ListCost, '');
    const ec2 = frows.find((r) => r.ServiceName === EC2);
    assert.equal(ec2?.ServiceCategory, 'Compute');
    const byTeam = parseCsv(
      (
        await rawGet(
          `/api/v1/costs/export?format=focus&from=2026-03-01&to=2026-03-01&group_by=tag:team`,
          admin,
        )
      ).body.toString('utf8'),
    );
    assert.ok(
      byTeam.some((r) => r.Tags === '{"team": "payments"}'),
      byTeam.map((r) => r.Tags).join(' '),
    );
    assert.ok(
      byTeam.some((r) => r.Tags === '{}'),
      'untagged rows carry no tags',
    );
    const byRecord = parseCsv(
      (
        await rawGet(
          `/api/v1/costs/export?format=focus&from=2026-03-01&to=2026-03-01&group_by=record_type`,
          admin,
        )
      ).body.toString('utf8'),
    );
    assert.ok(
      byRecord.every((r) =>
        ['Usage', 'Purchase', 'Tax', 'Credit', 'Adjustment'].includes(r.ChargeCategory ?? ''),
      ),
    );
    const fromCli = await cli([
      'export',
      '--org',
      String(orgId),
      '--from',
      '2026-03-02',
      '--to',
      '2026-03-02',
      '--group-by',
      'region',
    ]);
    assert.equal(fromCli.code, 0, fromCli.stderr);
    const cliRows = parseCsv(fromCli.stdout);
    assert.ok(cliRows.length > 0 && cliRows.every((r) => r.dimension === 'region'));
    assert.equal(
      formatFixed(cliRows.reduce((acc, r) => acc + parseFixed(normDecimal(r.unblended_cost ?? 'x')), 0n)),
      expectedDailyTotal(ACCOUNT, '2026-03-02'),
    );
    const badCli = await cli([
      'export',
      '--org',
      String(orgId),
      '--from',
      '2026-03-02',
      '--to',
      '2026-03-02',
      '--group-by',
      'colour',
    ]);
    assert.notEqual(badCli.code, 0);
    assert.match(badCli.stderr, /--group-by: unknown dimension "colour"/);
    const bad = await get(api, `/api/v1/costs/export?format=xml&from=${FROM}&to=${TO}`, admin);
    assert.equal(bad.status, 400);
    assert.equal((bad.json as { error: { field: string } }).error.field, 'format');
  });
});
