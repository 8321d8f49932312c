/**
 * Per-organization dimension settings and account names: the optional dimensions an organization
 * tracks (usage_type, tag:<key>, cost_category:<name>; each costs one query per fetch window) and
 * the display names of its linked accounts (from the fetch's DimensionValueAttributes).
 */
import type { Queryable } from '../../lib/db.js';
import { loadedDimensions, type Dimension } from '../../lib/dimensions.js';

// The optional dimensions an organization tracks, by API name, sorted.
// Parameters: $1 org.
export async function listTrackedDimensions(db: Queryable, orgId: number): Promise<string[]> {
  const { rows } = await db.query<{ dimension: string }>(
    'SELECT dimension FROM organization_dimensions WHERE organization_id = $1 ORDER BY dimension',
    [orgId],
  );
  return rows.map((r) => r.dimension);
}

/**
 * orgDimensions: every dimension an organization's fetch loads (the always-loaded built-ins, then
 * its tracked ones), i.e. what its costs can be grouped and filtered by. Params: pool, org id.
 */
export async function orgDimensions(db: Queryable, orgId: number): Promise<Dimension[]> {
  return loadedDimensions(await listTrackedDimensions(db, orgId));
}

// Replaces the tracked dimensions of one kind ('usage_type', 'tag:' or 'cost_category:' prefix
// match) with `names`, in one statement; returns the org's full list afterwards.
// Parameters: $1 org, $2 LIKE pattern of the kind, $3 names (text[]).
export async function replaceTrackedDimensions(
  db: Queryable,
  orgId: number,
  kindPattern: 'usage_type' | 'tag:%' | 'cost_category:%',
  names: readonly string[],
): Promise<string[]> {
  await db.query(
    `WITH gone AS (
       DELETE FROM organization_dimensions
        WHERE organization_id = $1 AND dimension LIKE $2 AND NOT (dimension = ANY ($3::text[]))
     )
     INSERT INTO organization_dimensions (organization_id, dimension)
     SELECT $1, d FROM unnest($3::text[]) AS d
     ON CONFLICT DO NOTHING`,
    [orgId, kindPattern, [...names]],
  );
  return listTrackedDimensions(db, orgId);
}

// Stores the display names of linked accounts (a changed name replaces the old one).
// Parameters: $1 org, $2 account ids (text[]), $3 names (text[], same order).
export async function upsertAccountNames(
  db: Queryable,
  orgId: number,
  names: ReadonlyMap<string, string>,
): Promise<void> {
  if (names.size === 0) return;
  await db.query(
    `INSERT INTO aws_account_names (organization_id, account_id, name)
     SELECT $1, id, name FROM unnest($2::text[], $3::text[]) AS t(id, name)
     ON CONFLICT (organization_id, account_id) DO UPDATE SET name = EXCLUDED.name, updated_at = now()
      WHERE aws_account_names.name IS DISTINCT FROM EXCLUDED.name`,
    [orgId, [...names.keys()], [...names.values()]],
  );
}

// Display names of some linked accounts of an organization (ids without a name are absent).
// Parameters: $1 org, $2 account ids (text[]).
export async function accountNames(
  db: Queryable,
  orgId: number,
  ids: readonly string[],
): Promise<Map<string, string>> {
  if (ids.length === 0) return new Map();
  const { rows } = await db.query<{ account_id: string; name: string }>(
    'SELECT account_id, name FROM aws_account_names WHERE organization_id = $1 AND account_id = ANY ($2::text[])',
    [orgId, [...new Set(ids)]],
  );
  return new Map(rows.map((r) => [r.account_id, r.name]));
}
