-- The forecast is its own unit of work (the fetch-forecast job), with its own status and ledger,
-- and a cost load records its success inside its own transaction, keeping the earliest
-- Estimated day across windows that commit in any order.

-- forecast_refreshes: one row per organization, the state of its daily GetCostForecast.
CREATE TABLE forecast_refreshes (
  organization_id bigint PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
  -- unavailable: AWS has too little history to forecast (DataUnavailableException), not an error
  status          text NOT NULL CHECK (status IN ('running', 'succeeded', 'unavailable', 'retrying', 'failed')),
  forecast_day    date NOT NULL,            -- the "today" of the latest attempt
  -- the last successful forecast: its period [period_start, period_end) and values (null: unavailable)
  period_start    date,
  period_end      date,
  mean            numeric,
  lower_bound     numeric,
  upper_bound     numeric,
  unit            text,
  attempts        integer NOT NULL DEFAULT 0, -- attempts of the current day's forecast
  last_error      text,
  last_error_at   timestamptz,
  last_success_at timestamptz,
  updated_at      timestamptz NOT NULL DEFAULT now()
);

-- forecast_runs: one row per forecast attempt, with its AWS requests (the ingestion usage counts them).
CREATE TABLE forecast_runs (
  id                        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  organization_id           bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  forecast_day              date NOT NULL,
  status                    text NOT NULL CHECK (status IN ('running', 'succeeded', 'unavailable', 'retrying', 'failed', 'interrupted')),
  job_id                    text,
  attempt                   integer NOT NULL,
  aws_requests              integer NOT NULL DEFAULT 0,
  aws_requests_by_operation jsonb NOT NULL DEFAULT '{}'::jsonb,
  error                     text,
  started_at                timestamptz NOT NULL DEFAULT now(),
  finished_at               timestamptz
);
CREATE INDEX forecast_runs_org_started_idx ON forecast_runs (organization_id, started_at DESC);

-- cw_record_cost_load(org, run, from, to, window's earliest Estimated day, rows, AWS requests, per operation): called last in a cost
-- load's transaction, which holds the org's loader lock (cw_clear_cost_window), so loads and their
-- bookkeeping of one org are serialised and this sees every load committed before it. Marks the run
-- succeeded (it commits with the rows: a committed load is never re-fetched), records the org's
-- success, and keeps organizations.estimated_from the earliest day still Estimated:
--   * the remembered day is outside [from, to): it stays, or an earlier Estimated day of this window wins;
--   * it is inside [from, to): this window re-read it, so its earliest Estimated day replaces it, or,
--     when every day of the window came back final, the earliest Estimated day stored after the window
--     (another window's), else none.
-- Returns the new estimated_from.
CREATE FUNCTION cw_record_cost_load(org bigint, run bigint, from_day date, to_day date, window_estimated date,
                                    loaded_rows bigint, request_total integer, requests jsonb)
RETURNS date LANGUAGE plpgsql AS $$
DECLARE
  result date;
BEGIN
  UPDATE organizations o SET
    estimated_from = CASE
      WHEN o.estimated_from IS NULL OR o.estimated_from < from_day OR o.estimated_from >= to_day
        THEN LEAST(o.estimated_from, window_estimated)
      ELSE coalesce(window_estimated,
        (SELECT min(c.cost_date) FROM cost_data c
          WHERE c.organization_id = org AND c.cost_date >= to_day AND c.estimated))
    END,
    last_success_at = now(), updated_at = now()
  WHERE o.id = org
  RETURNING o.estimated_from INTO result;
  IF run IS NOT NULL THEN
    UPDATE fetch_runs SET status = 'succeeded', rows_loaded = loaded_rows, error = NULL,
      aws_requests = request_total, aws_requests_by_operation = requests, finished_at = now(),
      duration_ms = (extract(epoch FROM now() - started_at) * 1000)::int
    WHERE id = run;
  END IF;
  RETURN result;
END
$$;
