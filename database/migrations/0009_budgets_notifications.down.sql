DROP TABLE IF EXISTS notification_attempts;
DROP TABLE IF EXISTS notification_outbox;
DROP TABLE IF EXISTS budget_alerts;
DROP TABLE IF EXISTS budget_channels;
DROP TABLE IF EXISTS notification_channels;
DROP TABLE IF EXISTS budget_thresholds;
DROP TABLE IF EXISTS budgets;
