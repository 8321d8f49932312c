/** Request schema of /costs/export: format, inclusive range and the dimension each row is keyed by. */
import { z } from 'zod';
import { DIMENSION_NAMES_TEXT, lookupDimension } from '../../lib/dimensions.js';
import { checkRange, isoDate, orgIdParam } from './common.schema.js';

export const MAX_EXPORT_RANGE_DAYS = 400;

export const exportQuery = z
  .strictObject({
    org_id: orgIdParam,
    format: z
      .enum(['csv', 'focus'])
      .default('csv')
      .describe("csv (CostWatch's columns, default) or focus (FOCUS 1.2 column names)"),
    from: isoDate.describe('first day, inclusive (YYYY-MM-DD)'),
    to: isoDate.describe('last day, inclusive (YYYY-MM-DD)'),
    group_by: z
      .string()
      .max(160)
      .default('account')
      .superRefine((name, ctx) => {
        const found = lookupDimension(name);
        if (!found.ok) ctx.addIssue({ code: 'custom', message: found.message });
      })
      .describe(
        `dimension of each row with its service (default account): ${DIMENSION_NAMES_TEXT}. FOCUS: account fills ` +
          'SubAccountId/Name, region RegionId, record_type ChargeCategory, tag:<key> Tags',
      ),
  })
  .superRefine((q, ctx) => checkRange(q, ctx, MAX_EXPORT_RANGE_DAYS));
export type ExportQueryParams = z.output<typeof exportQuery>;

export const exportResponse = z
  .string()
  .describe('CSV (text/csv) with a header row, streamed; gzip when Accept-Encoding asks');
