DROP TABLE IF EXISTS cost_forecasts;
DROP TABLE IF EXISTS metric_daily;
DROP TABLE IF EXISTS cost_monthly_service;
DROP TABLE IF EXISTS cost_daily_region;
DROP TABLE IF EXISTS cost_daily_account;
DROP TABLE IF EXISTS cost_daily_service;
