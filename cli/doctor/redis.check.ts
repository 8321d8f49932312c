/**
 * Redis: reachability, version (BullMQ needs 6.2; 7 recommended), `maxmemory-policy noeviction`
 * (an evicted BullMQ key loses or corrupts jobs) and AOF persistence. Reads INFO only, which
 * managed Redis (ElastiCache, Memorystore) allows even where CONFIG is disabled.
 */
import { Redis } from 'ioredis';
import { redactUrl } from '../../lib/logger.js';
import { describeError, fail, K8S, pass, REDIS_CLI, warn, withTimeout, type CheckResult } from './check.js';

const NS = `-n ${K8S.namespace}`;

/** A connection that fails fast: no reconnect loop, no offline queue, every command bounded. */
export async function connectRedis(url: string, timeoutMs: number): Promise<Redis> {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
    connectionName: 'costwatch-doctor',
  });
  // ioredis rejects connect() with "Connection is closed"; the socket error says why (ECONNREFUSED, ...).
  let socketError: unknown = null;
  redis.on('error', (error: unknown) => {
    socketError ??= error;
  });
  try {
    await withTimeout(redis.connect(), timeoutMs + 500, 'redis connect');
  } catch (error) {
    redis.disconnect();
    throw socketError ?? error;
  }
  return redis;
}

/** Parses `INFO` output into a map. */
export function parseInfo(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const at = line.indexOf(':');
    if (at > 0 && !line.startsWith('#')) fields.set(line.slice(0, at), line.slice(at + 1).trim());
  }
  return fields;
}

function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

const unreachableFix = [
  `test it: ${REDIS_CLI} ping   (format: redis://[:password@]host:6379[/db], rediss:// for TLS)`,
  `kubectl ${NS} get pods -l app=redis; kubectl ${NS} logs statefulset/redis --tail=50   (dev overlay; managed Redis: security groups)`,
  `NetworkPolicy egress to 6379: kubectl ${NS} get networkpolicy   (compose: docker compose ps redis; docker compose up -d redis)`,
].join('\n');

/** Connects and checks version, eviction policy and persistence; returns the connection for the queue check. */
export async function checkRedis(
  url: string | undefined,
  timeoutMs: number,
  /** REDIS_URL as given, when the config rejected it (url is then undefined). */
  given?: string,
): Promise<{ results: CheckResult[]; redis: Redis | null }> {
  if (url === undefined) {
    const detail = given
      ? 'REDIS_URL is set but malformed, so there is nothing to connect to'
      : 'REDIS_URL is not set';
    const fix = 'see env REDIS_URL above (format: redis://[:password@]host:6379[/db], rediss:// for TLS)';
    return { results: [fail('redis', detail, fix)], redis: null };
  }
  const where = redactUrl(url);
  let redis: Redis;
  try {
    redis = await connectRedis(url, timeoutMs);
  } catch (error) {
    return {
      results: [fail('redis', `cannot connect to ${where}: ${describeError(error)}`, unreachableFix)],
      redis: null,
    };
  }
  let info: Map<string, string>;
  try {
    info = parseInfo(await redis.info());
  } catch (error) {
    return {
      results: [fail('redis', `${where} connected but INFO failed: ${describeError(error)}`, unreachableFix)],
      redis,
    };
  }
  const results: CheckResult[] = [];
  const version = info.get('redis_version') ?? '0.0.0';
  const upgrade = `upgrade Redis (docker-compose.yml and the dev overlay use redis:7; ElastiCache: modify the engine version)`;
  if (compareVersions(version, '6.2.0') < 0)
    results.push(fail('redis', `${where} runs Redis ${version}; BullMQ needs 6.2.0 or newer`, upgrade));
  else if (compareVersions(version, '7.0.0') < 0)
    results.push(
      warn('redis', `${where} answers, Redis ${version}: supported, 7 or newer recommended`, upgrade),
    );
  else results.push(pass('redis', `${where} answers, Redis ${version}`));

  const policy = info.get('maxmemory_policy') ?? 'unknown';
  const maxmemory = info.get('maxmemory_human') ?? info.get('maxmemory') ?? '?';
  if (policy !== 'noeviction') {
    results.push(
      fail(
        'redis eviction policy',
        `maxmemory-policy is ${policy} (maxmemory ${maxmemory}): Redis may evict BullMQ keys and lose or corrupt jobs`,
        [
          `${REDIS_CLI} CONFIG SET maxmemory-policy noeviction`,
          `and make it permanent: --maxmemory-policy noeviction in the redis args (kubectl ${NS} edit statefulset redis; docker-compose.yml has it), or an ElastiCache parameter group with maxmemory-policy=noeviction`,
        ].join('\n'),
      ),
    );
  } else
    results.push(
      pass(
        'redis eviction policy',
        `maxmemory-policy noeviction (maxmemory ${maxmemory === '0B' ? 'unlimited' : maxmemory})`,
      ),
    );

  const aof = info.get('aof_enabled');
  if (aof !== '1') {
    results.push(
      warn(
        'redis persistence',
        `AOF is off${info.get('rdb_last_save_time') ? ' (RDB snapshots only)' : ''}: queued jobs and rate-limit state written since the last snapshot are lost on a Redis restart`,
        [
          `${REDIS_CLI} CONFIG SET appendonly yes`,
          `and make it permanent: --appendonly yes in the redis args (kubectl ${NS} edit statefulset redis; docker-compose.yml has it), or a managed Redis with AOF/Multi-AZ persistence`,
        ].join('\n'),
      ),
    );
  } else results.push(pass('redis persistence', 'AOF on'));
  return { results, redis };
}
