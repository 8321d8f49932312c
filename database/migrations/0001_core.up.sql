-- Organizations (one AWS payer account each), their users, and the fetch-run ledger.

CREATE TABLE organizations (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  aws_account_id  char(12) NOT NULL CHECK (aws_account_id ~ '^[0-9]{12}$'),
  role_arn        text CHECK (role_arn ~ '^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$' AND length(role_arn) <= 2048),
  external_id     text CHECK (external_id ~ '^[A-Za-z0-9+=,.@:/_-]+$' AND length(external_id) BETWEEN 2 AND 1224),
  -- active: refreshed on schedule; disabled: by an operator; access_denied / error: stopped by the pipeline
  status          text NOT NULL DEFAULT 'active'
                  CHECK (status IN ('active', 'disabled', 'access_denied', 'error')),
  last_error      text,
  last_error_remedy text,
  last_error_at   timestamptz,
  last_success_at timestamptz,
  -- earliest day AWS still flagged Estimated in the last load: re-fetched by the next refresh
  estimated_from  date,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  CHECK (external_id IS NULL OR role_arn IS NOT NULL)
);
CREATE UNIQUE INDEX organizations_name_key ON organizations (lower(name));

CREATE TABLE users (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  organization_id bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  email           text NOT NULL CHECK (email = lower(email) AND email ~ '^[^@\s]+@[^@\s]+$' AND length(email) <= 254),
  password_hash   text NOT NULL CHECK (password_hash ~ '^\$2[aby]\$'),
  role            text NOT NULL CHECK (role IN ('viewer', 'admin', 'operator')),
  disabled_at     timestamptz,
  last_login_at   timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (email);
CREATE INDEX users_organization_idx ON users (organization_id);

-- One row per fetch job attempt: what was asked of AWS and what came of it.
CREATE TABLE fetch_runs (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  organization_id bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  source          text NOT NULL CHECK (source IN ('costs', 'metrics')),
  window_start    date NOT NULL,
  window_end      date NOT NULL,           -- exclusive, as AWS's TimePeriod.End
  status          text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'retrying', 'throttled', 'interrupted')),
  trigger         text NOT NULL CHECK (trigger IN ('scheduled', 'backfill', 'manual')),
  job_id          text,
  attempt         integer NOT NULL DEFAULT 1,
  backfill_id     text,
  rows_loaded     bigint NOT NULL DEFAULT 0,
  aws_requests    integer NOT NULL DEFAULT 0,
  -- {"GetCostAndUsage": 3, ...}: requests per operation, for the per-org AWS bill
  aws_requests_by_operation jsonb NOT NULL DEFAULT '{}'::jsonb,
  started_at      timestamptz NOT NULL DEFAULT now(),
  finished_at     timestamptz,
  duration_ms     integer,
  rolled_up_at    timestamptz,
  error           text,
  CHECK (window_end > window_start)
);
CREATE INDEX fetch_runs_org_started_idx ON fetch_runs (organization_id, started_at DESC, id DESC);
CREATE INDEX fetch_runs_backfill_idx ON fetch_runs (backfill_id) WHERE backfill_id IS NOT NULL;
