/**
 * Monthly partitions on demand: loaders call ensureMonthlyPartitions before their transaction, in
 * its own statement, so the DDL lock of CREATE TABLE ... PARTITION OF is never held through a load.
 * The months come from the window being loaded, never from a clock: a pinned or a real "today",
 * a backfill of last year or a date AWS returns ahead, each gets its partition when rows need it.
 */
import type { Queryable } from '../lib/db.js';
import { addDays } from '../lib/dates.js';

export type PartitionedTable = 'cost_data' | 'cloudwatch_metrics';

// Per pool (each pool is one database): a process that works on several databases (tests, a
// benchmark's fresh database, a database migrated down and up again behind a new pool) must not
// skip a partition because another database already has it. The promise is kept, so the jobs of
// a worker that start together share one round trip; a failed one is forgotten (retried).
const ready = new WeakMap<Queryable, Map<string, Promise<void>>>();

// ensureMonthlyPartitions: creates the monthly partitions of `table` covering [from, to) (to
// exclusive); remembered per pool so a warm worker skips the round trip. Params: table, window.
export function ensureMonthlyPartitions(
  db: Queryable,
  table: PartitionedTable,
  from: string,
  to: string,
): Promise<void> {
  const last = addDays(to, -1);
  // Keyed by the months created (first and last day's), not by the exclusive end: [03-30, 04-01)
  // needs March only, [03-31, 04-02) April too, and must not be taken for the same.
  const key = `${table}|${from.slice(0, 7)}|${last.slice(0, 7)}`;
  let known = ready.get(db);
  if (!known) ready.set(db, (known = new Map()));
  const pending = known.get(key);
  if (pending) return pending;
  const done = db
    .query('SELECT ensure_monthly_partitions($1, $2::date, $3::date)', [table, from, last])
    .then(() => undefined);
  known.set(key, done);
  const cache = known;
  done.catch(() => cache.delete(key));
  return done;
}
