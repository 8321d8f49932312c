DROP TABLE IF EXISTS anomaly_notifications;
DROP TABLE IF EXISTS anomaly_subscriptions;
DROP TABLE IF EXISTS anomaly_suppressions;
DROP TABLE IF EXISTS anomalies;
DROP TABLE IF EXISTS anomaly_settings;
