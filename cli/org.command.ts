/** `costwatch org create | list | disable | enable`. */
import type { Command } from 'commander';
import { z } from 'zod';
import { loadConfig, required } from '../lib/config.js';
import { createPool } from '../lib/db.js';
import {
  createOrganization,
  listOrganizations,
  setOrganizationStatus,
} from '../database/repositories/organizations.repository.js';
import { registerOrgDimensionCommands } from './org-dimensions.command.js';

export const orgInputSchema = z
  .object({
    name: z.string().trim().min(1, 'must not be empty').max(200, 'at most 200 characters'),
    awsAccountId: z.string().regex(/^\d{12}$/, 'must be a 12-digit AWS account id'),
    roleArn: z
      .string()
      .regex(/^arn:aws[a-z-]*:iam::\d{12}:role\/[A-Za-z0-9+=,.@_/-]{1,512}$/, 'must be an IAM role ARN such as arn:aws:iam::123456789012:role/CostWatchRead')
      .optional(),
    externalId: z.string().regex(/^[A-Za-z0-9+=,.@:/_-]{2,1224}$/, 'must be 2-1224 characters of A-Z a-z 0-9 +=,.@:/_-').optional(),
  })
  .refine((o) => !o.externalId || o.roleArn, { message: 'needs --role-arn (an external id is used when assuming a role)', path: ['externalId'] });

const FLAG: Record<string, string> = { name: '--name', awsAccountId: '--aws-account-id', roleArn: '--role-arn', externalId: '--external-id' };

async function withPool<T>(work: (pool: ReturnType<typeof createPool>) => Promise<T>): Promise<T> {
  const config = loadConfig('cli');
  const pool = createPool({ connectionString: required(config, 'DATABASE_URL'), max: 1, applicationName: 'costwatch-cli' });
  try {
    return await work(pool);
  } finally {
    await pool.end();
  }
}

function orgId(value: string): number {
  if (!/^\d+$/.test(value)) throw new Error(`--id: must be an organization id (a whole number), got ${JSON.stringify(value)}`);
  return Number(value);
}

export function registerOrgCommand(program: Command): void {
  const org = program.command('org').description('manage organizations (one AWS payer account each)');
  org
    .command('create')
    .description('add an organization; prints its id')
    .requiredOption('--name <name>', 'display name (unique)')
    .requiredOption('--aws-account-id <id>', '12-digit AWS account id')
    .option('--role-arn <arn>', 'IAM role CostWatch assumes in that account (else the default credentials)')
    .option('--external-id <id>', 'external id required by the role trust policy')
    .action(async (options: { name: string; awsAccountId: string; roleArn?: string; externalId?: string }) => {
      const parsed = orgInputSchema.safeParse(options);
      if (!parsed.success) {
        throw new Error(parsed.error.issues.map((i) => `${FLAG[String(i.path[0])] ?? i.path.join('.')}: ${i.message}`).join('\n'));
      }
      const created = await withPool(async (pool) => {
        try {
          return await createOrganization(pool, parsed.data);
        } catch (error) {
          if (error instanceof Error && 'code' in error && error.code === '23505') {
            throw new Error(`--name: an organization named ${JSON.stringify(parsed.data.name)} already exists`, { cause: error });
          }
          throw error;
        }
      });
      process.stdout.write(`${created.id}\n`);
    });
  org
    .command('list')
    .description('list organizations with their ingestion status')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => {
      const orgs = await withPool((pool) => listOrganizations(pool));
      if (options.json) {
        process.stdout.write(`${JSON.stringify(orgs, null, 2)}\n`);
        return;
      }
      process.stdout.write(`${'ID'.padEnd(6)} ${'NAME'.padEnd(24)} ${'ACCOUNT'.padEnd(12)} ${'STATUS'.padEnd(14)} LAST SUCCESS / LAST ERROR\n`);
      for (const o of orgs) {
        const detail = o.status === 'active' ? (o.lastSuccessAt?.toISOString() ?? 'never') : `${o.lastError ?? ''} ${o.lastErrorRemedy ?? ''}`.trim();
        process.stdout.write(`${String(o.id).padEnd(6)} ${o.name.slice(0, 24).padEnd(24)} ${o.awsAccountId} ${o.status.padEnd(14)} ${detail}\n`);
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
