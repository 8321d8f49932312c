/**
 * Anomaly detection of one organization after a cost rollup of [from, to): scores every service
 * and linked-account series over the touched days (and the 28 days after them, whose baselines the
 * touched days belong to), reconciles the episodes with the stored anomalies (insert, update,
 * withdraw: never delete), explains new or changed ones by their contributors, and decides the
 * alerts. One transaction under the org's anomaly lock, so replicas and retries agree.
 */
import type { Pool, PoolClient } from '../lib/db.js';
import { withTransaction } from '../lib/db.js';
import { addDays, daysBetween, eachDay } from '../lib/dates.js';
import {
  DEFAULT_DETECTOR_SETTINGS,
  BASELINE_DAYS,
  HISTORY_DAYS_NEEDED,
  MAX_GAP_DAYS,
  baselineOf,
  densePoints,
  episodesOf,
  reconcileEpisodes,
  scoreSeries,
  statusOf,
  type DetectorSettings,
  type Episode,
  type StoredEpisode,
} from '../lib/anomaly-detect.js';
import {
  DETECTED_DIMENSIONS,
  rootCauseDimensions,
  ROOT_CAUSES_PER_DIMENSION,
  type DetectedDimension,
} from '../lib/anomaly-dimensions.js';
import type { Dimension } from '../lib/dimensions.js';
import { orgDimensions } from '../database/repositories/dimensions.repository.js';
import {
  activeSuppressions,
  anomaliesTouching,
  contributorSeries,
  findAnomalySettings,
  insertAnomaly,
  lastLoadedDays,
  loadDailySeries,
  lockOrgAnomalies,
  updateAnomaly,
  withdrawAnomaly,
  type AnomalyRow,
  type AnomalyWrite,
  type RootCause,
  type SeriesRow,
} from '../database/repositories/anomalies.repository.js';
import {
  markAnomalyNotificationsEnqueued,
  recordAnomalyNotificationDecisions,
  type AnomalyAlertDecision,
} from '../database/repositories/anomaly-notifications.repository.js';
import { enqueueNotifications } from '../database/repositories/notifications.repository.js';
import { anomalyAlertsDecided, anomalyChanges } from '../lib/metrics.js';

/** Contributors with a smaller share of their dimension's contributions are left out. */
const MIN_ROOT_CAUSE_SHARE = 0.05;

/** Days after a touched window that are scored again (their baselines include the touched days). */
const FORWARD_DAYS = BASELINE_DAYS;

export interface DetectionResult {
  evaluatedDays: number;
  series: number;
  inserted: number;
  updated: number;
  withdrawn: number;
  alerts: number;
  /** Outbox rows created for the alerts decided (to dispatch after commit). */
  deliveryIds: string[];
}

export function settingsFrom(row: Awaited<ReturnType<typeof findAnomalySettings>>): DetectorSettings {
  if (!row) return { ...DEFAULT_DETECTOR_SETTINGS };
  return {
    minImpactAbsolute: Number(row.min_impact_absolute),
    minImpactRelative: Number(row.min_impact_relative),
    zThreshold: Number(row.z_threshold),
    detectDrops: row.detect_drops,
  };
}

const money = (n: number) => n.toFixed(2);

function seriesKey(dimension: string, key: string): string {
  return `${dimension}\u0000${key}`;
}

/** Groups rows into per-key maps and the set of days the org has data for. */
function groupRows(rows: readonly SeriesRow[]) {
  const byKey = new Map<string, Map<string, { amount: number; estimated: boolean }>>();
  const loaded = new Set<string>();
  for (const r of rows) {
    loaded.add(r.day);
    let m = byKey.get(r.key);
    if (!m) byKey.set(r.key, (m = new Map()));
    m.set(r.day, { amount: Number(r.amount), estimated: r.estimated });
  }
  return { byKey, loaded };
}

/**
 * The root causes of an episode: per contributor dimension, the contributors with the largest
 * excess over their own baselines on the flagged days (`contribution`), and their share of the
 * contributions in the anomaly's direction in that dimension (at least 5%, top 3).
 */
async function rootCausesOf(
  db: PoolClient | Pool,
  orgId: number,
  dimension: DetectedDimension,
  key: string,
  episode: Episode,
  loaded: readonly Dimension[],
): Promise<RootCause[]> {
  const from = addDays(episode.start, -BASELINE_DAYS);
  const days = eachDay(from, addDays(episode.end, 1));
  const causes: RootCause[] = [];
  for (const by of rootCauseDimensions(dimension, loaded)) {
    const rows = await contributorSeries(db, { orgId, dimension, key, by, from, to: episode.end });
    const { byKey, loaded } = groupRows(
      rows.map((r) => ({ day: r.day, key: r.contributor, amount: r.amount, estimated: false })),
    );
    const contributions: Array<{ contributor: string; excess: number }> = [];
    for (const [contributor, values] of byKey) {
      const points = densePoints(days, loaded, values);
      const first = points.findIndex((p) => p.amount !== null && p.amount !== 0);
      let excess = 0;
      for (const flagged of episode.days) {
        const i = daysBetween(from, flagged.day);
        const amount = points[i]?.amount ?? 0;
        const b = first >= 0 && i - first >= 14 ? baselineOf(points, i, first) : null;
        excess += amount - (b?.baseline ?? 0);
      }
      contributions.push({ contributor, excess });
    }
    const sign = episode.impact < 0 ? -1 : 1;
    const moved = contributions.filter((c) => c.excess * sign > 0);
    // Shares of the contributions in the anomaly's direction: others below their own baseline
    // (a credit, a quieter account) can make those exceed the net impact.
    const total = moved.reduce((sum, c) => sum + c.excess, 0);
    moved
      .sort((a, b) => b.excess * sign - a.excess * sign)
      .filter((c) => c.excess / total >= MIN_ROOT_CAUSE_SHARE)
      .slice(0, ROOT_CAUSES_PER_DIMENSION)
      .forEach((c) => causes.push(rootCause(dimension, key, by, c.contributor, c.excess, total)));
  }
  return causes;
}

function rootCause(
  dimension: DetectedDimension,
  key: string,
  by: Dimension,
  contributor: string,
  excess: number,
  total: number,
): RootCause {
  const value = (d: string) => (d === dimension ? key : d === by.name ? contributor : null);
  return {
    dimension: by.name,
    service: value('service'),
    linked_account: value('account'),
    region: value('region'),
    usage_type: value('usage_type'),
    ...(by.kind === 'builtin' ? {} : { value: contributor }),
    impact: {
      contribution: money(excess),
      share: total === 0 ? 0 : Math.round((excess / total) * 1000) / 1000,
    },
  };
}

function writeOf(
  orgId: number,
  dimension: string,
  key: string,
  episode: Episode,
  lastFinal: string | null,
  rootCauses: RootCause[],
  now: Date,
): AnomalyWrite {
  const status = statusOf(episode, lastFinal);
  let actual = 0;
  for (const d of episode.days) actual += d.amount;
  return {
    orgId,
    dimension,
    key,
    kind: episode.kind,
    start: episode.start,
    end: episode.end,
    impact: money(episode.impact),
    expected: money(actual - episode.impact),
    actual: money(actual),
    maxScore: episode.maxScore === null ? null : Math.round(episode.maxScore * 100) / 100,
    status: status === 'withdrawn' ? 'open' : status,
    rootCauses,
    now,
  };
}

function unchanged(stored: AnomalyRow, w: AnomalyWrite): boolean {
  return (
    stored.status === w.status &&
    stored.kind === w.kind &&
    stored.start_day === w.start &&
    stored.end_day === w.end &&
    Number(stored.impact) === Number(w.impact)
  );
}

/**
 * sendAnomalyAlerts: the one call site of anomaly notifications. Every alert decided in this
 * transaction is handed to the notification outbox here, in the same transaction, with the
 * decision's idempotency key (the outbox is unique per channel and key, so a retried detection adds
 * nothing), and the decision is marked enqueued. Returns the new delivery ids, to dispatch after
 * commit (the notifications queue's sweep also picks up any row left without a job).
 */
async function sendAnomalyAlerts(
  client: PoolClient,
  decisions: readonly AnomalyAlertDecision[],
  now: Date,
): Promise<string[]> {
  const deliveryIds: string[] = [];
  for (const d of decisions) {
    anomalyAlertsDecided.inc({ type: d.type });
    deliveryIds.push(
      ...(await enqueueNotifications(client, {
        organizationId: d.organizationId,
        channelIds: d.channelIds,
        type: d.type,
        idempotencyKey: d.idempotencyKey,
        data: d.data,
        createdAt: now,
      })),
    );
  }
  await markAnomalyNotificationsEnqueued(
    client,
    decisions.map((d) => d.id),
    now,
  );
  return deliveryIds;
}

/** detectOrgAnomalies: see the file comment. `now` is the injected clock's reading. */
export async function detectOrgAnomalies(
  pool: Pool,
  q: { orgId: number; from: string; to: string; now: Date },
): Promise<DetectionResult> {
  return withTransaction(pool, async (client) => {
    await lockOrgAnomalies(client, q.orgId);
    const settings = settingsFrom(await findAnomalySettings(client, q.orgId));
    const { last, lastFinal } = await lastLoadedDays(client, q.orgId, addDays(q.from, -MAX_GAP_DAYS - 1));
    const result: DetectionResult = {
      evaluatedDays: 0,
      series: 0,
      inserted: 0,
      updated: 0,
      withdrawn: 0,
      alerts: 0,
      deliveryIds: [],
    };
    if (last === null) return result;
    // The span scored: the touched days, the days whose episodes they may join, and the days after
    // whose baselines include them; widened to whole stored anomalies that touch it.
    let evalFrom = addDays(q.from, -MAX_GAP_DAYS - 1);
    let evalTo = addDays(q.to, FORWARD_DAYS);
    if (evalTo > addDays(last, 1)) evalTo = addDays(last, 1);
    if (evalTo <= evalFrom) return result;
    // Widening the span can bring more stored anomalies (of other series) into it: every stored
    // anomaly inside the final span must be known, or its re-detection would be inserted again.
    // The span only grows, and only up to stored anomalies, so this ends.
    const storedIn = async (): Promise<AnomalyRow[]> => {
      for (;;) {
        const found = await anomaliesTouching(client, q.orgId, addDays(evalFrom, -MAX_GAP_DAYS), evalTo);
        const before = `${evalFrom}/${evalTo}`;
        for (const s of found) {
          if (s.start_day < evalFrom) evalFrom = s.start_day;
          if (s.end_day >= evalTo) evalTo = addDays(s.end_day, 1);
        }
        if (`${evalFrom}/${evalTo}` === before) return found;
      }
    };
    const stored = await storedIn();
    const loadFrom = addDays(evalFrom, -HISTORY_DAYS_NEEDED);
    const days = eachDay(loadFrom, evalTo);
    const fromIndex = daysBetween(loadFrom, evalFrom);
    result.evaluatedDays = days.length - fromIndex;
    const suppressed = await activeSuppressions(client, q.orgId, q.now);
    const touched: AnomalyRow[] = [];

    // The registry's dimensions the org's fetch loads (root causes), read once when first needed.
    let dimensions: Dimension[] | null = null;
    const dimensionsLoaded = async (): Promise<Dimension[]> =>
      (dimensions ??= await orgDimensions(client, q.orgId));
    for (const dimension of DETECTED_DIMENSIONS) {
      const { byKey, loaded } = groupRows(
        await loadDailySeries(client, dimension, q.orgId, loadFrom, evalTo),
      );
      const storedHere = new Map<string, AnomalyRow[]>();
      for (const s of stored) {
        if (s.dimension !== dimension) continue;
        const list = storedHere.get(s.key) ?? [];
        list.push(s);
        storedHere.set(s.key, list);
      }
      const keys = new Set([...byKey.keys(), ...storedHere.keys()]);
      for (const key of keys) {
        result.series++;
        const points = densePoints(days, loaded, byKey.get(key) ?? new Map());
        const episodes = episodesOf(scoreSeries(points, fromIndex, settings));
        const mine = storedHere.get(key) ?? [];
        const storedEpisodes: StoredEpisode[] = mine.map((s) => ({
          id: s.id,
          kind: s.kind,
          start: s.start_day,
          end: s.end_day,
          status: s.status,
        }));
        const isSuppressed = suppressed.has(seriesKey(dimension, key));
        for (const action of reconcileEpisodes(storedEpisodes, episodes)) {
          if (action.action === 'withdraw') {
            await withdrawAnomaly(client, {
              orgId: q.orgId,
              id: action.id,
              reason: action.reason,
              now: q.now,
            });
            anomalyChanges.inc({ change: 'withdrawn' });
            result.withdrawn++;
            continue;
          }
          const draft = writeOf(q.orgId, dimension, key, action.episode, lastFinal, [], q.now);
          if (action.action === 'update') {
            const before = mine.find((s) => s.id === action.id);
            if (before && unchanged(before, draft)) {
              touched.push(before);
              continue;
            }
            draft.rootCauses = await rootCausesOf(
              client,
              q.orgId,
              dimension,
              key,
              action.episode,
              await dimensionsLoaded(),
            );
            touched.push(await updateAnomaly(client, action.id, draft));
            anomalyChanges.inc({ change: 'updated' });
            result.updated++;
          } else {
            // A `no` feedback: no new anomaly of this series while it is suppressed.
            if (isSuppressed) continue;
            draft.rootCauses = await rootCausesOf(
              client,
              q.orgId,
              dimension,
              key,
              action.episode,
              await dimensionsLoaded(),
            );
            touched.push(await insertAnomaly(client, draft));
            anomalyChanges.inc({ change: 'opened' });
            result.inserted++;
          }
        }
      }
    }
    const decisions = await recordAnomalyNotificationDecisions(client, {
      orgId: q.orgId,
      anomalies: touched,
      suppressed,
      now: q.now,
    });
    result.deliveryIds = await sendAnomalyAlerts(client, decisions, q.now);
    result.alerts = decisions.length;
    return result;
  });
}
