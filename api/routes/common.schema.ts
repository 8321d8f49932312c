/**
 * Building blocks of the request and response schemas. Query values arrive as strings (a
 * repeated parameter arrives as an array and is rejected), so numbers are parsed from digits
 * only, dates must be real calendar days, and free-text filters are bounded and printable.
 */
import { z } from 'zod';
import { daysBetween, isIsoDate } from '../../lib/dates.js';

export const MAX_LIMIT = 1000;
export const DEFAULT_LIMIT = 100;
export const MAX_OFFSET = 1_000_000;

/** A calendar date written YYYY-MM-DD (UTC billing day). */
export const isoDate = z
  .string()
  .max(10, 'must be a date written YYYY-MM-DD')
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date written YYYY-MM-DD')
  .refine(isIsoDate, 'must be a real calendar date')
  .describe('date, YYYY-MM-DD (UTC)');

const digits = (max: number) => new RegExp(`^\\d{1,${max}}$`);

/** Page size: 1..1000, default 100. */
export const limitParam = z
  .string()
  .regex(digits(7), 'must be a whole number')
  .transform(Number)
  .pipe(z.number().int().min(1, 'must be at least 1').max(MAX_LIMIT, `must be at most ${MAX_LIMIT}`))
  .default(DEFAULT_LIMIT)
  .describe(`page size, 1..${MAX_LIMIT} (default ${DEFAULT_LIMIT})`);

/** Offset into an ordered list: 0..1,000,000, default 0. */
export const offsetParam = z
  .string()
  .regex(digits(7), 'must be a whole number')
  .transform(Number)
  .pipe(z.number().int().min(0).max(MAX_OFFSET, `must be at most ${MAX_OFFSET}`))
  .default(0)
  .describe('rows to skip (use next_offset of the previous page)');

/** An organization id; only operators may name an organization other than their own. */
export const orgIdParam = z
  .string()
  .regex(digits(15), 'must be a positive whole number')
  .transform(Number)
  .pipe(z.number().int().min(1, 'must be a positive whole number'))
  .optional()
  .describe("organization id (operators: any organization; others: only their own, default: the caller's)");

/** A bounded, printable free-text filter (service name, account id, region, ...). */
export const textFilter = (what: string) =>
  z
    .string()
    .min(1, 'must not be empty')
    .max(256, 'must be at most 256 characters')
    // The control characters (Unicode's Cc: U+0000-U+001F, U+007F-U+009F) as \x ranges, not
    // \p{Cc}: the OpenAPI document carries this pattern, and many validators' and code
    // generators' regex engines have no Unicode property escapes.
    // eslint-disable-next-line no-control-regex -- matching control characters is the point
    .regex(/^[^\x00-\x1F\x7F-\x9F]*$/, 'must not contain control characters')
    .optional()
    .describe(what);

/** Adds the inclusive-range checks to a query with `from` and `to`: from <= to, span <= maxDays. */
export function checkRange(value: { from: string; to: string }, ctx: z.RefinementCtx, maxDays: number): void {
  if (value.from > value.to) {
    ctx.addIssue({ code: 'custom', path: ['from'], message: 'must not be after to' });
    return;
  }
  const days = daysBetween(value.from, value.to) + 1;
  if (days > maxDays)
    ctx.addIssue({
      code: 'custom',
      path: ['to'],
      message: `range is ${days} days; at most ${maxDays} allowed`,
    });
}

/** An amount exactly as Postgres numeric prints it, with its currency or unit. */
export const money = z
  .object({
    amount: z
      .string()
      .regex(/^-?\d+(\.\d+)?$/)
      .describe('decimal string, exactly as stored (never a float)'),
    unit: z.string().describe('currency or unit, e.g. USD'),
  })
  .describe('an amount with its unit');
export type Money = z.infer<typeof money>;

export const errorSchema = z
  .object({
    error: z.object({
      code: z.string().describe('stable error code, e.g. validation_failed'),
      message: z.string(),
      field: z.string().optional().describe('the offending parameter or body field'),
      request_id: z.string().optional(),
    }),
  })
  .describe('error');

export const offsetPage = {
  limit: z.number().int(),
  offset: z.number().int(),
  next_offset: z.number().int().nullable().describe('offset of the next page; null on the last page'),
};

/** Builds an offset page from `limit + 1` fetched rows. */
export function pageOf<T>(
  rows: T[],
  limit: number,
  offset: number,
): { items: T[]; limit: number; offset: number; next_offset: number | null } {
  const more = rows.length > limit;
  return {
    items: more ? rows.slice(0, limit) : rows,
    limit,
    offset,
    next_offset: more ? offset + limit : null,
  };
}

/** A money value from a numeric column. */
export function asMoney(amount: string | null, unit: string): Money {
  return { amount: amount ?? '0', unit };
}
