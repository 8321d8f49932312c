DROP FUNCTION IF EXISTS cw_rebuild_metric_rollups(bigint, date, date);
DROP FUNCTION IF EXISTS cw_rebuild_cost_rollups(bigint, date, date);
DROP FUNCTION IF EXISTS cw_mark_runs_rolled_up(bigint, text, date, date);
DROP FUNCTION IF EXISTS cw_clear_metrics_window(bigint, date, date);
DROP FUNCTION IF EXISTS cw_clear_cost_window(bigint, date, date);
