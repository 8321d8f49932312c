/**
 * Budget scopes: dimension filters such as `{"service": ["Amazon EC2"]}` or
 * `{"tag:team": ["payments"]}`. The one place that says which dimension names a scope may use: the
 * dimension registry's (lib/dimensions.ts lookupDimension: service, account, region, record_type,
 * usage_type, tag:<key>, cost_category:<name>), whose every dimension the generic rollups
 * (cost_rollup_daily / cost_rollup_monthly, migration 0008) hold per organization and value.
 */
import { lookupDimension } from './dimensions.js';

/** A normalized scope: dimension name -> non-empty list of values. `{}` is the whole organization. */
export type BudgetScope = Record<string, string[]>;

export type ScopeCheck = { ok: true; scope: BudgetScope } | { ok: false; field: string; message: string };

const MAX_VALUES = 100;

/**
 * Validates and normalizes a scope: dimension names the registry knows only, each with one value
 * or a list of 1..100 non-empty values; at most one dimension, because a rollup row holds one
 * dimension's value (the evaluation reads the per-dimension rollups, not the SERVICE x <dimension>
 * ones). `field` names the offending path, e.g. `scope.team`.
 */
export function validateBudgetScope(raw: Record<string, string | string[]> | undefined): ScopeCheck {
  const scope: BudgetScope = {};
  for (const [name, value] of Object.entries(raw ?? {})) {
    const field = `scope.${name}`;
    const found = lookupDimension(name);
    if (!found.ok) return { ok: false, field, message: found.message };
    const values = Array.isArray(value) ? value : [value];
    if (values.length === 0) return { ok: false, field, message: 'must name at least one value' };
    if (values.length > MAX_VALUES) return { ok: false, field, message: `at most ${MAX_VALUES} values` };
    for (const v of values) {
      if (v.trim() === '') return { ok: false, field, message: 'values must not be empty' };
      if (v.length > 256 || /\p{Cc}/u.test(v))
        return { ok: false, field, message: 'values must be at most 256 printable characters' };
    }
    scope[found.dimension.name] = [...new Set(values)];
  }
  const names = Object.keys(scope);
  if (names.length > 1)
    return {
      ok: false,
      field: `scope.${names[1] ?? ''}`,
      message: 'a scope filters on one dimension (each rollup row holds one dimension)',
    };
  return { ok: true, scope };
}
