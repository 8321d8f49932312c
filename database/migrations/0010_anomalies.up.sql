-- Anomaly detection (issue 16): per-org settings, the anomalies found on the daily rollups, the
-- suppressions a `no` feedback sets, subscriptions, and the notification decisions (one row per
-- anomaly, subscription and level: the unique key makes each alert decided once, whatever the
-- replicas, retries or crashes).

CREATE TABLE anomaly_settings (
  organization_id     bigint PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
  -- a flagged day's excess must reach both minimums (currency units, fraction of the baseline)
  min_impact_absolute numeric NOT NULL DEFAULT 10 CHECK (min_impact_absolute >= 0),
  min_impact_relative numeric NOT NULL DEFAULT 0.2 CHECK (min_impact_relative >= 0),
  z_threshold         numeric NOT NULL DEFAULT 3.5 CHECK (z_threshold > 0),
  detect_drops        boolean NOT NULL DEFAULT false,
  updated_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE anomalies (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  organization_id bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  -- the series: dimension (service, account, ...) and its value
  dimension       text NOT NULL CHECK (dimension ~ '^[a-z_]+(:.+)?$' AND length(dimension) <= 300),
  key             text NOT NULL CHECK (length(key) <= 1024),
  kind            text NOT NULL CHECK (kind IN ('spike', 'drop', 'new_spend')),
  start_day       date NOT NULL,
  end_day         date NOT NULL CHECK (end_day >= start_day),
  -- sum over the flagged days of (actual - baseline); negative for drops
  impact          numeric NOT NULL,
  expected        numeric NOT NULL,
  actual          numeric NOT NULL,
  unit            text NOT NULL DEFAULT 'USD',
  -- max |modified z-score| of the flagged days; null for new_spend
  max_score       double precision,
  status          text NOT NULL CHECK (status IN ('open', 'provisional', 'withdrawn', 'closed')),
  withdrawn_reason text CHECK (withdrawn_reason IN ('restated', 'merged')),
  -- [{dimension, service, linked_account, region, usage_type, impact: {contribution, share}}]
  root_causes     jsonb NOT NULL DEFAULT '[]'::jsonb,
  feedback        text CHECK (feedback IN ('yes', 'no', 'planned')),
  feedback_at     timestamptz,
  feedback_user_id bigint REFERENCES users (id) ON DELETE SET NULL,
  -- from the injected clock
  detected_at     timestamptz NOT NULL,
  updated_at      timestamptz NOT NULL,
  CHECK ((status = 'withdrawn') = (withdrawn_reason IS NOT NULL))
);
CREATE INDEX anomalies_org_start_idx ON anomalies (organization_id, start_day DESC, id DESC);
CREATE INDEX anomalies_series_idx ON anomalies (organization_id, end_day, start_day);

-- A `no` feedback: no new anomaly of that series is opened before `until`.
CREATE TABLE anomaly_suppressions (
  organization_id bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  dimension       text NOT NULL,
  key             text NOT NULL,
  until           timestamptz NOT NULL,
  anomaly_id      bigint REFERENCES anomalies (id) ON DELETE SET NULL,
  created_at      timestamptz NOT NULL,
  PRIMARY KEY (organization_id, dimension, key)
);

-- Who hears of anomalies: the org's notification channels (notification_channels ids), for
-- anomalies whose impact reaches min_impact.
CREATE TABLE anomaly_subscriptions (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  organization_id bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  min_impact      numeric NOT NULL DEFAULT 0 CHECK (min_impact >= 0),
  channel_ids     bigint[] NOT NULL CHECK (cardinality(channel_ids) BETWEEN 1 AND 20),
  enabled         boolean NOT NULL DEFAULT true,
  created_at      timestamptz NOT NULL,
  updated_at      timestamptz NOT NULL
);
CREATE INDEX anomaly_subscriptions_org_idx ON anomaly_subscriptions (organization_id);

-- One decided alert: level 0 when the anomaly opens (anomaly.opened), level k when its impact
-- reached 2^k x the impact it opened with (anomaly.updated). The outbox takes it from here
-- (enqueued_at set once handed over).
CREATE TABLE anomaly_notifications (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  organization_id bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  anomaly_id      bigint NOT NULL REFERENCES anomalies (id) ON DELETE CASCADE,
  subscription_id bigint NOT NULL REFERENCES anomaly_subscriptions (id) ON DELETE CASCADE,
  level           integer NOT NULL CHECK (level >= 0),
  type            text NOT NULL CHECK (type IN ('anomaly.opened', 'anomaly.updated')),
  impact          numeric NOT NULL,
  channel_ids     bigint[] NOT NULL,
  idempotency_key text NOT NULL UNIQUE,
  data            jsonb NOT NULL,
  decided_at      timestamptz NOT NULL,
  enqueued_at     timestamptz,
  UNIQUE (anomaly_id, subscription_id, level)
);
CREATE INDEX anomaly_notifications_pending_idx ON anomaly_notifications (decided_at) WHERE enqueued_at IS NULL;
