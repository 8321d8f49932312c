-- Back to 0011: without NetAmortizedCost. The net amortized amounts fetched since 0012 are dropped
-- with their columns (a later `migrate up` starts them NULL again: re-fetch to fill them); every
-- other column and row stays as it is.
DROP FUNCTION cw_rebuild_cost_rollups(bigint, date, date);
ALTER FUNCTION cw_rebuild_cost_rollups_0008(bigint, date, date) RENAME TO cw_rebuild_cost_rollups;

-- The views of 0008 (CREATE OR REPLACE cannot drop a column: recreated with their triggers).
DROP VIEW cost_daily_service, cost_daily_account, cost_daily_region, cost_monthly_service;
CREATE VIEW cost_daily_service AS
  SELECT organization_id, day, key AS service, unblended_cost, amortized_cost, net_unblended_cost, usage_quantity, unit, estimated
    FROM cost_rollup_daily WHERE dimension = 'service';
CREATE VIEW cost_daily_account AS
  SELECT organization_id, day, key AS linked_account, unblended_cost, amortized_cost, net_unblended_cost, usage_quantity, unit, estimated
    FROM cost_rollup_daily WHERE dimension = 'account';
CREATE VIEW cost_daily_region AS
  SELECT organization_id, day, key AS region, unblended_cost, amortized_cost, net_unblended_cost, usage_quantity, unit, estimated
    FROM cost_rollup_daily WHERE dimension = 'region';
CREATE VIEW cost_monthly_service AS
  SELECT organization_id, month, key AS service, unblended_cost, amortized_cost, net_unblended_cost, usage_quantity, unit, estimated, days
    FROM cost_rollup_monthly WHERE dimension = 'service';

CREATE OR REPLACE FUNCTION cw_insert_into_rollup_view() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  r jsonb := to_jsonb(NEW);
BEGIN
  IF r ? 'month' THEN
    INSERT INTO cost_rollup_monthly VALUES ((r->>'organization_id')::bigint, TG_ARGV[0], (r->>'month')::date, r->>TG_ARGV[1],
      (r->>'unblended_cost')::numeric, (r->>'amortized_cost')::numeric, (r->>'net_unblended_cost')::numeric,
      (r->>'usage_quantity')::numeric, '', r->>'unit', (r->>'estimated')::boolean, (r->>'days')::integer);
  ELSE
    INSERT INTO cost_rollup_daily VALUES ((r->>'organization_id')::bigint, TG_ARGV[0], (r->>'day')::date, r->>TG_ARGV[1],
      (r->>'unblended_cost')::numeric, (r->>'amortized_cost')::numeric, (r->>'net_unblended_cost')::numeric,
      (r->>'usage_quantity')::numeric, '', r->>'unit', (r->>'estimated')::boolean);
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER cost_daily_service_insert INSTEAD OF INSERT ON cost_daily_service
  FOR EACH ROW EXECUTE FUNCTION cw_insert_into_rollup_view('service', 'service');
CREATE TRIGGER cost_daily_account_insert INSTEAD OF INSERT ON cost_daily_account
  FOR EACH ROW EXECUTE FUNCTION cw_insert_into_rollup_view('account', 'linked_account');
CREATE TRIGGER cost_daily_region_insert INSTEAD OF INSERT ON cost_daily_region
  FOR EACH ROW EXECUTE FUNCTION cw_insert_into_rollup_view('region', 'region');
CREATE TRIGGER cost_monthly_service_insert INSTEAD OF INSERT ON cost_monthly_service
  FOR EACH ROW EXECUTE FUNCTION cw_insert_into_rollup_view('service', 'service');

DROP FUNCTION cw_metric_cost(text, numeric, numeric, numeric, numeric);

ALTER TABLE cost_rollup_monthly DROP COLUMN net_amortized_cost;
ALTER TABLE cost_rollup_daily DROP COLUMN net_amortized_cost;
ALTER TABLE cost_rollup_daily_by_service DROP COLUMN net_amortized_cost;
ALTER TABLE cost_data DROP COLUMN net_amortized_cost;
