/**
 * Anomaly detection's SQL: the daily series it scores (from the rollups), the contributor series
 * of a root cause (cost_data, the only table holding service x account and service x region), the
 * anomalies themselves, per-org settings, feedback and its suppressions, and subscriptions. Every
 * value is a bind parameter; dimension names pick one of the fixed statements below.
 */
import type { Queryable } from '../../lib/db.js';
import type { ContributorDimension, DetectedDimension } from '../../lib/anomaly-dimensions.js';
import type { Dimension } from '../../lib/dimensions.js';

export interface SeriesRow {
  day: string;
  key: string;
  amount: string;
  estimated: boolean;
}

// Daily unblended cost per series value over [from, to): one statement per detected dimension.
// Parameters: $1 org, $2 from, $3 to (exclusive).
const SERIES_SQL: Record<DetectedDimension, string> = {
  service: `SELECT day::text AS day, service AS key, unblended_cost::text AS amount, estimated
              FROM cost_daily_service
             WHERE organization_id = $1 AND day >= $2::date AND day < $3::date`,
  account: `SELECT day::text AS day, linked_account AS key, unblended_cost::text AS amount, estimated
              FROM cost_daily_account
             WHERE organization_id = $1 AND day >= $2::date AND day < $3::date`,
};

/** loadDailySeries: every (day, key) row of one dimension's daily rollup of the org over [from, to). */
export async function loadDailySeries(
  db: Queryable,
  dimension: DetectedDimension,
  orgId: number,
  from: string,
  to: string,
): Promise<SeriesRow[]> {
  const { rows } = await db.query<SeriesRow>(SERIES_SQL[dimension], [orgId, from, to]);
  return rows;
}

// The org's last day with cost rollups at or after $2, and the last of them that is final.
// Parameters: $1 org, $2 from.
export async function lastLoadedDays(
  db: Queryable,
  orgId: number,
  from: string,
): Promise<{ last: string | null; lastFinal: string | null }> {
  const { rows } = await db.query<{ last: string | null; last_final: string | null }>(
    `SELECT max(day)::text AS last, max(day) FILTER (WHERE NOT estimated)::text AS last_final
       FROM cost_daily_service WHERE organization_id = $1 AND day >= $2::date`,
    [orgId, from],
  );
  return { last: rows[0]?.last ?? null, lastFinal: rows[0]?.last_final ?? null };
}

export interface ContributorRow {
  day: string;
  contributor: string;
  amount: string;
}

// The cost_data column of a detected dimension's value and of a registry dimension's value: a closed
// set of column names (never input), so the statement below is one of a few fixed texts.
const DETECTED_COLUMN: Record<DetectedDimension, 'service' | 'linked_account'> = {
  service: 'service',
  account: 'linked_account',
};
const CONTRIBUTOR_COLUMNS: ReadonlySet<string> = new Set([
  'service',
  'linked_account',
  'region',
  'dim_value',
]);

/**
 * contributorSeries: a series value's daily cost split by the registry dimension `by` over
 * [from, to], from the cost_data rows of `by`'s grouping (within one grouping, as every sum of
 * cost_data; empty if not loaded). Parameters: $1 org, $2 key, $3 from, $4 to, $5 grouping.
 */
export async function contributorSeries(
  db: Queryable,
  q: {
    orgId: number;
    dimension: DetectedDimension;
    key: string;
    by: Pick<Dimension, 'grouping' | 'column'>;
    from: string;
    to: string;
  },
): Promise<ContributorRow[]> {
  const keyColumn = DETECTED_COLUMN[q.dimension];
  const byColumn = q.by.column;
  if (!CONTRIBUTOR_COLUMNS.has(byColumn) || byColumn === keyColumn) return [];
  const { rows } = await db.query<ContributorRow>(
    `SELECT cost_date::text AS day, ${byColumn} AS contributor, sum(unblended_cost)::text AS amount
       FROM cost_data
      WHERE organization_id = $1 AND grouping = $5 AND ${keyColumn} = $2
        AND cost_date BETWEEN $3::date AND $4::date
      GROUP BY cost_date, ${byColumn}`,
    [q.orgId, q.key, q.from, q.to, q.by.grouping],
  );
  return rows;
}

export interface AnomalySettingsRow {
  min_impact_absolute: string;
  min_impact_relative: string;
  z_threshold: string;
  detect_drops: boolean;
}

/** findAnomalySettings: the org's detector settings, or null for the defaults. Params: org. */
export async function findAnomalySettings(db: Queryable, orgId: number): Promise<AnomalySettingsRow | null> {
  const { rows } = await db.query<AnomalySettingsRow>(
    `SELECT min_impact_absolute::text, min_impact_relative::text, z_threshold::text, detect_drops
       FROM anomaly_settings WHERE organization_id = $1`,
    [orgId],
  );
  return rows[0] ?? null;
}

// Creates or changes the org's settings; absent values keep their current (or default) value.
// Parameters: $1 org, $2 absolute, $3 relative, $4 z, $5 drops (each nullable), $6 now.
export async function upsertAnomalySettings(
  db: Queryable,
  s: {
    orgId: number;
    minImpactAbsolute: string | null;
    minImpactRelative: string | null;
    zThreshold: string | null;
    detectDrops: boolean | null;
    now: Date;
  },
): Promise<AnomalySettingsRow> {
  const { rows } = await db.query<AnomalySettingsRow>(
    `INSERT INTO anomaly_settings AS s (organization_id, min_impact_absolute, min_impact_relative, z_threshold, detect_drops, updated_at)
     VALUES ($1, coalesce($2::numeric, 10), coalesce($3::numeric, 0.2), coalesce($4::numeric, 3.5), coalesce($5::boolean, false), $6)
     ON CONFLICT (organization_id) DO UPDATE SET
       min_impact_absolute = coalesce($2::numeric, s.min_impact_absolute),
       min_impact_relative = coalesce($3::numeric, s.min_impact_relative),
       z_threshold = coalesce($4::numeric, s.z_threshold),
       detect_drops = coalesce($5::boolean, s.detect_drops),
       updated_at = $6
     RETURNING min_impact_absolute::text, min_impact_relative::text, z_threshold::text, detect_drops`,
    [s.orgId, s.minImpactAbsolute, s.minImpactRelative, s.zThreshold, s.detectDrops, s.now],
  );
  const row = rows[0];
  if (!row) throw new Error('anomaly settings upsert returned no row');
  return row;
}

/** Takes the org's anomaly lock for the rest of the transaction: one detection of an org at a time. */
export async function lockOrgAnomalies(db: Queryable, orgId: number): Promise<void> {
  await db.query('SELECT pg_advisory_xact_lock(1010, $1::integer)', [orgId]);
}

export interface RootCause {
  /** The dimension this entry splits the anomaly's cost by. */
  dimension: ContributorDimension;
  service: string | null;
  linked_account: string | null;
  region: string | null;
  usage_type: string | null;
  /** The contributor's value when `dimension` is a tag or cost category (`tag:<key>`, `cost_category:<name>`). */
  value?: string;
  impact: { contribution: string; share: number };
}

export interface AnomalyRow {
  id: number;
  organization_id: number;
  dimension: string;
  key: string;
  kind: 'spike' | 'drop' | 'new_spend';
  start_day: string;
  end_day: string;
  impact: string;
  expected: string;
  actual: string;
  unit: string;
  max_score: number | null;
  status: 'open' | 'provisional' | 'withdrawn' | 'closed';
  withdrawn_reason: 'restated' | 'merged' | null;
  root_causes: RootCause[];
  feedback: 'yes' | 'no' | 'planned' | null;
  feedback_at: Date | null;
  detected_at: Date;
  updated_at: Date;
}

const ANOMALY_COLUMNS = `id::int AS id, organization_id::int AS organization_id, dimension, key, kind,
  start_day::text AS start_day, end_day::text AS end_day, impact::text AS impact, expected::text AS expected,
  actual::text AS actual, unit, max_score, status, withdrawn_reason, root_causes, feedback, feedback_at,
  detected_at, updated_at`;

/**
 * anomaliesTouching: the org's anomalies (any status) that touch [from, to], and its open or
 * provisional ones that ended at most 35 days before `from` (so they can close). Params: org, from, to.
 */
export async function anomaliesTouching(
  db: Queryable,
  orgId: number,
  from: string,
  to: string,
): Promise<AnomalyRow[]> {
  const { rows } = await db.query<AnomalyRow>(
    `SELECT ${ANOMALY_COLUMNS} FROM anomalies
      WHERE organization_id = $1
        AND ((end_day >= $2::date AND start_day <= $3::date)
             OR (status IN ('open', 'provisional') AND end_day >= $2::date - 35 AND start_day <= $3::date))
      ORDER BY id`,
    [orgId, from, to],
  );
  return rows;
}

export interface AnomalyWrite {
  orgId: number;
  dimension: string;
  key: string;
  kind: 'spike' | 'drop' | 'new_spend';
  start: string;
  end: string;
  impact: string;
  expected: string;
  actual: string;
  maxScore: number | null;
  status: 'open' | 'provisional' | 'closed';
  rootCauses: RootCause[];
  now: Date;
}

/** insertAnomaly: records a new anomaly; returns it. */
export async function insertAnomaly(db: Queryable, a: AnomalyWrite): Promise<AnomalyRow> {
  const { rows } = await db.query<AnomalyRow>(
    `INSERT INTO anomalies (organization_id, dimension, key, kind, start_day, end_day, impact, expected, actual,
                            max_score, status, root_causes, detected_at, updated_at)
     VALUES ($1, $2, $3, $4, $5::date, $6::date, $7::numeric, $8::numeric, $9::numeric, $10, $11, $12::jsonb, $13, $13)
     RETURNING ${ANOMALY_COLUMNS}`,
    [
      a.orgId,
      a.dimension,
      a.key,
      a.kind,
      a.start,
      a.end,
      a.impact,
      a.expected,
      a.actual,
      a.maxScore,
      a.status,
      JSON.stringify(a.rootCauses),
      a.now,
    ],
  );
  const row = rows[0];
  if (!row) throw new Error('anomaly insert returned no row');
  return row;
}

/** updateAnomaly: a re-detection of a stored anomaly (reopens it if it had been withdrawn); returns it. */
export async function updateAnomaly(db: Queryable, id: number, a: AnomalyWrite): Promise<AnomalyRow> {
  const { rows } = await db.query<AnomalyRow>(
    `UPDATE anomalies SET kind = $3, start_day = $4::date, end_day = $5::date, impact = $6::numeric,
            expected = $7::numeric, actual = $8::numeric, max_score = $9, status = $10, withdrawn_reason = NULL,
            root_causes = $11::jsonb, updated_at = $12
      WHERE id = $1 AND organization_id = $2
      RETURNING ${ANOMALY_COLUMNS}`,
    [
      id,
      a.orgId,
      a.kind,
      a.start,
      a.end,
      a.impact,
      a.expected,
      a.actual,
      a.maxScore,
      a.status,
      JSON.stringify(a.rootCauses),
      a.now,
    ],
  );
  const row = rows[0];
  if (!row) throw new Error(`anomaly ${id} not found for update`);
  return row;
}

/** withdrawAnomaly: marks an anomaly withdrawn (restated below the gates, or merged into another). */
export async function withdrawAnomaly(
  db: Queryable,
  q: { orgId: number; id: number; reason: 'restated' | 'merged'; now: Date },
): Promise<void> {
  await db.query(
    `UPDATE anomalies SET status = 'withdrawn', withdrawn_reason = $3, updated_at = $4
      WHERE id = $1 AND organization_id = $2`,
    [q.id, q.orgId, q.reason, q.now],
  );
}

/** activeSuppressions: the org's suppressed series at `now`, as "dimension\u0000key". Params: org, now. */
export async function activeSuppressions(db: Queryable, orgId: number, now: Date): Promise<Set<string>> {
  const { rows } = await db.query<{ dimension: string; key: string }>(
    'SELECT dimension, key FROM anomaly_suppressions WHERE organization_id = $1 AND until > $2',
    [orgId, now],
  );
  return new Set(rows.map((r) => `${r.dimension}\u0000${r.key}`));
}

/** Open anomalies per organization (for the anomalies_open gauge). */
export async function countOpenAnomalies(db: Queryable): Promise<Array<{ status: string; n: number }>> {
  const { rows } = await db.query<{ status: string; n: number }>(
    `SELECT status, count(*)::int AS n FROM anomalies WHERE status IN ('open', 'provisional') GROUP BY status`,
  );
  return rows;
}

export interface AnomalyListQuery {
  orgId: number;
  status: string | null;
  service: string | null;
  account: string | null;
  from: string | null;
  to: string | null;
  minImpact: string | null;
  limit: number;
  offset: number;
}

// The org's anomalies, newest start first, filtered; a service or account filter matches the
// series itself or a root cause naming it. |impact| >= min impact. Fetches limit + 1.
// Parameters: $1 org, $2 status, $3 service, $4 account, $5 from, $6 to, $7 min impact, $8 limit + 1, $9 offset.
export async function listAnomalies(db: Queryable, q: AnomalyListQuery): Promise<AnomalyRow[]> {
  const { rows } = await db.query<AnomalyRow>(
    `SELECT ${ANOMALY_COLUMNS} FROM anomalies
      WHERE organization_id = $1
        AND ($2::text IS NULL OR status = $2::text)
        AND ($3::text IS NULL OR (dimension = 'service' AND key = $3::text)
             OR root_causes @> jsonb_build_array(jsonb_build_object('service', $3::text)))
        AND ($4::text IS NULL OR (dimension = 'account' AND key = $4::text)
             OR root_causes @> jsonb_build_array(jsonb_build_object('linked_account', $4::text)))
        AND ($5::date IS NULL OR end_day >= $5::date)
        AND ($6::date IS NULL OR start_day <= $6::date)
        AND ($7::numeric IS NULL OR abs(impact) >= $7::numeric)
      ORDER BY start_day DESC, id DESC
      LIMIT $8 OFFSET $9`,
    [q.orgId, q.status, q.service, q.account, q.from, q.to, q.minImpact, q.limit + 1, q.offset],
  );
  return rows;
}

/** findAnomaly: one anomaly of the org, or null. Params: org, id. */
export async function findAnomaly(db: Queryable, orgId: number, id: number): Promise<AnomalyRow | null> {
  const { rows } = await db.query<AnomalyRow>(
    `SELECT ${ANOMALY_COLUMNS} FROM anomalies WHERE organization_id = $1 AND id = $2`,
    [orgId, id],
  );
  return rows[0] ?? null;
}

/**
 * recordAnomalyFeedback: stores yes|no|planned on the org's anomaly; a `no` also suppresses its
 * series until `until`. One statement. Returns the anomaly, or null when it is not the org's.
 */
export async function recordAnomalyFeedback(
  db: Queryable,
  q: {
    orgId: number;
    id: number;
    feedback: 'yes' | 'no' | 'planned';
    userId: number | null;
    now: Date;
    until: Date;
  },
): Promise<AnomalyRow | null> {
  const { rows } = await db.query<AnomalyRow>(
    `WITH updated AS (
       UPDATE anomalies SET feedback = $3, feedback_at = $5, feedback_user_id = $4, updated_at = $5
        WHERE organization_id = $1 AND id = $2
        RETURNING *
     ), suppressed AS (
       INSERT INTO anomaly_suppressions (organization_id, dimension, key, until, anomaly_id, created_at)
       SELECT organization_id, dimension, key, $6, id, $5 FROM updated WHERE $3 = 'no'
       ON CONFLICT (organization_id, dimension, key) DO UPDATE
         SET until = greatest(anomaly_suppressions.until, EXCLUDED.until), anomaly_id = EXCLUDED.anomaly_id
     )
     SELECT ${ANOMALY_COLUMNS} FROM updated`,
    [q.orgId, q.id, q.feedback, q.userId, q.now, q.until],
  );
  return rows[0] ?? null;
}

/** suppressionOf: until when the series is suppressed, or null. Params: org, dimension, key. */
export async function suppressionOf(
  db: Queryable,
  orgId: number,
  dimension: string,
  key: string,
): Promise<Date | null> {
  const { rows } = await db.query<{ until: Date }>(
    'SELECT until FROM anomaly_suppressions WHERE organization_id = $1 AND dimension = $2 AND key = $3',
    [orgId, dimension, key],
  );
  return rows[0]?.until ?? null;
}

export interface SubscriptionRow {
  id: number;
  organization_id: number;
  name: string;
  min_impact: string;
  channel_ids: number[];
  enabled: boolean;
  created_at: Date;
  updated_at: Date;
}

const SUBSCRIPTION_COLUMNS = `id::int AS id, organization_id::int AS organization_id, name, min_impact::text AS min_impact,
  channel_ids::int[] AS channel_ids, enabled, created_at, updated_at`;

/** createAnomalySubscription: a new subscription of the org. */
export async function createAnomalySubscription(
  db: Queryable,
  s: { orgId: number; name: string; minImpact: string; channelIds: number[]; now: Date },
): Promise<SubscriptionRow> {
  const { rows } = await db.query<SubscriptionRow>(
    `INSERT INTO anomaly_subscriptions (organization_id, name, min_impact, channel_ids, created_at, updated_at)
     VALUES ($1, $2, $3::numeric, $4::bigint[], $5, $5) RETURNING ${SUBSCRIPTION_COLUMNS}`,
    [s.orgId, s.name, s.minImpact, s.channelIds, s.now],
  );
  const row = rows[0];
  if (!row) throw new Error('subscription insert returned no row');
  return row;
}

/** updateAnomalySubscription: changes the given fields of one of the org's subscriptions; null if not found. */
export async function updateAnomalySubscription(
  db: Queryable,
  s: {
    orgId: number;
    id: number;
    name: string | null;
    minImpact: string | null;
    channelIds: number[] | null;
    enabled: boolean | null;
    now: Date;
  },
): Promise<SubscriptionRow | null> {
  const { rows } = await db.query<SubscriptionRow>(
    `UPDATE anomaly_subscriptions SET name = coalesce($3, name), min_impact = coalesce($4::numeric, min_impact),
            channel_ids = coalesce($5::bigint[], channel_ids), enabled = coalesce($6::boolean, enabled), updated_at = $7
      WHERE organization_id = $1 AND id = $2 RETURNING ${SUBSCRIPTION_COLUMNS}`,
    [s.orgId, s.id, s.name, s.minImpact, s.channelIds, s.enabled, s.now],
  );
  return rows[0] ?? null;
}

/** listAnomalySubscriptions: the org's subscriptions by id (enabled only when asked). */
export async function listAnomalySubscriptions(
  db: Queryable,
  orgId: number,
  options: { enabledOnly?: boolean } = {},
): Promise<SubscriptionRow[]> {
  const { rows } = await db.query<SubscriptionRow>(
    `SELECT ${SUBSCRIPTION_COLUMNS} FROM anomaly_subscriptions
      WHERE organization_id = $1 AND ($2::boolean = false OR enabled) ORDER BY id`,
    [orgId, options.enabledOnly === true],
  );
  return rows;
}
