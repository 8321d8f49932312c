/**
 * Budget scopes: dimension filters such as `{"service": ["Amazon EC2"]}`. The one place that says
 * which dimension names a scope may use, so it can switch to the dimension registry
 * (lib/dimensions.ts, with tags and cost categories) without touching the routes or the evaluation.
 */

/** The dimensions the rollups serve today, with the rollup each one reads. */
export const BUDGET_SCOPE_DIMENSIONS = ['service', 'account', 'region'] as const;
export type BudgetScopeDimension = (typeof BUDGET_SCOPE_DIMENSIONS)[number];

/** A normalized scope: dimension name -> non-empty list of values. `{}` is the whole organization. */
export type BudgetScope = Record<string, string[]>;

export type ScopeCheck = { ok: true; scope: BudgetScope } | { ok: false; field: string; message: string };

const MAX_VALUES = 100;

/**
 * Validates and normalizes a scope: known dimension names only, each with one value or a list of
 * 1..100 non-empty values; at most one dimension, because each rollup holds one dimension (the
 * same rule as the cost endpoints' filters). `field` names the offending path, e.g. `scope.team`.
 */
export function validateBudgetScope(raw: Record<string, string | string[]> | undefined): ScopeCheck {
  const scope: BudgetScope = {};
  for (const [name, value] of Object.entries(raw ?? {})) {
    const field = `scope.${name}`;
    if (!(BUDGET_SCOPE_DIMENSIONS as readonly string[]).includes(name))
      return {
        ok: false,
        field,
        message: `unknown dimension "${name}"; use one of ${BUDGET_SCOPE_DIMENSIONS.join(', ')}`,
      };
    const values = Array.isArray(value) ? value : [value];
    if (values.length === 0) return { ok: false, field, message: 'must name at least one value' };
    if (values.length > MAX_VALUES) return { ok: false, field, message: `at most ${MAX_VALUES} values` };
    for (const v of values) {
      if (v.trim() === '') return { ok: false, field, message: 'values must not be empty' };
      if (v.length > 256 || /\p{Cc}/u.test(v))
        return { ok: false, field, message: 'values must be at most 256 printable characters' };
    }
    scope[name] = [...new Set(values)];
  }
  const names = Object.keys(scope);
  if (names.length > 1)
    return {
      ok: false,
      field: `scope.${names[1] ?? ''}`,
      message: 'a scope filters on one dimension (each rollup holds one)',
    };
  return { ok: true, scope };
}
