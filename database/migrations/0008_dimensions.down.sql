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

-- 0004's routine, kept aside by the up migration.
DROP FUNCTION cw_rebuild_cost_rollups(bigint, date, date);
ALTER FUNCTION cw_rebuild_cost_rollups_0004(bigint, date, date) RENAME TO cw_rebuild_cost_rollups;

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
