DROP FUNCTION IF EXISTS ensure_monthly_partitions(text, date, date);
DROP TABLE IF EXISTS cloudwatch_metrics;
DROP TABLE IF EXISTS cost_data;
