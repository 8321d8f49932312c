-- Back to 0004's layout: the service/account/region rollup tables, carried back from the generic
-- ones; the groupings added by 0008 (usage type, record type, tags, cost categories) are dropped.
DROP TABLE IF EXISTS organization_dimensions;
DROP TABLE IF EXISTS aws_account_names;
DROP VIEW cost_daily_service, cost_daily_account, cost_daily_region, cost_monthly_service;
DROP FUNCTION cw_insert_into_rollup_view();

CREATE TABLE cost_daily_service (organization_id bigint NOT NULL, day date NOT NULL, service text NOT NULL,
  unblended_cost numeric NOT NULL, amortized_cost numeric NOT NULL, net_unblended_cost numeric NOT NULL,
  usage_quantity numeric NOT NULL, unit text NOT NULL, estimated boolean NOT NULL, PRIMARY KEY (organization_id, day, service));
CREATE TABLE cost_daily_account (LIKE cost_daily_service);
ALTER TABLE cost_daily_account RENAME COLUMN service TO linked_account;
ALTER TABLE cost_daily_account ADD PRIMARY KEY (organization_id, day, linked_account);
CREATE TABLE cost_daily_region (LIKE cost_daily_service);
ALTER TABLE cost_daily_region RENAME COLUMN service TO region;
ALTER TABLE cost_daily_region ADD PRIMARY KEY (organization_id, day, region);
CREATE TABLE cost_monthly_service (organization_id bigint NOT NULL,
  month date NOT NULL CHECK (extract(day FROM month) = 1), service text NOT NULL,
  unblended_cost numeric NOT NULL, amortized_cost numeric NOT NULL, net_unblended_cost numeric NOT NULL,
  usage_quantity numeric NOT NULL, unit text NOT NULL, estimated boolean NOT NULL, days integer NOT NULL,
  PRIMARY KEY (organization_id, month, service));

INSERT INTO cost_daily_service SELECT organization_id, day, key, unblended_cost, amortized_cost, net_unblended_cost, usage_quantity, unit, estimated
  FROM cost_rollup_daily WHERE dimension = 'service';
INSERT INTO cost_daily_account SELECT organization_id, day, key, unblended_cost, amortized_cost, net_unblended_cost, usage_quantity, unit, estimated
  FROM cost_rollup_daily WHERE dimension = 'account';
INSERT INTO cost_daily_region SELECT organization_id, day, key, unblended_cost, amortized_cost, net_unblended_cost, usage_quantity, unit, estimated
  FROM cost_rollup_daily WHERE dimension = 'region';
INSERT INTO cost_monthly_service SELECT organization_id, month, key, unblended_cost, amortized_cost, net_unblended_cost, usage_quantity, unit, estimated, days
  FROM cost_rollup_monthly WHERE dimension = 'service';

-- 0004's routine, over the three daily tables in turn.
CREATE OR REPLACE FUNCTION cw_rebuild_cost_rollups(org bigint, from_day date, to_day date, OUT rows_written bigint, OUT runs_marked integer)
LANGUAGE plpgsql AS $$
DECLARE
  month_from date := date_trunc('month', from_day)::date;
  month_to   date := (date_trunc('month', to_day - 1) + interval '1 month')::date;
  t record;
  n bigint;
BEGIN
  PERFORM pg_advisory_xact_lock(1003, org::integer);
  rows_written := 0;
  FOR t IN SELECT * FROM (VALUES ('cost_daily_service', 'service', 'account_service'),
                                 ('cost_daily_account', 'linked_account', 'account_service'),
                                 ('cost_daily_region', 'region', 'region_service')) AS v(tbl, col, grp) LOOP
    EXECUTE format('DELETE FROM %I WHERE organization_id = $1 AND day >= $2 AND day < $3', t.tbl) USING org, from_day, to_day;
    EXECUTE format('INSERT INTO %I SELECT organization_id, cost_date, %I, sum(unblended_cost), sum(amortized_cost), '
                   'sum(net_unblended_cost), sum(usage_quantity), min(unit), bool_or(estimated) FROM cost_data '
                   'WHERE organization_id = $1 AND cost_date >= $2 AND cost_date < $3 AND grouping = $4 GROUP BY 1, 2, 3',
                   t.tbl, t.col) USING org, from_day, to_day, t.grp;
    GET DIAGNOSTICS n = ROW_COUNT;
    rows_written := rows_written + n;
  END LOOP;
  DELETE FROM cost_monthly_service WHERE organization_id = org AND month >= month_from AND month < month_to;
  INSERT INTO cost_monthly_service
  SELECT organization_id, date_trunc('month', day)::date, service, sum(unblended_cost), sum(amortized_cost),
         sum(net_unblended_cost), sum(usage_quantity), min(unit), bool_or(estimated), count(DISTINCT day)::int
    FROM cost_daily_service WHERE organization_id = org AND day >= month_from AND day < month_to
   GROUP BY 1, 2, 3;
  GET DIAGNOSTICS n = ROW_COUNT;
  rows_written := rows_written + n;
  runs_marked := cw_mark_runs_rolled_up(org, 'costs', from_day, to_day);
END
$$;

DROP TABLE cost_rollup_monthly, cost_rollup_daily, cost_rollup_daily_by_service;
DROP FUNCTION cw_metric_cost(text, numeric, numeric, numeric);
DROP FUNCTION cw_grouping_dimension(text);

DELETE FROM cost_data WHERE grouping NOT IN ('account_service', 'region_service');
ALTER TABLE cost_data DROP CONSTRAINT cost_data_natural_key;
ALTER TABLE cost_data ADD CONSTRAINT cost_data_natural_key
  UNIQUE (organization_id, cost_date, grouping, service, linked_account, region);
ALTER TABLE cost_data DROP COLUMN usage_unit;
ALTER TABLE cost_data DROP COLUMN dim_value;
ALTER TABLE cost_data DROP CONSTRAINT cost_data_grouping_check;
ALTER TABLE cost_data ADD CONSTRAINT cost_data_grouping_check CHECK (grouping IN ('account_service', 'region_service'));
