-- Server-side routines for the writes every fetch and rollup job makes. Each one replaces several
-- statements, and as many client round trips, with one call; plpgsql also caches their plans.

-- cw_clear_cost_window(org, from, to): inside a load's transaction, takes the org's cost loader
-- lock (one loader per organization at a time: a retried or duplicate job waits, then replaces)
-- and deletes the org's cost_data rows in [from, to), before the new rows are COPYed in.
CREATE FUNCTION cw_clear_cost_window(org bigint, from_day date, to_day date)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(1001, org::integer);
  DELETE FROM cost_data WHERE organization_id = org AND cost_date >= from_day AND cost_date < to_day;
END
$$;

-- cw_clear_metrics_window(org, from, to): the same for cloudwatch_metrics, ts in the UTC days [from, to).
CREATE FUNCTION cw_clear_metrics_window(org bigint, from_day date, to_day date)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(1002, org::integer);
  DELETE FROM cloudwatch_metrics WHERE organization_id = org
    AND ts >= (from_day::timestamp AT TIME ZONE 'UTC') AND ts < (to_day::timestamp AT TIME ZONE 'UTC');
END
$$;

-- cw_mark_runs_rolled_up(org, source, from, to): called last in a rollup's transaction: every
-- succeeded run inside [from, to) that finished before the transaction began is now visible
-- through the API. Returns the runs marked.
CREATE FUNCTION cw_mark_runs_rolled_up(org bigint, run_source text, from_day date, to_day date)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
  marked integer;
BEGIN
  UPDATE fetch_runs SET rolled_up_at = now()
  WHERE organization_id = org AND source = run_source AND status = 'succeeded' AND rolled_up_at IS NULL
    AND window_start >= from_day AND window_end <= to_day AND finished_at <= now();
  GET DIAGNOSTICS marked = ROW_COUNT;
  RETURN marked;
END
$$;

-- cw_rebuild_cost_rollups(org, from, to): under the org's rollup lock, recomputes
-- cost_daily_service / _account / _region for [from, to) from cost_data (each from its grouping)
-- and cost_monthly_service for every month those days fall in, then marks the cost runs it
-- published. Returns rollup rows written and runs marked. (Migration 0008 keeps this routine as
-- cw_rebuild_cost_rollups_0004 for its rollback and replaces it with the dimension-driven one.)
CREATE FUNCTION cw_rebuild_cost_rollups(org bigint, from_day date, to_day date, OUT rows_written bigint, OUT runs_marked integer)
LANGUAGE plpgsql AS $$
DECLARE
  month_from date := date_trunc('month', from_day)::date;
  month_to   date := (date_trunc('month', to_day - 1) + interval '1 month')::date;
  t record;
  n bigint;
BEGIN
  PERFORM pg_advisory_xact_lock(1003, org::integer);
  rows_written := 0;
  FOR t IN SELECT * FROM (VALUES ('cost_daily_service', 'service', 'account_service'),
                                 ('cost_daily_account', 'linked_account', 'account_service'),
                                 ('cost_daily_region', 'region', 'region_service')) AS v(tbl, col, grp) LOOP
    EXECUTE format('DELETE FROM %I WHERE organization_id = $1 AND day >= $2 AND day < $3', t.tbl) USING org, from_day, to_day;
    EXECUTE format('INSERT INTO %I SELECT organization_id, cost_date, %I, sum(unblended_cost), sum(amortized_cost), '
                   'sum(net_unblended_cost), sum(usage_quantity), min(unit), bool_or(estimated) FROM cost_data '
                   'WHERE organization_id = $1 AND cost_date >= $2 AND cost_date < $3 AND grouping = $4 GROUP BY 1, 2, 3',
                   t.tbl, t.col) USING org, from_day, to_day, t.grp;
    GET DIAGNOSTICS n = ROW_COUNT;
    rows_written := rows_written + n;
  END LOOP;
  DELETE FROM cost_monthly_service WHERE organization_id = org AND month >= month_from AND month < month_to;
  INSERT INTO cost_monthly_service
  SELECT organization_id, date_trunc('month', day)::date, service, sum(unblended_cost), sum(amortized_cost),
         sum(net_unblended_cost), sum(usage_quantity), min(unit), bool_or(estimated), count(DISTINCT day)::int
    FROM cost_daily_service WHERE organization_id = org AND day >= month_from AND day < month_to
   GROUP BY 1, 2, 3;
  GET DIAGNOSTICS n = ROW_COUNT;
  rows_written := rows_written + n;
  runs_marked := cw_mark_runs_rolled_up(org, 'costs', from_day, to_day);
END
$$;


-- cw_rebuild_metric_rollups(org, from, to): under the org's metric rollup lock, recomputes
-- metric_daily (average of Average, max of Maximum per resource, metric and UTC day) for
-- [from, to), then marks the metric runs it published. Returns rollup rows written and runs marked.
CREATE FUNCTION cw_rebuild_metric_rollups(org bigint, from_day date, to_day date, OUT rows_written bigint, OUT runs_marked integer)
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(1004, org::integer);
  DELETE FROM metric_daily WHERE organization_id = org AND day >= from_day AND day < to_day;
  INSERT INTO metric_daily (organization_id, day, namespace, resource_id, metric_name, avg_value, max_value, samples, unit)
  SELECT organization_id, (ts AT TIME ZONE 'UTC')::date, namespace, resource_id, metric_name,
         avg(value) FILTER (WHERE stat = 'Average'), max(value) FILTER (WHERE stat = 'Maximum'),
         count(*) FILTER (WHERE stat = 'Average')::int, min(unit)
  FROM cloudwatch_metrics
  WHERE organization_id = org AND ts >= (from_day::timestamp AT TIME ZONE 'UTC') AND ts < (to_day::timestamp AT TIME ZONE 'UTC')
  GROUP BY organization_id, (ts AT TIME ZONE 'UTC')::date, namespace, resource_id, metric_name;
  GET DIAGNOSTICS rows_written = ROW_COUNT;
  runs_marked := cw_mark_runs_rolled_up(org, 'metrics', from_day, to_day);
END
$$;
