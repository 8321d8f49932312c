/** The Cost Explorer spend check: organizations that reached CE_DAILY_REQUEST_CAP in the last 24 hours. */
import type pg from 'pg';
import { cappedOrganizationsSince } from '../../database/repositories/restatement.repository.js';
import { pass, warn, type CheckResult } from './check.js';

export async function checkCeCap(client: pg.Client, cap: number, now: Date): Promise<CheckResult> {
  if (cap <= 0) return pass('ce daily cap', 'CE_DAILY_REQUEST_CAP=0: no per-organization daily cap');
  const capped = await cappedOrganizationsSince(client, new Date(now.getTime() - 86_400_000));
  if (capped.length === 0)
    return pass(
      'ce daily cap',
      `no organization reached CE_DAILY_REQUEST_CAP (${cap} requests a day) in the last 24 hours`,
    );
  return warn(
    'ce daily cap',
    `${capped.length} organization(s) reached CE_DAILY_REQUEST_CAP (${cap} Cost Explorer requests a day) in the last 24 hours: ` +
      `${capped.map((c) => c.orgId).join(', ')}; their remaining fetches run the next day`,
    "See the org's /ingestion/status ce_budget and docs/AWS-COSTS.md: a backfill or a manual refresh storm spends the cap; raise CE_DAILY_REQUEST_CAP if the spend is expected",
  );
}
