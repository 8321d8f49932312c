-- Budgets with thresholds, notification channels, alerts (fired once per budget, period start,
-- threshold and kind: the unique key decides, across replicas, retries and crashes), the
-- notification outbox (one row per delivery: its id is the idempotency key) and the delivery log.

CREATE TABLE budgets (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  organization_id bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  -- calendar periods, UTC
  period          text NOT NULL CHECK (period IN ('monthly', 'quarterly', 'annual')),
  amount          numeric NOT NULL CHECK (amount > 0),
  -- Cost Explorer's unit; the API refuses any other
  currency        text NOT NULL DEFAULT 'USD' CHECK (currency = 'USD'),
  metric          text NOT NULL CHECK (metric IN ('unblended', 'amortized', 'net_unblended')),
  -- dimension filters: {"service": ["Amazon EC2", ...]}; {} is the whole organization
  scope           jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(scope) = 'object'),
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX budgets_org_name_key ON budgets (organization_id, lower(name));

CREATE TABLE budget_thresholds (
  id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  budget_id bigint NOT NULL REFERENCES budgets (id) ON DELETE CASCADE,
  percent   numeric(7, 2) NOT NULL CHECK (percent >= 1 AND percent <= 1000),
  kind      text NOT NULL CHECK (kind IN ('actual', 'forecasted')),
  UNIQUE (budget_id, percent, kind)
);

CREATE TABLE notification_channels (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  organization_id bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  type            text NOT NULL CHECK (type IN ('webhook', 'email')),
  -- webhook
  url             text CHECK (url ~ '^https?://' AND length(url) <= 2048),
  signing_secret  text CHECK (length(signing_secret) BETWEEN 16 AND 512), -- write-only: never returned nor logged
  format          text CHECK (format IN ('json', 'slack')),
  -- email: recipients, and SMTP settings overriding the deployment's SMTP_* config (all optional)
  recipients      text[] CHECK (cardinality(recipients) BETWEEN 1 AND 50),
  smtp_host       text,
  smtp_port       integer CHECK (smtp_port BETWEEN 1 AND 65535),
  smtp_secure     boolean,
  smtp_username   text,
  smtp_password   text, -- write-only: never returned nor logged
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  CHECK (
    (type = 'webhook' AND url IS NOT NULL AND signing_secret IS NOT NULL AND format IS NOT NULL AND recipients IS NULL)
    OR (type = 'email' AND recipients IS NOT NULL AND url IS NULL AND signing_secret IS NULL AND format IS NULL)
  )
);
CREATE UNIQUE INDEX notification_channels_org_name_key ON notification_channels (organization_id, lower(name));

CREATE TABLE budget_channels (
  budget_id  bigint NOT NULL REFERENCES budgets (id) ON DELETE CASCADE,
  channel_id bigint NOT NULL REFERENCES notification_channels (id) ON DELETE CASCADE,
  PRIMARY KEY (budget_id, channel_id)
);
CREATE INDEX budget_channels_channel_idx ON budget_channels (channel_id);

-- One row per (budget, period start, threshold, kind), inserted with ON CONFLICT DO NOTHING: the
-- row's existence is "fired". Later evaluations only record where spend stands (restatements).
CREATE TABLE budget_alerts (
  id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  organization_id   bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  budget_id         bigint NOT NULL REFERENCES budgets (id) ON DELETE CASCADE,
  period_start      date NOT NULL,
  period_end        date NOT NULL, -- exclusive
  threshold_percent numeric(7, 2) NOT NULL,
  kind              text NOT NULL CHECK (kind IN ('actual', 'forecasted')),
  budget_amount     numeric NOT NULL,
  currency          text NOT NULL,
  threshold_amount  numeric NOT NULL,
  -- the actual (kind actual) or forecasted spend that crossed, and both figures at that moment
  spend_at_fire     numeric NOT NULL,
  actual_at_fire    numeric NOT NULL,
  forecast_at_fire  numeric,
  fired_at          timestamptz NOT NULL,
  -- the latest evaluation's spend of this kind; below_since is set while it is under the threshold
  current_spend     numeric NOT NULL,
  below_since       timestamptz,
  first_below_at    timestamptz,
  restatements      integer NOT NULL DEFAULT 0, -- times spend fell back under the threshold
  last_evaluated_at timestamptz,
  UNIQUE (budget_id, period_start, threshold_percent, kind)
);
CREATE INDEX budget_alerts_org_fired_idx ON budget_alerts (organization_id, fired_at DESC, id DESC);

-- The outbox: one row per (channel, source event). id is the delivery id, sent as
-- X-CostWatch-Delivery on every attempt (the receiver's idempotency key).
CREATE TABLE notification_outbox (
  id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id    bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  channel_id         bigint NOT NULL REFERENCES notification_channels (id) ON DELETE CASCADE,
  alert_id           bigint REFERENCES budget_alerts (id) ON DELETE SET NULL,
  -- what this notifies about, e.g. budget_alert_42 or anomaly_7_opened: unique per channel
  source_key         text NOT NULL CHECK (length(source_key) BETWEEN 1 AND 200),
  type               text NOT NULL CHECK (type IN ('budget.threshold_crossed', 'anomaly.opened', 'anomaly.updated', 'test')),
  data               jsonb NOT NULL,
  status             text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sending', 'delivered', 'failed')),
  attempts           integer NOT NULL DEFAULT 0,
  next_attempt_at    timestamptz NOT NULL DEFAULT now(),
  -- while sending: another worker may take the delivery over only after this
  lease_until        timestamptz,
  last_response_code integer,
  last_error         text,
  deadline_at        timestamptz NOT NULL,
  created_at         timestamptz NOT NULL DEFAULT now(),
  delivered_at       timestamptz,
  failed_at          timestamptz,
  UNIQUE (channel_id, source_key)
);
CREATE INDEX notification_outbox_due_idx ON notification_outbox (next_attempt_at) WHERE status IN ('pending', 'sending');
CREATE INDEX notification_outbox_alert_idx ON notification_outbox (alert_id) WHERE alert_id IS NOT NULL;
CREATE INDEX notification_outbox_org_idx ON notification_outbox (organization_id, created_at DESC);

-- The delivery log: one row per attempt.
CREATE TABLE notification_attempts (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  delivery_id   uuid NOT NULL REFERENCES notification_outbox (id) ON DELETE CASCADE,
  attempt       integer NOT NULL,
  outcome       text NOT NULL CHECK (outcome IN ('delivered', 'retry', 'failed')),
  response_code integer,
  error         text,
  duration_ms   integer,
  finished_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notification_attempts_delivery_idx ON notification_attempts (delivery_id, attempt);
