/**
 * cost_data writes: replace one organization's rows for a window atomically, loading them with
 * COPY as they arrive from Cost Explorer.
 */
import { withTransaction, type Pool, type Queryable } from '../../lib/db.js';
import { MalformedDataError } from '../../lib/aws-errors.js';
import { afterFirst, copyInto, copyText } from '../copy.js';
import { ensureMonthlyPartitions } from '../partitions.js';
import { upsertAccountNames } from './dimensions.repository.js';

/** One Cost Explorer group of one day, amounts exactly as AWS sent them (decimal strings). */
export interface CostRow {
  costDate: string;
  /** The registry's grouping (lib/dimensions.ts): account_service, region_service, record_type, tag:team, ... */
  grouping: string;
  service: string;
  /** The second key, in the column the registry names for the grouping ('' in the others). */
  linkedAccount: string;
  region: string;
  /** Second key of the groupings after account_service and region_service. */
  dimValue?: string;
  unblendedCost: string;
  amortizedCost: string;
  netUnblendedCost: string;
  /** NetAmortizedCost (FOCUS EffectiveCost); fetched since migration 0012. */
  netAmortizedCost: string;
  usageQuantity: string;
  unit: string;
  /** Unit of UsageQuantity as AWS sent it. */
  usageUnit?: string;
  estimated: boolean;
}

export interface LoadResult {
  rows: number;
  /** Earliest day AWS flagged Estimated, or null. */
  estimatedFrom: string | null;
}

const DECIMAL = /^-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d{1,3})?$/;

function amount(value: string, field: string, row: CostRow): string {
  if (!DECIMAL.test(value)) {
    throw new MalformedDataError(
      `Cost Explorer sent a non-decimal ${field} ${JSON.stringify(value)} for ${row.service} on ${row.costDate}`,
    );
  }
  return value;
}

/**
 * replaceCostWindow: in one transaction, serialised per organization, deletes the org's cost_data
 * rows in [from, to) and COPYs `batches` in. Readers see the old window until the commit.
 * Params: pool, org id, window, row batches (pulled lazily, with back-pressure), `beforeCommit`,
 * run last inside the transaction with the load's result (the job's bookkeeping commits with the rows),
 * and the linked account names the batches collect on the way (stored in the same transaction).
 */
export async function replaceCostWindow(
  pool: Pool,
  orgId: number,
  window: { from: string; to: string },
  batches: AsyncIterable<CostRow[]>,
  beforeCommit?: (tx: Queryable, result: LoadResult) => Promise<void>,
  accountNames?: ReadonlyMap<string, string>,
): Promise<LoadResult> {
  await ensureMonthlyPartitions(pool, 'cost_data', window.from, window.to);
  const rowsFromAws = await afterFirst(batches);
  const result: LoadResult = { rows: 0, estimatedFrom: null };
  const org = String(orgId);
  async function* lines(): AsyncGenerator<string> {
    for await (const batch of rowsFromAws) {
      let chunk = '';
      for (const row of batch) {
        if (row.costDate < window.from || row.costDate >= window.to) {
          throw new MalformedDataError(
            `Cost Explorer returned ${row.costDate}, outside the window ${window.from}..${window.to}`,
          );
        }
        chunk +=
          `${org}\t${row.costDate}\t${copyText(row.grouping)}\t${copyText(row.service)}\t${copyText(row.linkedAccount)}\t` +
          `${copyText(row.region)}\t${amount(row.unblendedCost, 'UnblendedCost', row)}\t${amount(row.amortizedCost, 'AmortizedCost', row)}\t` +
          `${amount(row.netUnblendedCost, 'NetUnblendedCost', row)}\t${amount(row.usageQuantity, 'UsageQuantity', row)}\t` +
          `${copyText(row.unit)}\t${row.estimated ? 't' : 'f'}\t${copyText(row.dimValue ?? '')}\t${copyText(row.usageUnit ?? '')}\t` +
          `${amount(row.netAmortizedCost, 'NetAmortizedCost', row)}\n`;
        result.rows++;
        if (row.estimated && (result.estimatedFrom === null || row.costDate < result.estimatedFrom))
          result.estimatedFrom = row.costDate;
      }
      if (chunk) yield chunk;
    }
  }
  await withTransaction(pool, async (client) => {
    // Takes the org's loader lock (a retried or duplicate job waits, then replaces) and clears the window.
    await client.query('SELECT cw_clear_cost_window($1, $2::date, $3::date)', [
      orgId,
      window.from,
      window.to,
    ]);
    await copyInto(
      client,
      'cost_data (organization_id, cost_date, grouping, service, linked_account, region, unblended_cost, amortized_cost, net_unblended_cost, usage_quantity, unit, estimated, dim_value, usage_unit, net_amortized_cost)',
      lines(),
    );
    if (accountNames) await upsertAccountNames(client, orgId, accountNames);
    await beforeCommit?.(client, result);
  });
  return result;
}
