-- Cost Explorer rows, range-partitioned by month on cost_date, and the routine that creates
-- partitions on demand. There is deliberately no DEFAULT partition: a row for a month without a
-- partition is an error, never silently parked.

-- Cost Explorer allows two GroupBy dimensions per query, so each day is stored twice, once per
-- grouping: SERVICE x LINKED_ACCOUNT ('account_service', region = '') and SERVICE x REGION
-- ('region_service', linked_account = ''). Sum within one grouping, never across both.
CREATE TABLE cost_data (
  organization_id    bigint NOT NULL,
  cost_date          date NOT NULL,
  grouping           text NOT NULL CHECK (grouping IN ('account_service', 'region_service')),
  service            text NOT NULL,
  linked_account     text NOT NULL DEFAULT '',
  region             text NOT NULL DEFAULT '',
  unblended_cost     numeric NOT NULL,
  amortized_cost     numeric NOT NULL,
  net_unblended_cost numeric NOT NULL,
  usage_quantity     numeric NOT NULL,
  unit               text NOT NULL DEFAULT 'USD',
  estimated          boolean NOT NULL DEFAULT false,
  created_at         timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT cost_data_natural_key
    UNIQUE (organization_id, cost_date, grouping, service, linked_account, region)
) PARTITION BY RANGE (cost_date);

-- CloudWatch datapoints (one statistic of one metric of one resource at one time).
CREATE TABLE cloudwatch_metrics (
  organization_id bigint NOT NULL,
  ts              timestamptz NOT NULL,
  namespace       text NOT NULL,
  metric_name     text NOT NULL,
  resource_id     text NOT NULL,           -- InstanceId, DBInstanceIdentifier, ...
  stat            text NOT NULL,           -- Average, Maximum, Sum, ...
  value           double precision NOT NULL,
  unit            text NOT NULL DEFAULT '',
  created_at      timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT cloudwatch_metrics_natural_key
    UNIQUE (organization_id, namespace, metric_name, resource_id, stat, ts)
) PARTITION BY RANGE (ts);

-- ensure_monthly_partitions(parent, from, to): creates the monthly partitions of cost_data or
-- cloudwatch_metrics covering [from, to]. Idempotent and safe to call concurrently.
CREATE FUNCTION ensure_monthly_partitions(parent text, from_date date, to_date date)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
  month date := date_trunc('month', from_date)::date;
  last  date := date_trunc('month', to_date)::date;
  name  text;
  created integer := 0;
BEGIN
  IF parent NOT IN ('cost_data', 'cloudwatch_metrics') THEN
    RAISE EXCEPTION 'ensure_monthly_partitions: unknown table %', parent;
  END IF;
  IF from_date IS NULL OR to_date IS NULL OR to_date < from_date THEN
    RAISE EXCEPTION 'ensure_monthly_partitions: bad range % .. %', from_date, to_date;
  END IF;
  IF last - month > 3660 THEN
    RAISE EXCEPTION 'ensure_monthly_partitions: range % .. % spans more than ten years', from_date, to_date;
  END IF;
  WHILE month <= last LOOP
    name := format('%s_y%sm%s', parent, to_char(month, 'YYYY'), to_char(month, 'MM'));
    IF to_regclass(name) IS NULL THEN
      -- Serialise creators of the same partition; a loser that still races (its catalog
      -- snapshot predates the winner's commit) finds the table made and moves on.
      PERFORM pg_advisory_xact_lock(hashtext('costwatch.partition.' || name));
      BEGIN
        EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                       name, parent, month, (month + interval '1 month')::date);
        created := created + 1;
      EXCEPTION WHEN duplicate_table OR unique_violation THEN
        NULL;
      END;
    END IF;
    month := (month + interval '1 month')::date;
  END LOOP;
  RETURN created;
END
$$;

-- Partitions for the history AWS can serve and the near future, so a fresh install is ready.
SELECT ensure_monthly_partitions('cost_data', (current_date - interval '14 months')::date, (current_date + interval '12 months')::date);
SELECT ensure_monthly_partitions('cloudwatch_metrics', (current_date - interval '15 months')::date, (current_date + interval '2 months')::date);
