/**
 * Cost exports: one organization's daily rollup rows of one dimension over a date range, streamed
 * by `COPY (SELECT ...) TO STDOUT (FORMAT csv)` (pg-copy-streams), so memory stays flat however
 * many rows there are and Postgres formats the CSV. COPY takes no bind parameters, so the values
 * travel as bind parameters of `set_config(..., true)` (transaction-local settings) that the
 * constant COPY text reads with current_setting(): no value is ever spliced into SQL.
 *
 * Formats: `csv` (CostWatch's columns) and `focus` (FOCUS 1.2 column names; docs/EXPORTS.md says
 * which columns a grouping fills and which mandatory ones stay null from Cost Explorer data).
 */
import type { Readable } from 'node:stream';
import { to as copyTo } from 'pg-copy-streams';
import type { Pool } from '../../lib/db.js';

export type ExportFormat = 'csv' | 'focus';

export interface ExportQuery {
  orgId: number;
  /** API name of the dimension each row is keyed by (with service: SERVICE x dimension rows). */
  dimension: string;
  from: string;
  /** Inclusive. */
  to: string;
  format: ExportFormat;
  /** FOCUS ServiceCategory per service name (others: 'Other'). */
  serviceCategories: Readonly<Record<string, string>>;
}

// The rows of one dimension: for service the per-service rollup, for the others the SERVICE x
// dimension rollup (the service and the dimension's value on each row), with the account's name.
const ROWS = `
  SELECT r.day, r.service, r.dimension, r.key, n.name AS account_name, r.unblended_cost, r.amortized_cost,
         r.net_unblended_cost, r.net_amortized_cost, r.usage_quantity, r.usage_unit, r.unit, r.estimated
    FROM (SELECT day, key AS service, dimension, key, unblended_cost, amortized_cost, net_unblended_cost,
                 net_amortized_cost, usage_quantity, usage_unit, unit, estimated
            FROM cost_rollup_daily
           WHERE current_setting('costwatch.export_dimension') = 'service'
             AND organization_id = current_setting('costwatch.export_org')::bigint AND dimension = 'service'
             AND day BETWEEN current_setting('costwatch.export_from')::date AND current_setting('costwatch.export_to')::date
          UNION ALL
          SELECT day, service, dimension, key, unblended_cost, amortized_cost, net_unblended_cost,
                 net_amortized_cost, usage_quantity, usage_unit, unit, estimated
            FROM cost_rollup_daily_by_service
           WHERE organization_id = current_setting('costwatch.export_org')::bigint
             AND dimension = current_setting('costwatch.export_dimension')
             AND day BETWEEN current_setting('costwatch.export_from')::date AND current_setting('costwatch.export_to')::date) r
    LEFT JOIN aws_account_names n
      ON r.dimension = 'account' AND n.organization_id = current_setting('costwatch.export_org')::bigint AND n.account_id = r.key
   ORDER BY r.day, r.service, r.key`;

const CSV = `COPY (
  SELECT day AS date, service, dimension, key AS value, account_name, unblended_cost, amortized_cost,
         net_unblended_cost, net_amortized_cost, usage_quantity, usage_unit, unit AS currency, estimated
    FROM (${ROWS}) x
) TO STDOUT WITH (FORMAT csv, HEADER)`;

// FOCUS 1.2 columns (docs/EXPORTS.md). EffectiveCost is the net amortized cost: empty (null) on rows
// loaded before migration 0012, which has no NetAmortizedCost from AWS (never the amortized cost instead). ChargeCategory from the record type (group by record_type),
// SubAccount* from the account grouping, RegionId from the region grouping, Tags from a tag grouping.
const FOCUS = `COPY (
  WITH org AS MATERIALIZED (
    SELECT o.aws_account_id, o.name, current_setting('costwatch.export_categories')::jsonb AS categories
      FROM organizations o WHERE o.id = current_setting('costwatch.export_org')::bigint
  )
  SELECT x.unblended_cost AS "BilledCost",
         org.aws_account_id AS "BillingAccountId",
         org.name AS "BillingAccountName",
         x.unit AS "BillingCurrency",
         to_char(date_trunc('month', x.day) + interval '1 month', 'YYYY-MM-DD"T"00:00:00"Z"') AS "BillingPeriodEnd",
         to_char(date_trunc('month', x.day), 'YYYY-MM-DD"T"00:00:00"Z"') AS "BillingPeriodStart",
         CASE WHEN x.dimension <> 'record_type' THEN NULL
              WHEN x.key IN ('Credit') THEN 'Credit'
              WHEN x.key IN ('Refund') THEN 'Adjustment'
              WHEN x.key = 'Tax' THEN 'Tax'
              WHEN x.key LIKE '%Fee' OR x.key IN ('Support', 'RIFee') THEN 'Purchase'
              ELSE 'Usage' END AS "ChargeCategory",
         NULL::text AS "ChargeClass",
         x.service || CASE WHEN x.dimension = 'service' THEN '' ELSE ' / ' || x.key END AS "ChargeDescription",
         to_char(x.day + 1, 'YYYY-MM-DD"T"00:00:00"Z"') AS "ChargePeriodEnd",
         to_char(x.day, 'YYYY-MM-DD"T"00:00:00"Z"') AS "ChargePeriodStart",
         NULL::numeric AS "ContractedCost",
         x.net_amortized_cost AS "EffectiveCost",
         'AWS' AS "InvoiceIssuerName",
         NULL::numeric AS "ListCost",
         NULL::numeric AS "PricingQuantity",
         NULL::text AS "PricingUnit",
         'AWS' AS "ProviderName",
         'AWS' AS "PublisherName",
         CASE WHEN x.dimension = 'region' THEN x.key END AS "RegionId",
         coalesce(org.categories ->> x.service, 'Other') AS "ServiceCategory",
         x.service AS "ServiceName",
         CASE WHEN x.dimension = 'account' THEN x.key END AS "SubAccountId",
         CASE WHEN x.dimension = 'account' THEN x.account_name END AS "SubAccountName",
         CASE WHEN x.dimension LIKE 'tag:%' AND x.key <> '(untagged)'
              THEN jsonb_build_object(substr(x.dimension, 5), x.key) ELSE '{}'::jsonb END AS "Tags",
         CASE WHEN x.dimension = 'usage_type' THEN x.usage_quantity END AS "ConsumedQuantity",
         CASE WHEN x.dimension = 'usage_type' THEN nullif(x.usage_unit, '') END AS "ConsumedUnit"
    FROM (${ROWS}) x CROSS JOIN org
) TO STDOUT WITH (FORMAT csv, HEADER)`;

/**
 * An export's COPY runs as long as the client takes to read it (back-pressure stops Postgres while
 * the socket is full), far beyond the pool's statement_timeout for API queries: an hour at most.
 */
const EXPORT_STATEMENT_TIMEOUT = '1h';

/** The COPY statements (their texts are constant), for the export benchmark's psql reference. */
export const EXPORT_COPY_SQL: Readonly<Record<ExportFormat, string>> = { csv: CSV, focus: FOCUS };

/** A running export: the CSV byte stream, and `done` to end its transaction and free its connection. */
export interface CostExportStream {
  stream: Readable;
  /** Commits (or, after an error, rolls back) and releases the connection; call once the stream ended or failed. */
  done(error?: unknown): Promise<void>;
}

/**
 * streamCostExport: opens a read-only transaction on its own pooled connection, sets the export's
 * parameters (bind parameters of set_config) and starts the COPY. The caller pipes `stream` to its
 * destination with back-pressure and then calls `done`.
 * Parameters: pool, the export's org, dimension, inclusive range, format and service categories.
 */
export async function streamCostExport(pool: Pool, q: ExportQuery): Promise<CostExportStream> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN READ ONLY');
    await client.query(
      `SELECT set_config('costwatch.export_org', $1, true), set_config('costwatch.export_dimension', $2, true),
              set_config('costwatch.export_from', $3, true), set_config('costwatch.export_to', $4, true),
              set_config('costwatch.export_categories', $5, true),
              set_config('statement_timeout', $6, true)`,
      [
        String(q.orgId),
        q.dimension,
        q.from,
        q.to,
        JSON.stringify(q.serviceCategories),
        EXPORT_STATEMENT_TIMEOUT,
      ],
    );
    const stream = client.query(copyTo(EXPORT_COPY_SQL[q.format]));
    let finished = false;
    return {
      stream,
      async done(error?: unknown) {
        if (finished) return;
        finished = true;
        if (error !== undefined) {
          // Mid-COPY (the client went away): closing this connection is what stops Postgres sending.
          client.release(true);
          return;
        }
        try {
          await client.query('COMMIT');
          client.release();
        } catch (e) {
          client.release(e instanceof Error ? e : true);
        }
      },
    };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    client.release();
    throw error;
  }
}
