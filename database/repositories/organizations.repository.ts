/** Organizations: the tenants, one AWS payer account each, and their ingestion status. */
import type { Queryable } from '../../lib/db.js';
import { startOfMonth } from '../../lib/dates.js';

export type OrgStatus = 'active' | 'disabled' | 'access_denied' | 'error';

export interface Organization {
  id: number;
  name: string;
  awsAccountId: string;
  roleArn: string | null;
  externalId: string | null;
  status: OrgStatus;
  lastError: string | null;
  lastErrorRemedy: string | null;
  lastErrorAt: Date | null;
  lastSuccessAt: Date | null;
  estimatedFrom: string | null;
  createdAt: Date;
}

/** The Organization fields of a row of organizations, for the statements that return one. */
export const ORGANIZATION_COLUMNS = `id, name, aws_account_id AS "awsAccountId", role_arn AS "roleArn", external_id AS "externalId", status,
  last_error AS "lastError", last_error_remedy AS "lastErrorRemedy", last_error_at AS "lastErrorAt",
  last_success_at AS "lastSuccessAt", estimated_from AS "estimatedFrom", created_at AS "createdAt"`;

export interface NewOrganization {
  name: string;
  awsAccountId: string;
  roleArn?: string | null;
  externalId?: string | null;
}

// createOrganization: inserts an organization (status active).
// Params: name, 12-digit account id, optional role ARN and external id.
export async function createOrganization(db: Queryable, org: NewOrganization): Promise<Organization> {
  const { rows } = await db.query<Organization>(
    `INSERT INTO organizations (name, aws_account_id, role_arn, external_id) VALUES ($1, $2, $3, $4) RETURNING ${ORGANIZATION_COLUMNS}`,
    [org.name, org.awsAccountId, org.roleArn ?? null, org.externalId ?? null],
  );
  const created = rows[0];
  if (!created) throw new Error('insert returned no row');
  return created;
}

// getOrganization: one organization by id, or null.
// Params: id.
export async function getOrganization(db: Queryable, id: number): Promise<Organization | null> {
  const { rows } = await db.query<Organization>(
    `SELECT ${ORGANIZATION_COLUMNS} FROM organizations WHERE id = $1`,
    [id],
  );
  return rows[0] ?? null;
}

// listOrganizations: every organization, by id.
// Params: none.
export async function listOrganizations(db: Queryable): Promise<Organization[]> {
  const { rows } = await db.query<Organization>(
    `SELECT ${ORGANIZATION_COLUMNS} FROM organizations ORDER BY id`,
  );
  return rows;
}

// listActiveOrganizationsAfter: a page of active organizations with id > afterId (keyset paging).
// Params: afterId, limit.
export async function listActiveOrganizationsAfter(
  db: Queryable,
  afterId: number,
  limit: number,
): Promise<Array<{ id: number; estimatedFrom: string | null }>> {
  const { rows } = await db.query<{ id: number; estimatedFrom: string | null }>(
    `SELECT id, estimated_from AS "estimatedFrom" FROM organizations
     WHERE status = 'active' AND id > $1 ORDER BY id LIMIT $2`,
    [afterId, limit],
  );
  return rows;
}

// setOrganizationStatus: an operator's enable/disable; clears the last error when re-activated.
// Params: id, status.
export async function setOrganizationStatus(db: Queryable, id: number, status: OrgStatus): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE organizations SET status = $2, updated_at = now(),
       last_error = CASE WHEN $2 = 'active' THEN NULL ELSE last_error END,
       last_error_remedy = CASE WHEN $2 = 'active' THEN NULL ELSE last_error_remedy END
     WHERE id = $1`,
    [id, status],
  );
  return (rowCount ?? 0) > 0;
}

// recordOrganizationFailure: the pipeline stops an organization (access denied, bad config) with
// a message and a remedy. A disabled organization stays disabled. Params: id, status, error, remedy.
export async function recordOrganizationFailure(
  db: Queryable,
  id: number,
  status: Extract<OrgStatus, 'access_denied' | 'error'>,
  error: string,
  remedy: string,
): Promise<void> {
  await db.query(
    `UPDATE organizations SET status = CASE WHEN status = 'disabled' THEN status ELSE $2 END,
       last_error = $3, last_error_remedy = $4, last_error_at = now(), updated_at = now()
     WHERE id = $1`,
    [id, status, error, remedy],
  );
}

/** Cost Explorer's forecast of the rest of the month (GetCostForecast), amounts as AWS sent them. */
export interface MonthForecast {
  mean: string;
  lower: string | null;
  upper: string | null;
  unit: string;
}

// recordCostRefresh: a cost load committed. Remembers the earliest Estimated day and, when given,
// stores the month's projection = month-to-date unblended cost (cost_data, days before `today`) +
// the forecast of the rest, in one statement. Params: id, estimatedFrom (null when every loaded day
// was final), today, forecast (null: none asked, or AWS had too little history).
export async function recordCostRefresh(
  db: Queryable,
  id: number,
  refresh: { estimatedFrom: string | null; today: string; forecast: MonthForecast | null },
): Promise<void> {
  const { forecast } = refresh;
  await db.query(
    `WITH org AS (
       UPDATE organizations SET last_success_at = now(), estimated_from = $2, updated_at = now() WHERE id = $1),
     mtd AS (
       SELECT coalesce(sum(unblended_cost), 0) AS actual FROM cost_data
       WHERE $5::numeric IS NOT NULL AND organization_id = $1 AND grouping = 'account_service' AND cost_date >= $3 AND cost_date < $4)
     INSERT INTO cost_forecasts (organization_id, month, amount, lower_bound, upper_bound, unit, fetched_at)
     SELECT $1, $3, actual + $5::numeric, actual + $6::numeric, actual + $7::numeric, $8, now() FROM mtd WHERE $5::numeric IS NOT NULL
     ON CONFLICT (organization_id, month) DO UPDATE
       SET amount = EXCLUDED.amount, lower_bound = EXCLUDED.lower_bound, upper_bound = EXCLUDED.upper_bound,
           unit = EXCLUDED.unit, fetched_at = now()`,
    [
      id,
      refresh.estimatedFrom,
      startOfMonth(refresh.today),
      refresh.today,
      forecast?.mean ?? null,
      forecast?.lower ?? null,
      forecast?.upper ?? null,
      forecast?.unit ?? 'USD',
    ],
  );
}

// countOrganizationsByStatus: for the organizations gauge and the refresh-age gauge.
// Params: none. Returns counts per status and the oldest last success among active orgs.
export async function organizationHealth(
  db: Queryable,
): Promise<{ byStatus: Record<string, number>; oldestSuccessAgeSeconds: number | null }> {
  const { rows } = await db.query<{ status: string; n: number; oldest: number | null }>(
    `SELECT status, count(*)::int AS n,
       extract(epoch FROM now() - min(coalesce(last_success_at, created_at)))::float8 AS oldest
     FROM organizations GROUP BY status`,
  );
  const byStatus: Record<string, number> = {};
  let oldest: number | null = null;
  for (const row of rows) {
    byStatus[row.status] = row.n;
    if (row.status === 'active') oldest = row.oldest;
  }
  return { byStatus, oldestSuccessAgeSeconds: oldest };
}
