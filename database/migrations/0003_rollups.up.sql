-- Rollups the API reads. Rebuilt by the rollup worker for exactly the (organization, day) pairs a
-- load touched; monthly rows for the months those days fall in.

CREATE TABLE cost_daily_service (
  organization_id    bigint NOT NULL,
  day                date NOT NULL,
  service            text NOT NULL,
  unblended_cost     numeric NOT NULL,
  amortized_cost     numeric NOT NULL,
  net_unblended_cost numeric NOT NULL,
  usage_quantity     numeric NOT NULL,
  unit               text NOT NULL,
  estimated          boolean NOT NULL,
  PRIMARY KEY (organization_id, day, service)
);

CREATE TABLE cost_daily_account (
  organization_id    bigint NOT NULL,
  day                date NOT NULL,
  linked_account     text NOT NULL,
  unblended_cost     numeric NOT NULL,
  amortized_cost     numeric NOT NULL,
  net_unblended_cost numeric NOT NULL,
  usage_quantity     numeric NOT NULL,
  unit               text NOT NULL,
  estimated          boolean NOT NULL,
  PRIMARY KEY (organization_id, day, linked_account)
);

CREATE TABLE cost_daily_region (
  organization_id    bigint NOT NULL,
  day                date NOT NULL,
  region             text NOT NULL,
  unblended_cost     numeric NOT NULL,
  amortized_cost     numeric NOT NULL,
  net_unblended_cost numeric NOT NULL,
  usage_quantity     numeric NOT NULL,
  unit               text NOT NULL,
  estimated          boolean NOT NULL,
  PRIMARY KEY (organization_id, day, region)
);

-- month is the first day of the month.
CREATE TABLE cost_monthly_service (
  organization_id    bigint NOT NULL,
  month              date NOT NULL CHECK (extract(day FROM month) = 1),
  service            text NOT NULL,
  unblended_cost     numeric NOT NULL,
  amortized_cost     numeric NOT NULL,
  net_unblended_cost numeric NOT NULL,
  usage_quantity     numeric NOT NULL,
  unit               text NOT NULL,
  estimated          boolean NOT NULL,
  days               integer NOT NULL,
  PRIMARY KEY (organization_id, month, service)
);

-- Daily utilisation per resource and metric, from cloudwatch_metrics (Average and Maximum stats).
CREATE TABLE metric_daily (
  organization_id bigint NOT NULL,
  day             date NOT NULL,
  namespace       text NOT NULL,
  resource_id     text NOT NULL,
  metric_name     text NOT NULL,
  avg_value       double precision,
  max_value       double precision,
  samples         integer NOT NULL,
  unit            text NOT NULL,
  PRIMARY KEY (organization_id, day, namespace, resource_id, metric_name)
);

-- Cost Explorer forecasts, one row per organization and month (replaced on each refresh).
-- amount / bounds: the projected total of the whole month = month-to-date unblended cost at
-- fetched_at + GetCostForecast's mean (and prediction interval) for the rest of the month.
CREATE TABLE cost_forecasts (
  organization_id bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  month           date NOT NULL CHECK (extract(day FROM month) = 1),
  amount          numeric NOT NULL,
  lower_bound     numeric,
  upper_bound     numeric,
  unit            text NOT NULL,
  fetched_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, month)
);
