-- NetAmortizedCost (issue 13): Cost Explorer's net amortized cost (amortized, after discounts such
-- as an EDP), the metric FOCUS's EffectiveCost is. Fetched in the same GetCostAndUsage requests as
-- the other metrics (one more entry of Metrics, no extra request), stored in cost_data and the three
-- rollups, served as metric=net_amortized, exported as EffectiveCost.
--
-- Carry-over: a row loaded before this migration has no NetAmortizedCost from AWS, and it cannot be
-- derived (the discount is not in the other metrics), so the column is NULL on every existing row.
-- NULL means "not fetched", never zero: a rollup group, a total or a ranking that includes a NULL
-- row is NULL as a whole (never the sum of the rows that have it), the API serves null, the CSV
-- export an empty field and the FOCUS export an empty EffectiveCost. A day gets its value when its
-- window is fetched again: the restatement probe re-reads every day of a refresh window stored
-- without it (the current month, RESTATEMENT_DAYS); older days by `costwatch backfill`
-- (docs/EXPORTS.md).

ALTER TABLE cost_data ADD COLUMN net_amortized_cost numeric;
ALTER TABLE cost_rollup_daily_by_service ADD COLUMN net_amortized_cost numeric;
ALTER TABLE cost_rollup_daily ADD COLUMN net_amortized_cost numeric;
ALTER TABLE cost_rollup_monthly ADD COLUMN net_amortized_cost numeric;

-- The cost column a metric names (unblended | amortized | net_unblended | net_amortized).
CREATE FUNCTION cw_metric_cost(metric text, unblended numeric, amortized numeric, net_unblended numeric, net_amortized numeric)
RETURNS numeric LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE metric WHEN 'amortized' THEN amortized WHEN 'net_unblended' THEN net_unblended
                     WHEN 'net_amortized' THEN net_amortized ELSE unblended END
$$;

-- The old rollup names (views of 0008) show the new column last.
CREATE OR REPLACE VIEW cost_daily_service AS
  SELECT organization_id, day, key AS service, unblended_cost, amortized_cost, net_unblended_cost, usage_quantity, unit, estimated, net_amortized_cost
    FROM cost_rollup_daily WHERE dimension = 'service';
CREATE OR REPLACE VIEW cost_daily_account AS
  SELECT organization_id, day, key AS linked_account, unblended_cost, amortized_cost, net_unblended_cost, usage_quantity, unit, estimated, net_amortized_cost
    FROM cost_rollup_daily WHERE dimension = 'account';
CREATE OR REPLACE VIEW cost_daily_region AS
  SELECT organization_id, day, key AS region, unblended_cost, amortized_cost, net_unblended_cost, usage_quantity, unit, estimated, net_amortized_cost
    FROM cost_rollup_daily WHERE dimension = 'region';
CREATE OR REPLACE VIEW cost_monthly_service AS
  SELECT organization_id, month, key AS service, unblended_cost, amortized_cost, net_unblended_cost, usage_quantity, unit, estimated, days, net_amortized_cost
    FROM cost_rollup_monthly WHERE dimension = 'service';

-- INSTEAD OF INSERT on those views, with net_amortized_cost (NULL when the insert leaves it out).
CREATE OR REPLACE FUNCTION cw_insert_into_rollup_view() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  r jsonb := to_jsonb(NEW);
BEGIN
  IF r ? 'month' THEN
    INSERT INTO cost_rollup_monthly (organization_id, dimension, month, key, unblended_cost, amortized_cost, net_unblended_cost,
                                     usage_quantity, usage_unit, unit, estimated, days, net_amortized_cost)
    VALUES ((r->>'organization_id')::bigint, TG_ARGV[0], (r->>'month')::date, r->>TG_ARGV[1],
      (r->>'unblended_cost')::numeric, (r->>'amortized_cost')::numeric, (r->>'net_unblended_cost')::numeric,
      (r->>'usage_quantity')::numeric, '', r->>'unit', (r->>'estimated')::boolean, (r->>'days')::integer,
      (r->>'net_amortized_cost')::numeric);
  ELSE
    INSERT INTO cost_rollup_daily (organization_id, dimension, day, key, unblended_cost, amortized_cost, net_unblended_cost,
                                   usage_quantity, usage_unit, unit, estimated, net_amortized_cost)
    VALUES ((r->>'organization_id')::bigint, TG_ARGV[0], (r->>'day')::date, r->>TG_ARGV[1],
      (r->>'unblended_cost')::numeric, (r->>'amortized_cost')::numeric, (r->>'net_unblended_cost')::numeric,
      (r->>'usage_quantity')::numeric, '', r->>'unit', (r->>'estimated')::boolean, (r->>'net_amortized_cost')::numeric);
  END IF;
  RETURN NEW;
END
$$;

-- cw_rebuild_cost_rollups(org, from, to): 0008's routine with net_amortized_cost, which is summed
-- only when every row of the group has it (CASE WHEN count(*) = count(x)): a group with a row
-- loaded before 0012 stays NULL instead of showing a partial sum. 0008's version is kept aside for
-- the rollback.
ALTER FUNCTION cw_rebuild_cost_rollups(bigint, date, date) RENAME TO cw_rebuild_cost_rollups_0008;
CREATE FUNCTION cw_rebuild_cost_rollups(org bigint, from_day date, to_day date, OUT rows_written bigint, OUT runs_marked integer)
LANGUAGE plpgsql AS $$
DECLARE
  month_from date := date_trunc('month', from_day)::date;
  month_to   date := (date_trunc('month', to_day - 1) + interval '1 month')::date;
  n bigint;
BEGIN
  PERFORM pg_advisory_xact_lock(1003, org::integer);
  DELETE FROM cost_rollup_daily_by_service WHERE organization_id = org AND day >= from_day AND day < to_day;
  INSERT INTO cost_rollup_daily_by_service (organization_id, dimension, day, service, key, unblended_cost, amortized_cost,
                                            net_unblended_cost, usage_quantity, usage_unit, unit, estimated, net_amortized_cost)
  SELECT organization_id, cw_grouping_dimension(grouping), cost_date, service,
         CASE grouping WHEN 'account_service' THEN linked_account WHEN 'region_service' THEN region ELSE dim_value END,
         sum(unblended_cost), sum(amortized_cost), sum(net_unblended_cost), sum(usage_quantity),
         CASE WHEN min(usage_unit) = max(usage_unit) THEN min(usage_unit) ELSE '' END, min(unit), bool_or(estimated),
         CASE WHEN count(*) = count(net_amortized_cost) THEN sum(net_amortized_cost) END
    FROM cost_data WHERE organization_id = org AND cost_date >= from_day AND cost_date < to_day
   GROUP BY 1, 2, 3, 4, 5;
  GET DIAGNOSTICS n = ROW_COUNT;
  rows_written := n;

  DELETE FROM cost_rollup_daily WHERE organization_id = org AND day >= from_day AND day < to_day;
  INSERT INTO cost_rollup_daily (organization_id, dimension, day, key, unblended_cost, amortized_cost, net_unblended_cost,
                                 usage_quantity, usage_unit, unit, estimated, net_amortized_cost)
  SELECT organization_id, d.dimension, day, d.key,
         sum(unblended_cost), sum(amortized_cost), sum(net_unblended_cost), sum(usage_quantity),
         CASE WHEN min(usage_unit) = max(usage_unit) THEN min(usage_unit) ELSE '' END, min(unit), bool_or(estimated),
         CASE WHEN count(*) = count(net_amortized_cost) THEN sum(net_amortized_cost) END
    FROM cost_rollup_daily_by_service
   CROSS JOIN LATERAL (VALUES (dimension, key), (CASE WHEN dimension = 'account' THEN 'service' END, service)) AS d(dimension, key)
   WHERE organization_id = org AND day >= from_day AND day < to_day AND d.dimension IS NOT NULL
   GROUP BY organization_id, d.dimension, day, d.key;
  GET DIAGNOSTICS n = ROW_COUNT;
  rows_written := rows_written + n;

  DELETE FROM cost_rollup_monthly WHERE organization_id = org AND month >= month_from AND month < month_to;
  INSERT INTO cost_rollup_monthly (organization_id, dimension, month, key, unblended_cost, amortized_cost, net_unblended_cost,
                                   usage_quantity, usage_unit, unit, estimated, days, net_amortized_cost)
  SELECT organization_id, dimension, date_trunc('month', day)::date, key,
         sum(unblended_cost), sum(amortized_cost), sum(net_unblended_cost), sum(usage_quantity),
         CASE WHEN min(usage_unit) = max(usage_unit) THEN min(usage_unit) ELSE '' END, min(unit), bool_or(estimated),
         count(DISTINCT day)::int,
         CASE WHEN count(*) = count(net_amortized_cost) THEN sum(net_amortized_cost) END
    FROM cost_rollup_daily WHERE organization_id = org AND day >= month_from AND day < month_to
   GROUP BY organization_id, dimension, date_trunc('month', day), key;
  GET DIAGNOSTICS n = ROW_COUNT;
  rows_written := rows_written + n;

  runs_marked := cw_mark_runs_rolled_up(org, 'costs', from_day, to_day);
END
$$;
