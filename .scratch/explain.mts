import { addDays } from '../lib/dates.js';
import { createBenchDatabase, type BenchDatabase } from '../bench/support.js';
import { evaluateBudgets } from '../database/repositories/budgets.repository.js';
const DAYS = 400, BUDGETS = 10, TODAY = '2026-05-20';
async function seed(db: BenchDatabase, orgs: number): Promise<void> {
  const from = addDays(TODAY, -DAYS);
  await db.pool.query(
    `INSERT INTO organizations (name, aws_account_id) SELECT 'bench-' || i, '123456789012' FROM generate_series(1, $1) i`,
    [orgs],
  );
  const services = `(VALUES ('Amazon EC2'), ('Amazon S3'), ('Amazon RDS'), ('AWS Lambda'), ('Amazon CloudFront'), ('Amazon DynamoDB'), ('Amazon EKS'), ('Amazon SQS'), ('AWS KMS'), ('Amazon Route 53')) s(name)`;
  await db.pool.query(
    `INSERT INTO cost_daily_service
     SELECT o.id, d::date, s.name, c, c, c, 1, 'USD', false
       FROM organizations o, generate_series($1::date, $2::date - 1, interval '1 day') d, ${services},
            LATERAL (SELECT round((random() * 20)::numeric, 6) AS c) x`,
    [from, TODAY],
  );
  await db.pool.query(
    `INSERT INTO cost_daily_account
     SELECT o.id, d::date, lpad(a::text, 12, '1'), c, c, c, 1, 'USD', false
       FROM organizations o, generate_series($1::date, $2::date - 1, interval '1 day') d, generate_series(1, 5) a,
            LATERAL (SELECT round((random() * 40)::numeric, 6) AS c) x`,
    [from, TODAY],
  );
  await db.pool.query(
    `INSERT INTO cost_daily_region
     SELECT o.id, d::date, r, c, c, c, 1, 'USD', false
       FROM organizations o, generate_series($1::date, $2::date - 1, interval '1 day') d,
            unnest(ARRAY['us-east-1', 'us-west-2', 'eu-west-1', 'ap-southeast-1']) r,
            LATERAL (SELECT round((random() * 50)::numeric, 6) AS c) x`,
    [from, TODAY],
  );
  await db.pool.query(
    `INSERT INTO cost_monthly_service
     SELECT organization_id, date_trunc('month', day)::date, service, sum(unblended_cost), sum(amortized_cost),
            sum(net_unblended_cost), sum(usage_quantity), unit, bool_or(estimated), count(*)
       FROM cost_daily_service GROUP BY 1, 2, 3, unit`,
  );
  await db.pool.query(
    `INSERT INTO cost_forecasts (organization_id, month, amount, unit) SELECT id, date_trunc('month', $1::date), 6000, 'USD' FROM organizations`,
    [TODAY],
  );
  await db.pool.query(
    `INSERT INTO notification_channels (organization_id, name, type, url, signing_secret, format)
     SELECT id, 'hook', 'webhook', 'https://hooks.example.com/' || id, 'bench-signing-secret', 'json' FROM organizations`,
  );
  const scopes = [`'{}'`, `'{"service": ["Amazon EC2"]}'`, `'{"account": ["111111111111", "111111111112"]}'`, `'{"region": ["us-east-1"]}'`, `'{"service": ["Amazon S3", "Amazon RDS"]}'`];
  await db.pool.query(
    `WITH b AS (
       INSERT INTO budgets (organization_id, name, period, amount, metric, scope)
       SELECT o.id, 'b' || n, (ARRAY['monthly', 'quarterly', 'annual'])[1 + n % 3], 1000 * (1 + n % 4),
              (ARRAY['unblended', 'amortized', 'net_unblended'])[1 + n % 3], (ARRAY[${scopes.join(', ')}])[1 + n % 5]::jsonb
         FROM organizations o, generate_series(1, $1) n RETURNING id, organization_id),
     t AS (INSERT INTO budget_thresholds (budget_id, percent, kind)
           SELECT b.id, p, k FROM b, (VALUES (50, 'actual'), (100, 'actual'), (80, 'forecasted')) v(p, k))
     INSERT INTO budget_channels (budget_id, channel_id) SELECT b.id, c.id FROM b JOIN notification_channels c USING (organization_id)`,
    [BUDGETS],
  );
  await db.pool.query('VACUUM ANALYZE');
}


const db = await createBenchDatabase(2);
try {
  await seed(db, 20);
  await evaluateBudgets(db.pool, { orgId: 1, today: TODAY, now: new Date(), deadlineSeconds: 60 });
  const orig = db.pool.query.bind(db.pool) as (...a: unknown[]) => Promise<{ rows: Array<Record<string, string>> }>;
  (db.pool as unknown as { query: unknown }).query = async (q: { text: string; values: unknown[] }) => {
    const r = await orig(`EXPLAIN (ANALYZE, BUFFERS) ${q.text}`, q.values);
    console.log(r.rows.map((x) => x['QUERY PLAN']).join('\n'));
    return { rows: [{ fired: null, deliveries: null, updated: 0 }] };
  };
  await evaluateBudgets(db.pool, { orgId: 2, today: TODAY, now: new Date(), deadlineSeconds: 60 });
  await evaluateBudgets(db.pool, { orgId: 2, today: TODAY, now: new Date(), deadlineSeconds: 60 });
} finally { await db.drop(); }
