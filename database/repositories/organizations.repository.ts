/** Organizations: the tenants, one AWS payer account each, and their ingestion status. */
import type { Queryable } from '../../lib/db.js';

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

/** What a committed cost load records with it (in its transaction). */
export interface CostLoadRecord {
  /** The load's fetch_runs row, marked succeeded with the rows (null: no run to close). */
  runId: number | null;
  window: { from: string; to: string };
  /** Earliest day of the window AWS flagged Estimated, or null when every day came back final. */
  estimatedFrom: string | null;
  rows: number;
  awsRequests: Record<string, number>;
}

// recordCostLoad: called last inside a cost load's transaction (which holds the org's loader lock):
// marks the run succeeded, records the org's success and keeps estimated_from the earliest day still
// Estimated across windows committed in any order (cw_record_cost_load, migration 0005). Returns the
// org's new estimated_from. Params: org id, the load's record.
export async function recordCostLoad(
  db: Queryable,
  orgId: number,
  load: CostLoadRecord,
): Promise<string | null> {
  const total = Object.values(load.awsRequests).reduce((a, b) => a + b, 0);
  const { rows } = await db.query<{ estimatedFrom: string | null }>(
    `SELECT cw_record_cost_load($1, $2, $3::date, $4::date, $5::date, $6, $7, $8::jsonb)::text AS "estimatedFrom"`,
    [
      orgId,
      load.runId,
      load.window.from,
      load.window.to,
      load.estimatedFrom,
      load.rows,
      total,
      JSON.stringify(load.awsRequests),
    ],
  );
  return rows[0]?.estimatedFrom ?? null;
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
