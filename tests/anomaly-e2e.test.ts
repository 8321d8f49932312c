/**
 * Anomalies end to end: the simulator injects a 4x spike of one linked account's EC2 on one day;
 * the real pipeline (SDK -> fetch workers -> COPY -> rollups -> detect-anomalies) loads it; the
 * detector opens the anomaly on the service and on the account with the account as root cause;
 * the API serves it; then AWS "restates" the day without the spike and the anomaly is withdrawn.
 * The simulator's today and the workers' clock are pinned.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestPipeline, type TestPipeline } from './helpers/pipeline.js';
import { get, login, seedUser, startTestApi, type TestApi } from './helpers/api.js';
import { linkedAccounts } from '../sim/cost-data.js';
import { EC2_COMPUTE_SERVICE } from '../sim/catalog.js';
import { manualClock } from '../lib/clock.js';

const PAYER = '246813579024';
const TODAY = '2026-03-20';
const SPIKE = '2026-03-05';
const clock = manualClock(`${TODAY}T08:00:00Z`);
const member = linkedAccounts(PAYER)[1]?.id ?? '';

let p: TestPipeline;
let api: TestApi;
let orgId: number;
let token: string;

interface Item {
  id: number;
  dimension: string;
  key: string;
  kind: string;
  start: string;
  end: string;
  status: string;
  withdrawn_reason: string | null;
  impact: { amount: string };
  root_causes: Array<{
    dimension: string;
    service: string | null;
    linked_account: string | null;
    impact: { share: number };
  }>;
}

async function anomalies(qs: string): Promise<Item[]> {
  const res = await get(api, `/api/v1/anomalies?${qs}`, token);
  assert.equal(res.status, 200, res.text);
  return (res.json as { items: Item[] }).items;
}

before(async () => {
  p = await startTestPipeline({
    sim: {
      today: TODAY,
      costInjections: [
        { kind: 'spike', account: member, service: EC2_COMPUTE_SERVICE, from: SPIKE, factor: 4 },
      ],
    },
    now: clock.now,
  });
  orgId = (await p.createOrg(PAYER)).id;
  api = await startTestApi({ db: p.db, options: { now: clock.now } });
  await seedUser(api.db, orgId, 'viewer@anomaly-e2e.test', 'viewer');
  token = await login(api, 'viewer@anomaly-e2e.test');
});
after(async () => {
  await api?.close();
  await p?.close();
});

test('an injected spike is loaded, detected with its root cause and served; a restatement withdraws it', async () => {
  const loaded = await p.backfill([orgId], '2026-01-01', '2026-03-21', 240_000);
  assert.equal(loaded.failed, 0);
  await p.waitForIdle(120_000);

  const onService = (await anomalies(`service=${encodeURIComponent(EC2_COMPUTE_SERVICE)}`)).find(
    (a) => a.dimension === 'service' && a.key === EC2_COMPUTE_SERVICE && a.start <= SPIKE && a.end >= SPIKE,
  );
  assert.ok(onService, 'the EC2 anomaly of the spike day');
  assert.equal(onService.kind, 'spike');
  assert.equal(onService.status, 'closed', 'the day is final and the days after it are quiet');
  assert.ok(Number(onService.impact.amount) > 10);
  const byAccount = onService.root_causes.find((c) => c.dimension === 'account');
  assert.equal(byAccount?.linked_account, member, 'the account that spiked is the root cause');
  assert.ok((byAccount?.impact.share ?? 0) > 0.9, `share ${byAccount?.impact.share}`);

  const onAccount = (await anomalies(`account=${member}`)).find(
    (a) => a.dimension === 'account' && a.key === member && a.start <= SPIKE && a.end >= SPIKE,
  );
  assert.ok(onAccount, 'the member account anomaly of the spike day');
  assert.equal(onAccount.root_causes[0]?.service, EC2_COMPUTE_SERVICE);

  // AWS restates: the spike is gone. The window is fetched again, rolled up and re-scored.
  p.sim.control.setOptions({ costInjections: [] });
  clock.set('2026-03-20T14:00:00Z');
  const restated = await p.backfill([orgId], '2026-03-01', '2026-03-08', 120_000);
  assert.equal(restated.failed, 0);
  await p.waitForIdle(120_000);
  const after = await anomalies('status=withdrawn');
  const withdrawn = after.find((a) => a.id === onService.id);
  assert.ok(withdrawn, 'the service anomaly is withdrawn, still listed');
  assert.equal(withdrawn.withdrawn_reason, 'restated');
  assert.ok(after.some((a) => a.id === onAccount.id));
});
