/**
 * Monthly partitions on demand: loaders call ensureMonthlyPartitions before their transaction, in
 * its own statement, so the DDL lock of CREATE TABLE ... PARTITION OF is never held through a load.
 */
import type { Queryable } from '../lib/db.js';
import { addDays } from '../lib/dates.js';

export type PartitionedTable = 'cost_data' | 'cloudwatch_metrics';

const ready = new Set<string>();

// ensureMonthlyPartitions: creates the monthly partitions of `table` covering [from, to) (to
// exclusive); remembered per process so a warm worker skips the round trip. Params: table, window.
export async function ensureMonthlyPartitions(db: Queryable, table: PartitionedTable, from: string, to: string): Promise<void> {
  const key = `${table}|${from.slice(0, 7)}|${to.slice(0, 7)}`;
  if (ready.has(key)) return;
  await db.query('SELECT ensure_monthly_partitions($1, $2::date, $3::date)', [table, from, addDays(to, -1)]);
  ready.add(key);
}
