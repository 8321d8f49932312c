/**
 * `costwatch export --org ID --from D --to D [--format csv|focus] [--group-by DIM] [--out FILE]
 * [--gzip]`: the same stream as GET /api/v1/costs/export (COPY TO STDOUT from the rollups), to a
 * file or stdout, with back-pressure.
 */
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import type { Command } from 'commander';
import { loadConfig, required } from '../lib/config.js';
import { createPool } from '../lib/db.js';
import { FOCUS_SERVICE_CATEGORIES } from '../lib/focus.js';
import { exportQuery } from '../api/routes/export.schema.js';
import { streamCostExport } from '../database/repositories/export.repository.js';
import { getOrganization } from '../database/repositories/organizations.repository.js';

export function registerExportCommand(program: Command): void {
  program
    .command('export')
    .description("export an organization's daily costs of a dimension as CSV or FOCUS 1.2 (docs/EXPORTS.md)")
    .requiredOption('--org <id>', 'organization id')
    .requiredOption('--from <date>', 'first day, inclusive (YYYY-MM-DD)')
    .requiredOption('--to <date>', 'last day, inclusive (YYYY-MM-DD)')
    .option('--format <format>', 'csv or focus', 'csv')
    .option('--group-by <dimension>', 'dimension of each row with its service', 'account')
    .option('--out <file>', 'write to this file (default: stdout)')
    .option('--gzip', 'gzip the output')
    .action(
      async (options: {
        org: string;
        from: string;
        to: string;
        format: string;
        groupBy: string;
        out?: string;
        gzip?: boolean;
      }) => {
        if (!/^\d+$/.test(options.org)) throw new Error('--org: must be an organization id (a whole number)');
        const parsed = exportQuery.safeParse({
          format: options.format,
          from: options.from,
          to: options.to,
          group_by: options.groupBy,
        });
        if (!parsed.success) {
          const issue = parsed.error.issues[0];
          const field = String(issue?.path[0] ?? 'query').replace('group_by', 'group-by');
          throw new Error(`--${field}: ${issue?.message ?? 'invalid'}`);
        }
        const q = parsed.data;
        const config = loadConfig('cli');
        const pool = createPool({
          connectionString: required(config, 'DATABASE_URL'),
          max: 1,
          applicationName: 'costwatch-export',
        });
        try {
          const orgId = Number(options.org);
          if (!(await getOrganization(pool, orgId))) throw new Error(`--org: no organization ${orgId}`);
          const exp = await streamCostExport(pool, {
            orgId,
            dimension: q.group_by,
            from: q.from,
            to: q.to,
            format: q.format,
            serviceCategories: FOCUS_SERVICE_CATEGORIES,
          });
          const out = options.out ? createWriteStream(options.out) : process.stdout;
          try {
            if (options.gzip) await pipeline(exp.stream, createGzip(), out);
            else await pipeline(exp.stream, out);
            await exp.done();
          } catch (error) {
            await exp.done(error);
            throw error;
          }
        } finally {
          await pool.end();
        }
      },
    );
}
