DROP FUNCTION IF EXISTS cw_record_cost_load(bigint, bigint, date, date, date, bigint, integer, jsonb);
DROP TABLE IF EXISTS forecast_runs;
DROP TABLE IF EXISTS forecast_refreshes;
