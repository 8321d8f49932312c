/**
 * `costwatch org tags --org ID` (the cost allocation tag keys and cost categories AWS knows for the
 * organization, via GetTags and GetCostCategories, with what it tracks) and `costwatch org track
 * --org ID [--tags a,b] [--cost-categories X,Y] [--usage-types on|off]` (what its fetches load:
 * each tracked key adds one SERVICE x TAG / COST_CATEGORY / USAGE_TYPE query per window).
 */
import { cliNow, withPool } from './support.js';
import type { Command } from 'commander';
import {
  GetCostCategoriesCommand,
  GetTagsCommand,
  type CostExplorerClient,
} from '@aws-sdk/client-cost-explorer';
import { loadConfig, required } from '../lib/config.js';
import { createRedis } from '../lib/redis.js';
import { addDays, isIsoDate, toIsoDate } from '../lib/dates.js';
import { AwsGateway, RequestTracker, withRequestTracker } from '../lib/aws.js';
import { AwsRateLimiter } from '../lib/aws-rate-limit.js';
import { AWS_REQUEST_PRICE_DOLLARS } from '../lib/metrics.js';
import { parseTrackedLists } from '../lib/dimensions.js';
import { getOrganization } from '../database/repositories/organizations.repository.js';
import {
  listTrackedDimensions,
  replaceTrackedDimensions,
} from '../database/repositories/dimensions.repository.js';

function orgIdOf(value: string): number {
  if (!/^\d+$/.test(value))
    throw new Error(`--org: must be an organization id (a whole number), got ${JSON.stringify(value)}`);
  return Number(value);
}

/** Every page of a GetTags / GetCostCategories listing. */
async function allKeys(
  ce: CostExplorerClient,
  window: { Start: string; End: string },
  kind: 'tags' | 'categories',
): Promise<string[]> {
  const out: string[] = [];
  let token: string | undefined;
  do {
    if (kind === 'tags') {
      const page = await ce.send(new GetTagsCommand({ TimePeriod: window, NextPageToken: token }));
      out.push(...(page.Tags ?? []));
      token = page.NextPageToken;
    } else {
      const page = await ce.send(new GetCostCategoriesCommand({ TimePeriod: window, NextPageToken: token }));
      out.push(...(page.CostCategoryNames ?? []));
      token = page.NextPageToken;
    }
  } while (token);
  return out;
}

function printTracked(orgId: number, tracked: string[]): void {
  process.stdout.write(
    `organization ${orgId} tracks: ${tracked.length ? tracked.join(', ') : '(nothing optional)'}\n`,
  );
}

/** Adds `tags` and `track` to the `org` command. */
export function registerOrgDimensionCommands(org: Command): void {
  org
    .command('tags')
    .description(
      'list the cost allocation tag keys and cost categories AWS knows (last 30 days), and which are tracked',
    )
    .requiredOption('--org <id>', 'organization id')
    .option('--as-of <date>', 'last day of the 30 days looked at (default: today, UTC)')
    .option('--json', 'print JSON')
    .action(async (options: { org: string; asOf?: string; json?: boolean }) => {
      const id = orgIdOf(options.org);
      if (options.asOf !== undefined && !isIsoDate(options.asOf))
        throw new Error('--as-of: must be a date written YYYY-MM-DD');
      const config = loadConfig('cli-queue');
      const redis = createRedis(required(config, 'REDIS_URL'), 'producer');
      const tracker = new RequestTracker();
      try {
        const result = await withPool(async (pool) => {
          const found = await getOrganization(pool, id);
          if (!found) throw new Error(`--org: no organization ${id}`);
          const gateway = new AwsGateway({
            region: config.AWS_REGION,
            endpoint: config.AWS_ENDPOINT_URL,
            limiter: new AwsRateLimiter(redis, config.QUEUE_PREFIX, {
              ce: config.CE_RATE_PER_ORG,
              cloudwatch: config.CW_RATE_PER_ORG,
              global: config.AWS_RATE_GLOBAL,
            }),
            maxAttempts: config.AWS_MAX_ATTEMPTS,
          });
          const today = options.asOf ?? toIsoDate(cliNow(config));
          const window = { Start: addDays(today, -30), End: addDays(today, 1) };
          const ce = gateway.costExplorer(found);
          const [tags, categories] = await withRequestTracker(tracker, () =>
            Promise.all([allKeys(ce, window, 'tags'), allKeys(ce, window, 'categories')]),
          );
          return { tags, categories, tracked: await listTrackedDimensions(pool, id) };
        });
        const requests = tracker.byOperation;
        const dollars = Object.entries(requests).reduce(
          (s, [op, n]) => s + (AWS_REQUEST_PRICE_DOLLARS[op] ?? 0) * n,
          0,
        );
        if (options.json) {
          process.stdout.write(
            `${JSON.stringify({ organization_id: id, ...result, aws_requests: requests }, null, 2)}\n`,
          );
          return;
        }
        const mark = (name: string) => (result.tracked.includes(name) ? ' (tracked)' : '');
        process.stdout.write(
          `tag keys: ${result.tags.map((t) => `${t}${mark(`tag:${t}`)}`).join(', ') || '(none)'}\n`,
        );
        process.stdout.write(
          `cost categories: ${result.categories.map((c) => `${c}${mark(`cost_category:${c}`)}`).join(', ') || '(none)'}\n`,
        );
        printTracked(id, result.tracked);
        process.stdout.write(
          `AWS requests: ${Object.entries(requests)
            .map(([op, n]) => `${op} ${n}`)
            .join(', ')} (about $${dollars.toFixed(2)})\n`,
        );
      } finally {
        redis.disconnect();
      }
    });
  org
    .command('track')
    .description(
      'set what an organization tracks; each tag, cost category or usage types adds one query per fetch window',
    )
    .requiredOption('--org <id>', 'organization id')
    .option('--tags <keys>', 'comma-separated tag keys (replaces the tracked tags; "" for none)')
    .option(
      '--cost-categories <names>',
      'comma-separated cost category names (replaces the tracked ones; "" for none)',
    )
    .option('--usage-types <on|off>', 'SERVICE x USAGE_TYPE drill-down')
    .action(async (options: { org: string; tags?: string; costCategories?: string; usageTypes?: string }) => {
      const id = orgIdOf(options.org);
      const split = (v: string | undefined) =>
        v === undefined
          ? undefined
          : v
              .split(',')
              .map((s) => s.trim())
              .filter(Boolean);
      if (options.usageTypes !== undefined && !['on', 'off'].includes(options.usageTypes))
        throw new Error('--usage-types: must be on or off');
      const lists = parseTrackedLists({
        tags: split(options.tags),
        costCategories: split(options.costCategories),
        usageTypes: options.usageTypes === undefined ? undefined : options.usageTypes === 'on',
      });
      if (!lists.ok)
        throw new Error(`--${lists.field.replace('costCategories', 'cost-categories')}: ${lists.message}`);
      const tracked = await withPool(async (pool) => {
        if (!(await getOrganization(pool, id))) throw new Error(`--org: no organization ${id}`);
        let now = await listTrackedDimensions(pool, id);
        for (const change of lists.changes)
          now = await replaceTrackedDimensions(pool, id, change.kind, change.names);
        return now;
      });
      printTracked(id, tracked);
    });
}
