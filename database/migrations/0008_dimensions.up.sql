-- Dimensions as data (lib/dimensions.ts). Every Cost Explorer grouping CostWatch fetches is
-- SERVICE x <dimension>; cost_data keeps one row per (day, grouping, service, value). The three
-- per-dimension rollup tables of 0003 become three generic ones keyed by the dimension's API name
-- (service, account, region, usage_type, record_type, tag:<key>, cost_category:<name>), carried
-- over row for row; the old table names stay as views (Grafana and SQL readers keep working).

-- cost_data: groupings beyond the first two, the value of their second key, the usage unit.
ALTER TABLE cost_data DROP CONSTRAINT cost_data_grouping_check;
ALTER TABLE cost_data ADD CONSTRAINT cost_data_grouping_check
  CHECK (grouping IN ('account_service', 'region_service', 'usage_type', 'record_type')
         OR grouping ~ '^(tag|cost_category):.+$');
-- The second GroupBy key of the groupings added here (account_service keeps it in linked_account,
-- region_service in region, as before).
ALTER TABLE cost_data ADD COLUMN dim_value text NOT NULL DEFAULT '';
-- Unit of usage_quantity as Cost Explorer reported it ('' when the group mixes units).
ALTER TABLE cost_data ADD COLUMN usage_unit text NOT NULL DEFAULT '';
ALTER TABLE cost_data DROP CONSTRAINT cost_data_natural_key;
ALTER TABLE cost_data ADD CONSTRAINT cost_data_natural_key
  UNIQUE (organization_id, cost_date, grouping, service, linked_account, region, dim_value);

-- The dimension a cost_data grouping rolls up into, and the column that holds its value.
CREATE FUNCTION cw_grouping_dimension(grp text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE grp WHEN 'account_service' THEN 'account' WHEN 'region_service' THEN 'region' ELSE grp END
$$;

-- The cost column a metric names (unblended | amortized | net_unblended); inlined by the planner.
CREATE FUNCTION cw_metric_cost(metric text, unblended numeric, amortized numeric, net_unblended numeric)
RETURNS numeric LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE metric WHEN 'amortized' THEN amortized WHEN 'net_unblended' THEN net_unblended ELSE unblended END
$$;

-- Per (org, dimension, day, service, value): what filters across dimensions read
-- (group_by=service&tag:team=payments, group_by=usage_type&service=...). Every dimension but service.
CREATE TABLE cost_rollup_daily_by_service (
  organization_id    bigint NOT NULL,
  dimension          text NOT NULL,
  day                date NOT NULL,
  service            text NOT NULL,
  key                text NOT NULL,
  unblended_cost     numeric NOT NULL,
  amortized_cost     numeric NOT NULL,
  net_unblended_cost numeric NOT NULL,
  usage_quantity     numeric NOT NULL,
  usage_unit         text NOT NULL,
  unit               text NOT NULL,
  estimated          boolean NOT NULL,
  PRIMARY KEY (organization_id, dimension, day, service, key)
);

-- Per (org, dimension, day, value): what group_by=<dimension> reads. Every dimension.
CREATE TABLE cost_rollup_daily (
  organization_id    bigint NOT NULL,
  dimension          text NOT NULL,
  day                date NOT NULL,
  key                text NOT NULL,
  unblended_cost     numeric NOT NULL,
  amortized_cost     numeric NOT NULL,
  net_unblended_cost numeric NOT NULL,
  usage_quantity     numeric NOT NULL,
  usage_unit         text NOT NULL,
  unit               text NOT NULL,
  estimated          boolean NOT NULL,
  PRIMARY KEY (organization_id, dimension, day, key)
);

-- Per (org, dimension, month, value); month is the first day of the month.
CREATE TABLE cost_rollup_monthly (
  organization_id    bigint NOT NULL,
  dimension          text NOT NULL,
  month              date NOT NULL CHECK (extract(day FROM month) = 1),
  key                text NOT NULL,
  unblended_cost     numeric NOT NULL,
  amortized_cost     numeric NOT NULL,
  net_unblended_cost numeric NOT NULL,
  usage_quantity     numeric NOT NULL,
  usage_unit         text NOT NULL,
  unit               text NOT NULL,
  estimated          boolean NOT NULL,
  days               integer NOT NULL,
  PRIMARY KEY (organization_id, dimension, month, key)
);

-- Existing rollups carried over as they are (published days only).
INSERT INTO cost_rollup_daily
SELECT organization_id, 'service', day, service, unblended_cost, amortized_cost, net_unblended_cost, usage_quantity, '', unit, estimated
  FROM cost_daily_service
UNION ALL
SELECT organization_id, 'account', day, linked_account, unblended_cost, amortized_cost, net_unblended_cost, usage_quantity, '', unit, estimated
  FROM cost_daily_account
UNION ALL
SELECT organization_id, 'region', day, region, unblended_cost, amortized_cost, net_unblended_cost, usage_quantity, '', unit, estimated
  FROM cost_daily_region;
INSERT INTO cost_rollup_monthly
SELECT organization_id, 'service', month, service, unblended_cost, amortized_cost, net_unblended_cost, usage_quantity, '', unit, estimated, days
  FROM cost_monthly_service;
-- The per-service pairs are cost_data's rows of the published days (one row per natural key).
INSERT INTO cost_rollup_daily_by_service
SELECT c.organization_id, cw_grouping_dimension(c.grouping), c.cost_date, c.service,
       CASE c.grouping WHEN 'account_service' THEN c.linked_account ELSE c.region END,
       c.unblended_cost, c.amortized_cost, c.net_unblended_cost, c.usage_quantity, '', c.unit, c.estimated
  FROM cost_data c
 WHERE EXISTS (SELECT 1 FROM cost_daily_service s WHERE s.organization_id = c.organization_id AND s.day = c.cost_date);

DROP TABLE cost_daily_service, cost_daily_account, cost_daily_region, cost_monthly_service;

-- The old rollup tables, as views with their columns in their order. Inserting into them (tests,
-- hand-made fixtures) writes the generic rows.
CREATE VIEW cost_daily_service AS
  SELECT organization_id, day, key AS service, unblended_cost, amortized_cost, net_unblended_cost, usage_quantity, unit, estimated
    FROM cost_rollup_daily WHERE dimension = 'service';
CREATE VIEW cost_daily_account AS
  SELECT organization_id, day, key AS linked_account, unblended_cost, amortized_cost, net_unblended_cost, usage_quantity, unit, estimated
    FROM cost_rollup_daily WHERE dimension = 'account';
CREATE VIEW cost_daily_region AS
  SELECT organization_id, day, key AS region, unblended_cost, amortized_cost, net_unblended_cost, usage_quantity, unit, estimated
    FROM cost_rollup_daily WHERE dimension = 'region';
CREATE VIEW cost_monthly_service AS
  SELECT organization_id, month, key AS service, unblended_cost, amortized_cost, net_unblended_cost, usage_quantity, unit, estimated, days
    FROM cost_rollup_monthly WHERE dimension = 'service';

-- INSTEAD OF INSERT on those views: TG_ARGV[0] is the dimension, TG_ARGV[1] the key column.
CREATE FUNCTION cw_insert_into_rollup_view() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  r jsonb := to_jsonb(NEW);
BEGIN
  IF r ? 'month' THEN
    INSERT INTO cost_rollup_monthly VALUES ((r->>'organization_id')::bigint, TG_ARGV[0], (r->>'month')::date, r->>TG_ARGV[1],
      (r->>'unblended_cost')::numeric, (r->>'amortized_cost')::numeric, (r->>'net_unblended_cost')::numeric,
      (r->>'usage_quantity')::numeric, '', r->>'unit', (r->>'estimated')::boolean, (r->>'days')::integer);
  ELSE
    INSERT INTO cost_rollup_daily VALUES ((r->>'organization_id')::bigint, TG_ARGV[0], (r->>'day')::date, r->>TG_ARGV[1],
      (r->>'unblended_cost')::numeric, (r->>'amortized_cost')::numeric, (r->>'net_unblended_cost')::numeric,
      (r->>'usage_quantity')::numeric, '', r->>'unit', (r->>'estimated')::boolean);
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER cost_daily_service_insert INSTEAD OF INSERT ON cost_daily_service
  FOR EACH ROW EXECUTE FUNCTION cw_insert_into_rollup_view('service', 'service');
CREATE TRIGGER cost_daily_account_insert INSTEAD OF INSERT ON cost_daily_account
  FOR EACH ROW EXECUTE FUNCTION cw_insert_into_rollup_view('account', 'linked_account');
CREATE TRIGGER cost_daily_region_insert INSTEAD OF INSERT ON cost_daily_region
  FOR EACH ROW EXECUTE FUNCTION cw_insert_into_rollup_view('region', 'region');
CREATE TRIGGER cost_monthly_service_insert INSTEAD OF INSERT ON cost_monthly_service
  FOR EACH ROW EXECUTE FUNCTION cw_insert_into_rollup_view('service', 'service');

-- cw_rebuild_cost_rollups(org, from, to): under the org's rollup lock, recomputes every dimension's
-- rollups for [from, to) from cost_data (whatever groupings were loaded: the registry decides what
-- is fetched), the monthly rows of the months those days fall in, and marks the cost runs it
-- published. The service dimension comes from the SERVICE x LINKED_ACCOUNT grouping. Returns rollup
-- rows written and runs marked.
ALTER FUNCTION cw_rebuild_cost_rollups(bigint, date, date) RENAME TO cw_rebuild_cost_rollups_0004;
CREATE FUNCTION cw_rebuild_cost_rollups(org bigint, from_day date, to_day date, OUT rows_written bigint, OUT runs_marked integer)
LANGUAGE plpgsql AS $$
DECLARE
  month_from date := date_trunc('month', from_day)::date;
  month_to   date := (date_trunc('month', to_day - 1) + interval '1 month')::date;
  n bigint;
BEGIN
  PERFORM pg_advisory_xact_lock(1003, org::integer);
  DELETE FROM cost_rollup_daily_by_service WHERE organization_id = org AND day >= from_day AND day < to_day;
  INSERT INTO cost_rollup_daily_by_service
  SELECT organization_id, cw_grouping_dimension(grouping), cost_date, service,
         CASE grouping WHEN 'account_service' THEN linked_account WHEN 'region_service' THEN region ELSE dim_value END,
         sum(unblended_cost), sum(amortized_cost), sum(net_unblended_cost), sum(usage_quantity),
         CASE WHEN min(usage_unit) = max(usage_unit) THEN min(usage_unit) ELSE '' END, min(unit), bool_or(estimated)
    FROM cost_data WHERE organization_id = org AND cost_date >= from_day AND cost_date < to_day
   GROUP BY 1, 2, 3, 4, 5;
  GET DIAGNOSTICS n = ROW_COUNT;
  rows_written := n;

  DELETE FROM cost_rollup_daily WHERE organization_id = org AND day >= from_day AND day < to_day;
  INSERT INTO cost_rollup_daily
  SELECT organization_id, d.dimension, day, d.key,
         sum(unblended_cost), sum(amortized_cost), sum(net_unblended_cost), sum(usage_quantity),
         CASE WHEN min(usage_unit) = max(usage_unit) THEN min(usage_unit) ELSE '' END, min(unit), bool_or(estimated)
    FROM cost_rollup_daily_by_service
   CROSS JOIN LATERAL (VALUES (dimension, key), (CASE WHEN dimension = 'account' THEN 'service' END, service)) AS d(dimension, key)
   WHERE organization_id = org AND day >= from_day AND day < to_day AND d.dimension IS NOT NULL
   GROUP BY organization_id, d.dimension, day, d.key;
  GET DIAGNOSTICS n = ROW_COUNT;
  rows_written := rows_written + n;

  DELETE FROM cost_rollup_monthly WHERE organization_id = org AND month >= month_from AND month < month_to;
  INSERT INTO cost_rollup_monthly
  SELECT organization_id, dimension, date_trunc('month', day)::date, key,
         sum(unblended_cost), sum(amortized_cost), sum(net_unblended_cost), sum(usage_quantity),
         CASE WHEN min(usage_unit) = max(usage_unit) THEN min(usage_unit) ELSE '' END, min(unit), bool_or(estimated),
         count(DISTINCT day)::int
    FROM cost_rollup_daily WHERE organization_id = org AND day >= month_from AND day < month_to
   GROUP BY organization_id, dimension, date_trunc('month', day), key;
  GET DIAGNOSTICS n = ROW_COUNT;
  rows_written := rows_written + n;

  runs_marked := cw_mark_runs_rolled_up(org, 'costs', from_day, to_day);
END
$$;

-- Display names of linked accounts, from the DimensionValueAttributes of the SERVICE x
-- LINKED_ACCOUNT query (no extra request); replaced on every cost fetch, so a rename shows.
CREATE TABLE aws_account_names (
  organization_id bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  account_id      text NOT NULL,
  name            text NOT NULL,
  updated_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, account_id)
);

-- The optional dimensions an organization tracks; each adds one SERVICE x <dimension> query per
-- fetch window. Tag keys and cost category names are case-sensitive, as in AWS.
CREATE TABLE organization_dimensions (
  organization_id bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  dimension       text NOT NULL CHECK (dimension = 'usage_type' OR dimension ~ '^(tag|cost_category):.+$'),
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, dimension)
);
