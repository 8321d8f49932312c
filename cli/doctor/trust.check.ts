/**
 * The AWS trust chain and operator placement, from the database alone (no AWS request): every
 * organization with a role should use an external id CostWatch generated, reading with
 * CostWatch's own identity (`--self`) is worth knowing about, and operators belong in the
 * platform organization only. Warnings, never failures: these deployments still work.
 */
import type { Queryable } from '../../lib/db.js';
import { trustFindings } from '../../database/repositories/trust.repository.js';
import { pass, skip, warn, type CheckResult } from './check.js';

const list = (items: string[]) =>
  items.length > 5 ? `${items.slice(0, 5).join(', ')} and ${items.length - 5} more` : items.join(', ');

/** The trust-chain checks; skipped until migration 0007 added the columns they read. */
export async function checkTrust(db: Queryable): Promise<CheckResult[]> {
  const { rows } = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM information_schema.columns
     WHERE table_schema = current_schema() AND table_name = 'organizations' AND column_name IN ('kind', 'external_id_source', 'self_identity')`,
  );
  if ((rows[0]?.n ?? 0) < 3)
    return [skip('trust chain', 'migration 0007 is not applied (costwatch migrate up)')];
  const found = await trustFindings(db);
  const results: CheckResult[] = [];
  const ext = found.externalIdNotGenerated;
  results.push(
    ext.length === 0
      ? pass('external ids', 'every organization with a role uses an external id CostWatch generated')
      : warn(
          'external ids',
          `${ext.length} organization(s) assume a role with an external id CostWatch did not generate: ${list(
            ext.map(
              (o) => `${o.id} (${o.name}, ${o.externalIdSource === 'operator' ? 'operator-set' : 'none'})`,
            ),
          )}. An id someone else chose (or none) lets another tenant who knows the role ARN have CostWatch read that account (confused deputy).`,
          [
            'for each: costwatch org update --id ID --rotate-external-id   # prints the new id and the trust policy',
            "then have the customer put the new sts:ExternalId in the role's trust policy (docs/SECURITY.md, AWS trust chain)",
          ].join('\n'),
        ),
  );
  const self = found.selfIdentity;
  results.push(
    self.length === 0
      ? pass('self identity', "no organization is read with CostWatch's own AWS identity")
      : warn(
          'self identity',
          `${self.length} organization(s) are read with CostWatch's own identity (--self), not a role in their account: ${list(
            self.map((o) => `${o.id} (${o.name}, account ${o.awsAccountId})`),
          )}. The pipeline stops one whose account is not the one STS GetCallerIdentity names.`,
          'intended only for the account CostWatch runs in; otherwise: costwatch org update --id ID --role-arn arn:aws:iam::ACCOUNT:role/ROLE_NAME',
        ),
  );
  const ops = found.operatorsOutsidePlatform;
  const platform = found.platformOrgId;
  results.push(
    ops.length === 0
      ? pass(
          'operators',
          platform === null
            ? 'no operator users'
            : `operators live in the platform organization ${platform} only`,
        )
      : warn(
          'operators',
          `${ops.length} operator user(s) belong to a customer organization, so a customer-side account can read every tenant: ${list(
            ops.map(
              (u) => `${u.email} (user ${u.id}, org ${u.organizationId}${u.disabled ? ', disabled' : ''})`,
            ),
          )}`,
          [
            ...(platform === null ? ['costwatch org create --platform --name "CostWatch operators"'] : []),
            `costwatch user create --org ${platform ?? 'PLATFORM_ORG_ID'} --email EMAIL --role operator   # the operator again, in the platform org`,
            'costwatch user disable --email EMAIL   # the old operator user in the customer organization',
          ].join('\n'),
        ),
  );
  return results;
}
