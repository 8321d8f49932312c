/**
 * What `costwatch doctor` reports about the AWS trust chain and operator placement (migration
 * 0007): organizations whose external id CostWatch did not generate, organizations read with
 * CostWatch's own identity, and operator users outside the platform organization.
 */
import type { Queryable } from '../../lib/db.js';

export interface TrustFindings {
  /** Customer orgs with a role whose external id is missing or operator-set. */
  externalIdNotGenerated: Array<{ id: number; name: string; externalIdSource: 'operator' | null }>;
  /** Customer orgs read with CostWatch's own identity (`--self`). */
  selfIdentity: Array<{ id: number; name: string; awsAccountId: string }>;
  /** Operator users in customer organizations (created before operators lived in the platform org). */
  operatorsOutsidePlatform: Array<{ id: number; email: string; organizationId: number; disabled: boolean }>;
  /** The platform organization's id, or null when there is none yet. */
  platformOrgId: number | null;
}

// trustFindings: the doctor's trust-chain warnings, three small reads over organizations and users.
// Params: none. Disabled organizations are left out of the organization lists.
export async function trustFindings(db: Queryable): Promise<TrustFindings> {
  const [external, self, operators, platform] = await Promise.all([
    db.query<{ id: number; name: string; externalIdSource: 'operator' | null }>(
      `SELECT id, name, external_id_source AS "externalIdSource" FROM organizations
       WHERE kind = 'customer' AND status <> 'disabled' AND role_arn IS NOT NULL
         AND external_id_source IS DISTINCT FROM 'costwatch'
       ORDER BY id`,
    ),
    db.query<{ id: number; name: string; awsAccountId: string }>(
      `SELECT id, name, aws_account_id AS "awsAccountId" FROM organizations
       WHERE kind = 'customer' AND status <> 'disabled' AND self_identity ORDER BY id`,
    ),
    db.query<{ id: number; email: string; organizationId: number; disabled: boolean }>(
      `SELECT u.id, u.email, u.organization_id AS "organizationId", u.disabled_at IS NOT NULL AS disabled
       FROM users u JOIN organizations o ON o.id = u.organization_id
       WHERE u.role = 'operator' AND o.kind <> 'platform' ORDER BY u.id`,
    ),
    db.query<{ id: number }>(`SELECT id FROM organizations WHERE kind = 'platform'`),
  ]);
  return {
    externalIdNotGenerated: external.rows,
    selfIdentity: self.rows,
    operatorsOutsidePlatform: operators.rows,
    platformOrgId: platform.rows[0]?.id ?? null,
  };
}
