/**
 * `costwatch org create | show | update | list | disable | enable`.
 *
 * CostWatch generates each organization's external id (never the operator or the customer), and
 * `create` / `show` / `update` print it with the trust policy to paste into the customer's role.
 * A role must live in the organization's account; no role means `--self` (CostWatch's own AWS
 * identity), asked for explicitly. `--platform` creates the one organization operators live in.
 */
import { withPool } from './support.js';
import type { Command } from 'commander';
import { z } from 'zod';
import { loadConfig } from '../lib/config.js';
import { trustPolicy } from '../lib/aws-trust.js';
import {
  checkOrganizationTrust,
  createOrganization,
  createPlatformOrganization,
  getOrganization,
  listOrganizations,
  OrganizationTrustError,
  setOrganizationStatus,
  updateOrganizationAccess,
  type Organization,
} from '../database/repositories/organizations.repository.js';
import { registerOrgDimensionCommands } from './org-dimensions.command.js';

const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[A-Za-z0-9+=,.@_/-]{1,512}$/;
const roleArnSchema = z
  .string()
  .regex(ROLE_ARN, 'must be an IAM role ARN such as arn:aws:iam::123456789012:role/CostWatchRead');
const nameSchema = z.string().trim().min(1, 'must not be empty').max(200, 'at most 200 characters');

export const orgInputSchema = z
  .object({
    name: nameSchema,
    awsAccountId: z.string().regex(/^\d{12}$/, 'must be a 12-digit AWS account id'),
    roleArn: roleArnSchema.optional(),
    self: z.boolean().optional(),
    externalId: z
      .string()
      .optional()
      .refine((v) => v === undefined, {
        message:
          'CostWatch generates the external id (printed with the trust policy to paste into the role); do not pass one',
      }),
  })
  .superRefine((o, ctx) => {
    try {
      checkOrganizationTrust({ ...o, selfIdentity: o.self === true });
    } catch (error) {
      if (!(error instanceof OrganizationTrustError)) throw error;
      ctx.addIssue({
        code: 'custom',
        path: [error.field === 'selfIdentity' ? 'self' : error.field],
        message: error.message,
      });
    }
  });

const FLAG: Record<string, string> = {
  name: '--name',
  awsAccountId: '--aws-account-id',
  roleArn: '--role-arn',
  externalId: '--external-id',
  self: '--self',
  selfIdentity: '--self',
};

function orgId(value: string): number {
  if (!/^\d+$/.test(value))
    throw new Error(`--id: must be an organization id (a whole number), got ${JSON.stringify(value)}`);
  return Number(value);
}

function issuesText(error: z.ZodError): string {
  return error.issues.map((i) => `${FLAG[String(i.path[0])] ?? i.path.join('.')}: ${i.message}`).join('\n');
}

/** The organization as `show --json` prints it, with the trust policy when it assumes a role. */
function describe(org: Organization, principalArn: string | undefined): Record<string, unknown> {
  return {
    id: org.id,
    name: org.name,
    kind: org.kind,
    aws_account_id: org.awsAccountId,
    role_arn: org.roleArn,
    self_identity: org.selfIdentity,
    external_id: org.externalId,
    external_id_source: org.externalIdSource,
    status: org.status,
    trust_policy: org.roleArn && org.externalId ? trustPolicy(principalArn, org.externalId) : null,
  };
}

function printOrganization(org: Organization, principalArn: string | undefined, json: boolean): void {
  const d = describe(org, principalArn);
  if (json) {
    process.stdout.write(`${JSON.stringify(d, null, 2)}\n`);
    return;
  }
  const lines = [`organization ${org.id} (${org.name}), ${org.kind}`];
  if (org.kind === 'platform') lines.push('operators only: no AWS account, never fetched');
  else {
    lines.push(`aws account: ${org.awsAccountId ?? ''}`);
    if (org.roleArn) {
      lines.push(`role: ${org.roleArn}`);
      lines.push(
        `external id: ${org.externalId ?? '(none)'}${org.externalIdSource === 'operator' ? ' (operator-set: rotate with costwatch org update --id ' + String(org.id) + ' --rotate-external-id)' : ''}`,
      );
      if (d.trust_policy) {
        lines.push(`trust policy for ${org.roleArn} (IAM > Roles > Trust relationships):`);
        lines.push(JSON.stringify(d.trust_policy, null, 2));
        if (!principalArn)
          lines.push("(set AWS_PRINCIPAL_ARN to CostWatch's IAM role ARN to print the Principal filled in)");
      }
    } else if (org.selfIdentity)
      lines.push("identity: CostWatch's own (--self); STS GetCallerIdentity must name the account");
    else lines.push('identity: none (refused: give it a role or --self with costwatch org update)');
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

function principalArn(): string | undefined {
  return loadConfig('cli').AWS_PRINCIPAL_ARN;
}

export function registerOrgCommand(program: Command): void {
  const org = program.command('org').description('manage organizations (one AWS payer account each)');
  org
    .command('create')
    .description(
      'add an organization; prints its id, its generated external id and the trust policy for its role',
    )
    .requiredOption('--name <name>', 'display name (unique)')
    .option('--aws-account-id <id>', '12-digit AWS account id (customer organizations)')
    .option('--role-arn <arn>', 'IAM role CostWatch assumes, in that account')
    .option(
      '--self',
      "no role: read with CostWatch's own AWS identity (only for the account CostWatch runs in)",
    )
    .option('--platform', 'the platform organization operators live in (no AWS account; at most one)')
    .option('--external-id <id>', 'refused: CostWatch generates the external id')
    .option('--json', 'print JSON')
    .action(
      async (options: {
        name: string;
        awsAccountId?: string;
        roleArn?: string;
        self?: boolean;
        platform?: boolean;
        externalId?: string;
        json?: boolean;
      }) => {
        const uniqueName = (error: unknown, name: string): never => {
          if (error instanceof Error && 'code' in error && error.code === '23505') {
            const platform = 'constraint' in error && error.constraint === 'organizations_platform_key';
            throw new Error(
              platform
                ? '--platform: a platform organization already exists (costwatch org list)'
                : `--name: an organization named ${JSON.stringify(name)} already exists`,
              { cause: error },
            );
          }
          throw error;
        };
        if (options.platform) {
          const extra = (['awsAccountId', 'roleArn', 'self', 'externalId'] as const).find(
            (k) => options[k] !== undefined,
          );
          if (extra)
            throw new Error(`${FLAG[extra] ?? extra}: the platform organization has no AWS account or role`);
          const name = nameSchema.safeParse(options.name);
          if (!name.success) throw new Error(`--name: ${name.error.issues[0]?.message ?? 'invalid'}`);
          const created = await withPool((pool) =>
            createPlatformOrganization(pool, name.data).catch((e: unknown) => uniqueName(e, name.data)),
          );
          printOrganization(created, undefined, options.json === true);
          return;
        }
        if (options.awsAccountId === undefined) throw new Error('--aws-account-id: required (or --platform)');
        const parsed = orgInputSchema.safeParse(options);
        if (!parsed.success) throw new Error(issuesText(parsed.error));
        const { name, awsAccountId, roleArn, self } = parsed.data;
        const created = await withPool((pool) =>
          createOrganization(pool, {
            name,
            awsAccountId,
            roleArn: roleArn ?? null,
            selfIdentity: self === true,
          }).catch((e: unknown) => uniqueName(e, name)),
        );
        printOrganization(created, principalArn(), options.json === true);
      },
    );
  org
    .command('show')
    .description('an organization with its external id and the trust policy for its role')
    .requiredOption('--id <id>', 'organization id')
    .option('--json', 'print JSON')
    .action(async (options: { id: string; json?: boolean }) => {
      const id = orgId(options.id);
      const found = await withPool((pool) => getOrganization(pool, id));
      if (!found) throw new Error(`--id: no organization ${id}`);
      printOrganization(found, principalArn(), options.json === true);
    });
  org
    .command('update')
    .description("change an organization's AWS access: its role, --self, or a new generated external id")
    .requiredOption('--id <id>', 'organization id')
    .option(
      '--role-arn <arn>',
      "a role in the organization's account (keeps its external id; generates one if it has none)",
    )
    .option('--self', "read with CostWatch's own AWS identity (drops the role)")
    .option(
      '--rotate-external-id',
      'replace the external id with a new generated one (update the role trust policy too)',
    )
    .option('--json', 'print JSON')
    .action(
      async (options: {
        id: string;
        roleArn?: string;
        self?: boolean;
        rotateExternalId?: boolean;
        json?: boolean;
      }) => {
        const id = orgId(options.id);
        if (options.roleArn !== undefined) {
          const arn = roleArnSchema.safeParse(options.roleArn);
          if (!arn.success) throw new Error(`--role-arn: ${arn.error.issues[0]?.message ?? 'invalid'}`);
        }
        if (options.roleArn !== undefined && options.self)
          throw new Error('--self: give either --role-arn or --self, not both');
        if (options.roleArn === undefined && !options.self && !options.rotateExternalId)
          throw new Error('--role-arn, --self or --rotate-external-id: give at least one');
        const updated = await withPool(async (pool) => {
          try {
            return await updateOrganizationAccess(pool, id, {
              ...(options.roleArn !== undefined ? { roleArn: options.roleArn } : {}),
              ...(options.self ? { roleArn: null, selfIdentity: true } : {}),
              rotateExternalId: options.rotateExternalId === true,
            });
          } catch (error) {
            if (error instanceof OrganizationTrustError)
              throw new Error(`${FLAG[error.field] ?? error.field}: ${error.message}`, { cause: error });
            throw error;
          }
        });
        if (!updated) throw new Error(`--id: no organization ${id}`);
        printOrganization(updated, principalArn(), options.json === true);
      },
    );
  org
    .command('list')
    .description('list organizations with their ingestion status')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => {
      const orgs = await withPool((pool) => listOrganizations(pool));
      if (options.json) {
        // The API's convention: a JSON array of snake_case objects (as `user list --json`).
        const snake = (key: string) => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
        const rows = orgs.map((o) => Object.fromEntries(Object.entries(o).map(([k, v]) => [snake(k), v])));
        process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
        return;
      }
      process.stdout.write(
        `${'ID'.padEnd(6)} ${'NAME'.padEnd(24)} ${'KIND'.padEnd(8)} ${'ACCOUNT'.padEnd(12)} ${'ACCESS'.padEnd(8)} ${'STATUS'.padEnd(14)} LAST SUCCESS / LAST ERROR\n`,
      );
      for (const o of orgs) {
        const access = o.kind === 'platform' ? '-' : o.roleArn ? 'role' : o.selfIdentity ? 'self' : 'none';
        const detail =
          o.status === 'active'
            ? (o.lastSuccessAt?.toISOString() ?? 'never')
            : `${o.lastError ?? ''} ${o.lastErrorRemedy ?? ''}`.trim();
        process.stdout.write(
          `${String(o.id).padEnd(6)} ${o.name.slice(0, 24).padEnd(24)} ${o.kind.padEnd(8)} ${(o.awsAccountId ?? '-').padEnd(12)} ${access.padEnd(8)} ${o.status.padEnd(14)} ${detail}\n`,
        );
      }
    });
  for (const [name, status, description] of [
    ['disable', 'disabled', 'stop refreshing an organization (its data stays)'],
    ['enable', 'active', 'resume refreshing an organization (after fixing its AWS access)'],
  ] as const) {
    org
      .command(name)
      .description(description)
      .requiredOption('--id <id>', 'organization id')
      .action(async (options: { id: string }) => {
        const id = orgId(options.id);
        const found = await withPool((pool) => setOrganizationStatus(pool, id, status));
        if (!found) throw new Error(`--id: no organization ${id}`);
        process.stdout.write(`organization ${id} ${status}\n`);
      });
  }
  registerOrgDimensionCommands(org);
}
