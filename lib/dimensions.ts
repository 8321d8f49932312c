/**
 * The dimension registry: what CostWatch can group and filter costs by, as data. One entry per
 * dimension gives its API name, the Cost Explorer GroupBy that fetches it (every query is
 * SERVICE x <dimension>: AWS allows two GroupBy keys), how it is stored (the `cost_data.grouping`
 * and column holding its value; the rollup routine of migration 0008 maps a grouping to its
 * dimension the same way) and its API description. The fetch (workers/cost-explorer.ts), the
 * load, the rollups, the /costs routes, the export and the OpenAPI document all read it.
 *
 * Adding a built-in dimension is one BUILTIN entry (plus, when its grouping is new, the grouping
 * in 0008's CHECK) and a test. Tags and cost categories are parameterised: `tag:<key>`,
 * `cost_category:<name>`, tracked per organization.
 */

/** How a dimension is fetched: the second GroupBy of its SERVICE x <dimension> query. */
export interface CostExplorerGroupBy {
  Type: 'DIMENSION' | 'TAG' | 'COST_CATEGORY';
  Key: string;
}

export type DimensionKind = 'builtin' | 'tag' | 'cost_category';

export interface Dimension {
  /** API name: `service`, `account`, `region`, `usage_type`, `record_type`, `tag:<key>`, `cost_category:<name>`. */
  readonly name: string;
  readonly kind: DimensionKind;
  /** The GroupBy paired with SERVICE; null for `service` itself (it is the first key of every query). */
  readonly groupBy: CostExplorerGroupBy | null;
  /** `cost_data.grouping` of the rows it is rolled up from (service: the SERVICE x LINKED_ACCOUNT rows). */
  readonly grouping: string;
  /** The `cost_data` column holding its value. */
  readonly column: 'service' | 'linked_account' | 'region' | 'dim_value';
  /** Fetched for every organization (true), or only when the organization tracks it (it costs requests). */
  readonly always: boolean;
  /** The group AWS's empty value is served as (untagged spend), or null when AWS never sends one. */
  readonly emptyKey: string | null;
  /** One line for the API reference and the OpenAPI document. */
  readonly description: string;
}

export const UNTAGGED = '(untagged)';
export const UNCATEGORIZED = '(uncategorized)';

const builtin = (
  name: string,
  groupBy: string | null,
  grouping: string,
  column: Dimension['column'],
  always: boolean,
  description: string,
): Dimension => ({
  name,
  kind: 'builtin',
  groupBy: groupBy === null ? null : { Type: 'DIMENSION', Key: groupBy },
  grouping,
  column,
  always,
  emptyKey: null,
  description,
});

/** The built-in dimensions, in documentation order. */
export const BUILTIN_DIMENSIONS: readonly Dimension[] = [
  builtin(
    'service',
    null,
    'account_service',
    'service',
    true,
    'AWS service, e.g. "Amazon Elastic Compute Cloud - Compute"',
  ),
  builtin(
    'account',
    'LINKED_ACCOUNT',
    'account_service',
    'linked_account',
    true,
    'linked account id (12 digits); served as {id, name}',
  ),
  builtin(
    'region',
    'REGION',
    'region_service',
    'region',
    true,
    'region, e.g. us-east-1 (also global, NoRegion)',
  ),
  builtin(
    'record_type',
    'RECORD_TYPE',
    'record_type',
    'dim_value',
    true,
    'record type: Usage, Credit, Refund, Tax, SavingsPlanNegation, ...',
  ),
  builtin(
    'usage_type',
    'USAGE_TYPE',
    'usage_type',
    'dim_value',
    false,
    'usage type, e.g. BoxUsage:m5.large, with its usage unit (tracked per organization)',
  ),
];

const byName = new Map(BUILTIN_DIMENSIONS.map((d) => [d.name, d]));

/** Tag keys and cost category names: what AWS allows (no control characters), bounded. */
const PARAMETER = /^[^\p{Cc}$]{1,128}$/u;

export const TAG_PREFIX = 'tag:';
export const COST_CATEGORY_PREFIX = 'cost_category:';

/** The dimension of a tag key (`tag:<key>`). */
export function tagDimension(key: string): Dimension {
  return {
    name: `${TAG_PREFIX}${key}`,
    kind: 'tag',
    groupBy: { Type: 'TAG', Key: key },
    grouping: `${TAG_PREFIX}${key}`,
    column: 'dim_value',
    always: false,
    emptyKey: UNTAGGED,
    description: `cost allocation tag ${key}; untagged spend is the group ${UNTAGGED}`,
  };
}

/** The dimension of a cost category (`cost_category:<name>`). */
export function costCategoryDimension(name: string): Dimension {
  return {
    name: `${COST_CATEGORY_PREFIX}${name}`,
    kind: 'cost_category',
    groupBy: { Type: 'COST_CATEGORY', Key: name },
    grouping: `${COST_CATEGORY_PREFIX}${name}`,
    column: 'dim_value',
    always: false,
    emptyKey: UNCATEGORIZED,
    description: `cost category ${name}; uncategorized spend is the group ${UNCATEGORIZED}`,
  };
}

export type Lookup = { ok: true; dimension: Dimension } | { ok: false; message: string };

/**
 * Looks a dimension up by its API name (`service`, `tag:team`, `cost_category:Product`, ...).
 * Says why when the name is not one.
 */
export function lookupDimension(name: string): Lookup {
  const fixed = byName.get(name);
  if (fixed) return { ok: true, dimension: fixed };
  for (const [prefix, make] of [
    [TAG_PREFIX, tagDimension],
    [COST_CATEGORY_PREFIX, costCategoryDimension],
  ] as const) {
    if (!name.startsWith(prefix)) continue;
    const parameter = name.slice(prefix.length);
    if (!PARAMETER.test(parameter))
      return {
        ok: false,
        message: `${prefix}<name>: the name must be 1..128 characters without '$' or control characters`,
      };
    return { ok: true, dimension: make(parameter) };
  }
  return { ok: false, message: `unknown dimension "${name.slice(0, 80)}"; use ${DIMENSION_NAMES_TEXT}` };
}

/** The dimension named, or null. */
export function dimensionByName(name: string): Dimension | null {
  const found = lookupDimension(name);
  return found.ok ? found.dimension : null;
}

export const DIMENSION_NAMES_TEXT = `${BUILTIN_DIMENSIONS.map((d) => d.name).join(', ')}, tag:<key> or cost_category:<name>`;

/** Whether a query parameter name is a dimension's filter (`tag:team`, `usage_type`, ...). */
export function isDimensionParameter(name: string): boolean {
  return byName.has(name) || name.startsWith(TAG_PREFIX) || name.startsWith(COST_CATEGORY_PREFIX);
}

/** Dimensions an organization can track (optional ones: they cost one query per window each). */
export function isTrackable(dimension: Dimension): boolean {
  return !dimension.always;
}

/**
 * The dimensions an organization's fetch loads: every `always` one, then its tracked ones
 * (`tracked`: API names, from `organization_dimensions`; unknown or built-in-always names ignored).
 */
export function loadedDimensions(tracked: readonly string[]): Dimension[] {
  const out = BUILTIN_DIMENSIONS.filter((d) => d.always);
  const seen = new Set(out.map((d) => d.name));
  for (const name of tracked) {
    const dimension = dimensionByName(name);
    if (!dimension || seen.has(dimension.name)) continue;
    seen.add(dimension.name);
    out.push(dimension);
  }
  return out;
}

/** A fetch grouping: one SERVICE x <dimension> GetCostAndUsage query per window. */
export interface FetchGrouping {
  /** cost_data.grouping of its rows. */
  grouping: string;
  /** The dimension whose value is the second key. */
  dimension: Dimension;
  groupBy: [CostExplorerGroupBy, CostExplorerGroupBy];
}

const SERVICE_GROUP_BY: CostExplorerGroupBy = { Type: 'DIMENSION', Key: 'SERVICE' };

/** The GetCostAndUsage queries of one window for these dimensions (service rides on the account query). */
export function fetchGroupings(dimensions: readonly Dimension[]): FetchGrouping[] {
  const out: FetchGrouping[] = [];
  for (const dimension of dimensions) {
    if (!dimension.groupBy) continue;
    out.push({ grouping: dimension.grouping, dimension, groupBy: [SERVICE_GROUP_BY, dimension.groupBy] });
  }
  return out;
}

/**
 * The stored value of a group key as AWS sent it. Tags and cost categories come back as
 * `key$value`: split at the first `$`; an empty value (untagged spend, `team$`) is the dimension's
 * empty group, never dropped. Other dimensions are stored as sent.
 */
export function groupValue(dimension: Dimension, awsKey: string): string {
  if (dimension.kind === 'builtin') return awsKey;
  const dollar = awsKey.indexOf('$');
  const value = dollar === -1 ? awsKey : awsKey.slice(dollar + 1);
  return value === '' ? (dimension.emptyKey ?? '') : value;
}

/** A filter of a cost query: a dimension and the one value it must have. */
export interface DimensionFilter {
  dimension: Dimension;
  value: string;
}

/**
 * Where a cost query's rows come from, decided from its group_by and filters:
 * - `single`: the per-dimension rollup (`dimension` grouped by its value, or in total), filtered on
 *   that dimension's value at most;
 * - `by_service`: the SERVICE x <dimension> rollup, for a filter or grouping across service and
 *   another dimension (`group_by=service&tag:team=payments`, `group_by=usage_type&service=...`).
 */
export type CostQueryPlan =
  | { source: 'single'; dimension: Dimension; group: boolean; key: string | null }
  | {
      source: 'by_service';
      dimension: Dimension;
      group: 'service' | 'key' | null;
      key: string | null;
      service: string | null;
    };

export type PlanResult = { ok: true; plan: CostQueryPlan } | { ok: false; field: string; message: string };

const SERVICE = byName.get('service') as Dimension;

/**
 * Validates a group_by (a dimension, or null for totals) with its filters and plans the read.
 * Filters combine with the grouped dimension, with `service`, or both: at most one dimension other
 * than service, because every stored grouping is SERVICE x <one dimension>.
 */
export function planCostQuery(groupBy: Dimension | null, filters: readonly DimensionFilter[]): PlanResult {
  const names = new Set<string>();
  for (const f of filters) {
    if (names.has(f.dimension.name)) return { ok: false, field: f.dimension.name, message: 'given twice' };
    names.add(f.dimension.name);
  }
  const serviceFilter = filters.find((f) => f.dimension.name === 'service') ?? null;
  const others = filters.filter((f) => f.dimension.name !== 'service');
  const [other, extra] = others;
  if (extra)
    return {
      ok: false,
      field: extra.dimension.name,
      message: `filter on at most one dimension besides service (got ${others.map((f) => f.dimension.name).join(', ')})`,
    };
  const grouped = groupBy && groupBy.name !== 'service' ? groupBy : null;
  if (other && grouped && grouped.name !== other.dimension.name)
    return {
      ok: false,
      field: other.dimension.name,
      message: `cannot filter by ${other.dimension.name} while grouping by ${grouped.name}; use group_by=${other.dimension.name}, group_by=service or group_by=none`,
    };
  const second = other?.dimension ?? grouped;
  if (!second) {
    // Only service is involved.
    return {
      ok: true,
      plan: {
        source: 'single',
        dimension: SERVICE,
        group: groupBy !== null,
        key: serviceFilter?.value ?? null,
      },
    };
  }
  if (!serviceFilter && (groupBy === null || groupBy.name === second.name)) {
    return {
      ok: true,
      plan: { source: 'single', dimension: second, group: groupBy !== null, key: other?.value ?? null },
    };
  }
  return {
    ok: true,
    plan: {
      source: 'by_service',
      dimension: second,
      group: groupBy === null ? null : groupBy.name === 'service' ? 'service' : 'key',
      key: other?.value ?? null,
      service: serviceFilter?.value ?? null,
    },
  };
}

/** A change of the tracked list of one kind of dimension. */
export interface TrackedChange {
  /** Which tracked entries it replaces (a LIKE pattern over API names). */
  kind: 'usage_type' | 'tag:%' | 'cost_category:%';
  /** The API names tracked afterwards for that kind. */
  names: string[];
}

export const MAX_TRACKED_PER_KIND = 20;

/**
 * Validates the tracked lists an admin sets (tag keys, cost category names, usage types on/off;
 * undefined: unchanged) into the changes to store, or names the bad field.
 */
export function parseTrackedLists(input: {
  tags?: readonly string[] | undefined;
  costCategories?: readonly string[] | undefined;
  usageTypes?: boolean | undefined;
}):
  { ok: true; changes: TrackedChange[] } | { ok: false; field: 'tags' | 'costCategories'; message: string } {
  const changes: TrackedChange[] = [];
  for (const [field, prefix, kind] of [
    ['tags', TAG_PREFIX, 'tag:%'],
    ['costCategories', COST_CATEGORY_PREFIX, 'cost_category:%'],
  ] as const) {
    const list = input[field];
    if (list === undefined) continue;
    const unique = [...new Set(list)];
    if (unique.length > MAX_TRACKED_PER_KIND)
      return {
        ok: false,
        field,
        message: `at most ${MAX_TRACKED_PER_KIND} (each costs one query per fetch window)`,
      };
    const names: string[] = [];
    for (const item of unique) {
      const found = lookupDimension(`${prefix}${item}`);
      if (!found.ok)
        return { ok: false, field, message: `${JSON.stringify(item.slice(0, 80))}: ${found.message}` };
      names.push(found.dimension.name);
    }
    changes.push({ kind, names });
  }
  if (input.usageTypes !== undefined)
    changes.push({ kind: 'usage_type', names: input.usageTypes ? ['usage_type'] : [] });
  return { ok: true, changes };
}
