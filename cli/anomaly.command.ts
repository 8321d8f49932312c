/** `costwatch anomaly subscribe | subscriptions | unsubscribe | settings`: anomaly alerts and gates per organization. */
import { cliNow, withPool, wholeNumber } from './support.js';
import { foreignChannels } from '../database/repositories/budgets.repository.js';
import type { Command } from 'commander';
import { createPool } from '../lib/db.js';
import {
  createAnomalySubscription,
  findAnomalySettings,
  listAnomalySubscriptions,
  updateAnomalySubscription,
  upsertAnomalySettings,
} from '../database/repositories/anomalies.repository.js';
import { getOrganization } from '../database/repositories/organizations.repository.js';

function amount(flag: string, value: string): string {
  if (!/^\d{1,12}(\.\d{1,2})?$/.test(value))
    throw new Error(`${flag}: must be a decimal amount such as 50 or 12.50, got ${JSON.stringify(value)}`);
  return value;
}

function channels(value: string): number[] {
  const ids = value.split(',').map((v) => wholeNumber('--channels', v.trim()));
  if (ids.length > 20) throw new Error('--channels: at most 20 channel ids');
  return ids;
}

async function existingOrg(pool: ReturnType<typeof createPool>, value: string): Promise<number> {
  const id = wholeNumber('--org', value);
  if (!(await getOrganization(pool, id))) throw new Error(`--org: no organization ${id}`);
  return id;
}

export function registerAnomalyCommand(program: Command): void {
  const anomaly = program
    .command('anomaly')
    .description('anomaly alert subscriptions and detector settings of an organization');
  anomaly
    .command('subscribe')
    .description(
      'alert notification channels of anomalies whose impact reaches --min-impact; prints the subscription id',
    )
    .requiredOption('--org <id>', 'organization id')
    .requiredOption('--name <name>', 'subscription name')
    .requiredOption('--channels <ids>', 'comma-separated notification channel ids')
    .option('--min-impact <usd>', 'minimum |impact| in USD', '0')
    .action(async (o: { org: string; name: string; channels: string; minImpact: string }) => {
      const channelIds = channels(o.channels);
      const minImpact = amount('--min-impact', o.minImpact);
      if (o.name.trim() === '' || o.name.length > 200) throw new Error('--name: 1..200 characters');
      const created = await withPool(async (pool) => {
        const orgId = await existingOrg(pool, o.org);
        const foreign = await foreignChannels(pool, orgId, channelIds);
        if (foreign.length > 0)
          throw new Error(
            `--channels: no notification channel ${foreign.join(', ')} in organization ${orgId}`,
          );
        return createAnomalySubscription(pool, {
          orgId,
          name: o.name.trim(),
          minImpact,
          channelIds,
          now: cliNow(),
        });
      });
      process.stdout.write(`${created.id}\n`);
    });
  anomaly
    .command('subscriptions')
    .description("list an organization's anomaly subscriptions")
    .requiredOption('--org <id>', 'organization id')
    .option('--json', 'print JSON')
    .action(async (o: { org: string; json?: boolean }) => {
      const subs = await withPool(async (pool) =>
        listAnomalySubscriptions(pool, await existingOrg(pool, o.org)),
      );
      if (o.json) {
        process.stdout.write(`${JSON.stringify(subs, null, 2)}\n`);
        return;
      }
      process.stdout.write(
        `${'ID'.padEnd(6)} ${'NAME'.padEnd(24)} ${'MIN IMPACT'.padEnd(12)} ${'ENABLED'.padEnd(8)} CHANNELS\n`,
      );
      for (const s of subs)
        process.stdout.write(
          `${String(s.id).padEnd(6)} ${s.name.slice(0, 24).padEnd(24)} ${s.min_impact.padEnd(12)} ${String(s.enabled).padEnd(8)} ${s.channel_ids.join(',')}\n`,
        );
    });
  anomaly
    .command('unsubscribe')
    .description('disable a subscription (its history stays)')
    .requiredOption('--org <id>', 'organization id')
    .requiredOption('--id <id>', 'subscription id')
    .action(async (o: { org: string; id: string }) => {
      const id = wholeNumber('--id', o.id);
      const row = await withPool(async (pool) =>
        updateAnomalySubscription(pool, {
          orgId: await existingOrg(pool, o.org),
          id,
          name: null,
          minImpact: null,
          channelIds: null,
          enabled: false,
          now: cliNow(),
        }),
      );
      if (!row) throw new Error(`--id: no subscription ${id} in that organization`);
      process.stdout.write(`subscription ${row.id} disabled\n`);
    });
  anomaly
    .command('settings')
    .description("show, or change, an organization's detector gates")
    .requiredOption('--org <id>', 'organization id')
    .option('--min-absolute <usd>', 'minimum excess of a flagged day in USD (default 10)')
    .option('--min-relative <fraction>', 'minimum excess as a fraction of the baseline (default 0.2)')
    .option('--z <score>', 'minimum modified z-score (default 3.5)')
    .option('--drops <bool>', 'flag drops too: true or false (default false)')
    .action(
      async (o: { org: string; minAbsolute?: string; minRelative?: string; z?: string; drops?: string }) => {
        const fraction = (flag: string, v: string | undefined, max: number) => {
          if (v === undefined) return null;
          if (!/^\d+(\.\d+)?$/.test(v) || Number(v) > max)
            throw new Error(`${flag}: must be a number from 0 to ${max}, got ${JSON.stringify(v)}`);
          return v;
        };
        if (o.drops !== undefined && o.drops !== 'true' && o.drops !== 'false')
          throw new Error('--drops: must be true or false');
        const change = {
          minImpactAbsolute: o.minAbsolute === undefined ? null : amount('--min-absolute', o.minAbsolute),
          minImpactRelative: fraction('--min-relative', o.minRelative, 10),
          zThreshold: fraction('--z', o.z, 100),
          detectDrops: o.drops === undefined ? null : o.drops === 'true',
        };
        if (change.zThreshold !== null && Number(change.zThreshold) < 1)
          throw new Error('--z: must be at least 1');
        const settings = await withPool(async (pool) => {
          const orgId = await existingOrg(pool, o.org);
          if (Object.values(change).every((v) => v === null)) return findAnomalySettings(pool, orgId);
          return upsertAnomalySettings(pool, { orgId, ...change, now: cliNow() });
        });
        process.stdout.write(
          `${JSON.stringify(settings ?? { min_impact_absolute: '10', min_impact_relative: '0.2', z_threshold: '3.5', detect_drops: false })}\n`,
        );
      },
    );
}
