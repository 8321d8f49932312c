/**
 * Test harness of the API integration tests: a per-file migrated database, a unique queue prefix
 * in the shared test Redis, the app listening on 127.0.0.1 on a free port, and seed helpers.
 * Only tests import this file.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { asApiConfig, parseConfig, type ApiConfig } from '../../lib/config.js';
import { createLogger, type Logger } from '../../lib/logger.js';
import { createRedis, type Redis } from '../../lib/redis.js';
import { createQueues, type Queues } from '../../producers/queues.js';
import { createTestDatabase, type TestDatabase } from './db.js';
import { createUser, type UserRole } from '../../database/repositories/users.repository.js';
import { hashPassword } from '../../api/auth/passwords.js';
import { createApp } from '../../api/app.js';
import type { AppOptions } from '../../api/context.js';

/** bcrypt cost of seeded users (and of the app's dummy hash), low so tests stay fast. */
export const TEST_HASH_COST = 4;
export const TEST_PASSWORD = 'correct horse battery staple';

export interface TestApi {
  baseUrl: string;
  db: TestDatabase;
  redis: Redis;
  queues: Queues;
  config: ApiConfig;
  server: Server;
  log: Logger;
  /** Stops the server, deletes this prefix's Redis keys, closes connections, drops the database it made. */
  close(): Promise<void>;
}

export interface TestApiOptions {
  env?: Record<string, string>;
  options?: AppOptions;
  /** Reuse a database (e.g. a second app over the same data). */
  db?: TestDatabase;
}

export function testConfig(env: Record<string, string> = {}): ApiConfig {
  return asApiConfig(
    parseConfig('api', {
      ...process.env,
      QUEUE_PREFIX: `apitest_${randomBytes(4).toString('hex')}`,
      LOGIN_ATTEMPTS_PER_15MIN: '10000',
      // Limits of issue 12 off by default here (tests/security-hardening.test.ts tests them on real
      // processes); a test that wants one passes it in `env`.
      API_RATE_PER_MINUTE: '1000000',
      REFRESH_COOLDOWN_SECONDS: '0',
      ...env,
    }),
  );
}

export async function startTestApi(options: TestApiOptions = {}): Promise<TestApi> {
  const db = options.db ?? (await createTestDatabase());
  const config = testConfig(options.env);
  const log = process.env.API_TEST_LOG
    ? createLogger({ level: 'debug', name: 'api-test' })
    : pino({ level: 'silent' });
  const redis = createRedis(config.REDIS_URL, 'cache', log);
  const queueRedis = createRedis(config.REDIS_URL, 'producer', log);
  const queues = createQueues(queueRedis, { prefix: config.QUEUE_PREFIX, attempts: 3, backoffMs: 1000 });
  const app = createApp({
    config,
    db: db.pool,
    redis,
    queues,
    log,
    options: { passwordHashCost: TEST_HASH_COST, ...options.options },
  });
  // As api/main.ts sets it up, but shorter: a client that never finishes its body gets 408 within seconds.
  const server = createServer({ requestTimeout: 3_000, connectionsCheckingInterval: 500 }, app).listen(
    0,
    '127.0.0.1',
  );
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    db,
    redis,
    queues,
    config,
    server,
    log,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${config.QUEUE_PREFIX}:*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length > 0) await redis.del(...keys);
      } while (cursor !== '0');
      await queues.close();
      await Promise.allSettled([redis.quit(), queueRedis.quit()]);
      if (!options.db) await db.drop();
    },
  };
}

export async function seedOrg(
  db: TestDatabase,
  name: string,
  extra: Partial<Record<string, string | null>> = {},
): Promise<number> {
  const { rows } = await db.pool.query<{ id: number }>(
    `INSERT INTO organizations (name, aws_account_id, status, last_error, last_error_remedy, last_error_at, last_success_at, estimated_from)
     VALUES ($1, '123456789012', coalesce($2, 'active'), $3, $4, $5::timestamptz, $6::timestamptz, $7::date) RETURNING id`,
    [
      name,
      extra.status ?? null,
      extra.last_error ?? null,
      extra.last_error_remedy ?? null,
      extra.last_error_at ?? null,
      extra.last_success_at ?? null,
      extra.estimated_from ?? null,
    ],
  );
  const id = rows[0]?.id;
  if (id === undefined) throw new Error('org insert failed');
  return id;
}

export async function seedUser(
  db: TestDatabase,
  orgId: number,
  email: string,
  role: UserRole,
  password = TEST_PASSWORD,
  cost = TEST_HASH_COST,
): Promise<number> {
  return createUser(db.pool, {
    organizationId: orgId,
    email,
    passwordHash: await hashPassword(password, cost),
    role,
  });
}

export async function login(api: TestApi, email: string, password = TEST_PASSWORD): Promise<string> {
  const res = await fetch(`${api.baseUrl}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password }),
  });
  if (res.status !== 200) throw new Error(`login of ${email} failed: ${res.status} ${await res.text()}`);
  const body = (await res.json()) as { access_token: string };
  return body.access_token;
}

/** GET with a bearer token; returns status, headers and parsed JSON (or text). */
export async function get(api: TestApi, path: string, token?: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${api.baseUrl}${path}`, {
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
    redirect: 'manual',
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = null;
  }
  return { status: res.status, headers: res.headers, json, text };
}

/**
 * Every item of an offset-paginated list (`items`, `next_offset`): `path` without limit/offset
 * (it gets `limit=1000&offset=`). Asserts each page answers 200.
 */
export async function allItems<T>(api: TestApi, path: string, token: string): Promise<T[]> {
  const items: T[] = [];
  const sep = path.includes('?') ? '&' : '?';
  for (let offset = 0; ;) {
    const res = await get(api, `${path}${sep}limit=1000&offset=${offset}`, token);
    if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${res.text}`);
    const body = res.json as { items: T[]; next_offset: number | null };
    items.push(...body.items);
    if (body.next_offset === null) return items;
    offset = body.next_offset;
  }
}
