/**
 * Postgres: reachability and version, migrations applied, and connection headroom
 * (max_connections against DB_POOL_SIZE x the replicas that will connect).
 */
import pg from 'pg';
import { migrationStatus } from '../../database/migrator.js';
import { redactUrl } from '../../lib/logger.js';
import { describeError, errorCode, fail, K8S, pass, warn, type CheckResult } from './check.js';

/** Oldest Postgres CostWatch supports (partitioning and MERGE behaviour the migrations rely on). */
export const MIN_POSTGRES_MAJOR = 15;

const NS = `-n ${K8S.namespace}`;

/** Opens one client with short connect and query timeouts; the doctor uses a single connection. */
export async function connectPostgres(url: string, timeoutMs: number): Promise<pg.Client> {
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: timeoutMs,
    query_timeout: timeoutMs,
    statement_timeout: timeoutMs,
    application_name: 'costwatch-doctor',
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    throw error;
  }
  return client;
}

/** The fix for a failed connection, by cause. */
function connectionFix(error: unknown): string {
  const code = errorCode(error);
  const common = `psql "$DATABASE_URL" -c 'select version()'`;
  if (code === '28P01' || code === '28000') {
    return [
      `the user or password of DATABASE_URL is refused; compare it with the database:`,
      `kubectl ${NS} get secret ${K8S.secret} -o jsonpath='{.data.DATABASE_URL}' | base64 -d`,
      `fix the secret, then kubectl ${NS} rollout restart deployment`,
    ].join('\n');
  }
  if (code === '3D000')
    return `the database in DATABASE_URL does not exist: createdb (or CREATE DATABASE costwatch), then costwatch migrate up`;
  if (code === '53300') {
    return [
      `Postgres is out of connections ("too many clients already"): see the connection headroom check;`,
      `psql -c "SELECT application_name, count(*) FROM pg_stat_activity GROUP BY 1 ORDER BY 2 DESC"`,
      `lower DB_POOL_SIZE in ${K8S.configmap}, or ALTER SYSTEM SET max_connections = 300 and restart Postgres`,
    ].join('\n');
  }
  return [
    `test it: ${common}   (format: postgresql://user:password@host:port/database)`,
    `kubectl ${NS} get pods -l app=postgres; kubectl ${NS} describe pvc postgres-pvc   (dev overlay; managed Postgres: security groups)`,
    `NetworkPolicy egress to 5432: kubectl ${NS} get networkpolicy   (compose: docker compose ps postgres; docker compose logs postgres)`,
  ].join('\n');
}

/** Connects and reads the server version; the client is returned for the following checks. */
export async function checkPostgres(
  url: string | undefined,
  timeoutMs: number,
  /** DATABASE_URL as given, when the config rejected it (url is then undefined). */
  given?: string,
): Promise<{ result: CheckResult; client: pg.Client | null }> {
  if (url === undefined)
    return {
      result: fail(
        'postgres',
        given
          ? 'DATABASE_URL is set but malformed, so there is nothing to connect to'
          : 'DATABASE_URL is not set',
        'see env DATABASE_URL above (format: postgresql://user:password@host:port/database)',
      ),
      client: null,
    };
  const where = redactUrl(url);
  let client: pg.Client;
  try {
    client = await connectPostgres(url, timeoutMs);
  } catch (error) {
    return {
      result: fail('postgres', `cannot connect to ${where}: ${describeError(error)}`, connectionFix(error)),
      client: null,
    };
  }
  try {
    const { rows } = await client.query<{ num: string; version: string }>(
      `SELECT current_setting('server_version_num') AS num, current_setting('server_version') AS version`,
    );
    const num = Number(rows[0]?.num ?? 0);
    const version = rows[0]?.version ?? 'unknown';
    if (Math.floor(num / 10000) < MIN_POSTGRES_MAJOR) {
      return {
        result: fail(
          'postgres',
          `${where} runs Postgres ${version}; CostWatch needs ${MIN_POSTGRES_MAJOR} or newer`,
          `upgrade Postgres to ${MIN_POSTGRES_MAJOR}+ (pg_upgrade, or a managed major-version upgrade); docker-compose.yml and the dev overlay use postgres:15`,
        ),
        client,
      };
    }
    return { result: pass('postgres', `${where} answers, Postgres ${version}`), client };
  } catch (error) {
    return {
      result: fail(
        'postgres',
        `${where} connected but a query failed: ${describeError(error)}`,
        connectionFix(error),
      ),
      client,
    };
  }
}

/** Every migration file applied, none changed since. */
export async function checkMigrations(client: pg.Client): Promise<CheckResult> {
  const statuses = await migrationStatus(client);
  const label = (m: { version: number; name: string }) => `${String(m.version).padStart(4, '0')}_${m.name}`;
  const pending = statuses.filter((m) => m.appliedAt === null);
  const modified = statuses.filter((m) => m.modified);
  const migrateFix = [
    `costwatch migrate status; costwatch migrate up`,
    `kubernetes: kubectl ${NS} delete job costwatch-migrate --ignore-not-found && kubectl apply -k k8s/overlays/<env> -l app.kubernetes.io/component=migrate && kubectl ${NS} wait --for=condition=complete job/costwatch-migrate --timeout=10m`,
    `compose: docker compose run --rm migrate; a failed migration is rolled back whole: read kubectl ${NS} logs job/costwatch-migrate (or docker compose logs migrate)`,
  ].join('\n');
  if (pending.length > 0) {
    return fail(
      'migrations',
      `${pending.length} of ${statuses.length} pending: ${pending.map(label).join(', ')}`,
      migrateFix,
    );
  }
  if (modified.length > 0) {
    return fail(
      'migrations',
      `applied migration file(s) changed since they ran: ${modified.map(label).join(', ')} (checksum differs from schema_migrations)`,
      `never edit an applied migration: restore the file from the release that applied it (git log -p database/migrations) and put the change in a new numbered migration`,
    );
  }
  const newest = await client.query<{ v: number | null }>('SELECT max(version) AS v FROM schema_migrations');
  const known = Math.max(0, ...statuses.map((m) => m.version));
  const applied = newest.rows[0]?.v ?? 0;
  if (applied > known) {
    return warn(
      'migrations',
      `all ${statuses.length} applied, but the database also has migration ${applied}, newer than this build knows (${known})`,
      `this costwatch is older than the schema: run the doctor from the image the deployment runs (kubectl ${NS} exec deploy/${K8S.api} -- costwatch doctor)`,
    );
  }
  const last = statuses[statuses.length - 1];
  return pass(
    'migrations',
    `all ${statuses.length} applied (newest ${last ? label(last) : 'none'}), none modified`,
  );
}

/** Replica counts that will hold a pool open; from the doctor's flags. */
export interface ReplicaCounts {
  api: number;
  scheduler: number;
  worker: number;
}

/** Connections kept free for migrations, operators, Grafana and the doctor itself (docs/DEPLOYMENT.md, Sizing). */
export const OPERATOR_RESERVE = 10;

/**
 * Peak connections the deployment may open against what Postgres allows:
 * api x DB_POOL_SIZE + scheduler x min(DB_POOL_SIZE, 4) + worker x (DB_POOL_SIZE + the page
 * checkpoint pool, when CE_PAGE_CHECKPOINT_SECONDS > 0) + reserve.
 */
export async function checkConnectionHeadroom(
  client: pg.Client,
  poolSize: number,
  replicas: ReplicaCounts,
  checkpointPool = 0,
): Promise<CheckResult> {
  const { rows } = await client.query<{ max: string; reserved: string; used: string }>(
    `SELECT current_setting('max_connections') AS max,
            current_setting('superuser_reserved_connections') AS reserved,
            (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::text AS used`,
  );
  const max = Number(rows[0]?.max ?? 0);
  const reserved = Number(rows[0]?.reserved ?? 0);
  const used = Number(rows[0]?.used ?? 0);
  const schedulerPool = Math.min(poolSize, 4);
  const needed =
    replicas.api * poolSize +
    replicas.scheduler * schedulerPool +
    replicas.worker * (poolSize + checkpointPool) +
    OPERATOR_RESERVE;
  const available = max - reserved;
  const arithmetic =
    `(${replicas.api} api + ${replicas.worker} worker) x DB_POOL_SIZE ${poolSize} + ${replicas.scheduler} scheduler x ${schedulerPool}` +
    (checkpointPool > 0 ? ` + ${replicas.worker} worker x ${checkpointPool} page checkpoints` : '') +
    ` + ${OPERATOR_RESERVE} reserve = ${needed}` +
    ` vs max_connections ${max} - ${reserved} superuser_reserved = ${available}; ${used} connections open now`;
  const fix = [
    `lower DB_POOL_SIZE (a worker rarely needs more than WORKER_CONCURRENCY): kubectl ${NS} edit configmap ${K8S.configmap}; kubectl ${NS} rollout restart deployment`,
    `or raise Postgres: ALTER SYSTEM SET max_connections = ${Math.ceil((needed + reserved) / 50) * 50}; then restart Postgres (RDS: parameter group)`,
    `or cap the worker autoscaler (maxReplicaCount), or put PgBouncer (transaction pooling) in front; rerun with your real --api-replicas/--worker-replicas/--scheduler-replicas`,
  ].join('\n');
  if (needed > available)
    return fail(
      'connection headroom',
      `${arithmetic}: the pools can exhaust Postgres ("too many clients already")`,
      fix,
    );
  if (used >= available * 0.9)
    return warn('connection headroom', `${arithmetic}: Postgres is nearly full right now`, fix);
  if (needed > available * 0.8)
    return warn('connection headroom', `${arithmetic}: less than 20 % spare`, fix);
  return pass('connection headroom', arithmetic);
}
