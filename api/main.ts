/**
 * Composition root of the API role (`costwatch api`): builds the pool, Redis connections and
 * queues, listens on HOST:PORT, and shuts down cleanly on SIGTERM/SIGINT: /ready turns 503, the
 * server stops accepting, in-flight requests finish (up to SHUTDOWN_GRACE_SECONDS), then queues,
 * Redis and the pool are closed and the process exits 0.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { asApiConfig, type Config } from '../lib/config.js';
import { clockFromConfig } from '../lib/clock.js';
import { createPool } from '../lib/db.js';
import { createLogger, type Logger } from '../lib/logger.js';
import { startHealthServer, type HealthServer } from '../lib/health-server.js';
import { createRedis } from '../lib/redis.js';
import { onShutdown } from '../lib/shutdown.js';
import { createQueues } from '../producers/queues.js';
import { createApp } from './app.js';
import type { Lifecycle } from './context.js';

export interface RunningApi {
  server: Server;
  /** The bound port (useful with PORT=0). */
  port: number;
  /** Drains and closes everything; idempotent. Does not exit the process. */
  close(): Promise<void>;
}

export interface StartApiOptions {
  /** Install SIGTERM/SIGINT handlers (lib/shutdown.ts) that close and exit 0 (default true). */
  handleSignals?: boolean;
  log?: Logger;
}

/** Starts the API: connections, app, listener. Throws ConfigError when DATABASE_URL, REDIS_URL or JWT_SECRET_KEY is missing. */
export async function startApi(config: Config, options: StartApiOptions = {}): Promise<RunningApi> {
  const service = asApiConfig(config);
  const log = options.log ?? createLogger({ level: service.LOG_LEVEL, name: 'api' });
  const db = createPool({
    connectionString: service.DATABASE_URL,
    max: service.DB_POOL_SIZE,
    applicationName: 'costwatch-api',
    log,
    statementTimeoutMs: 15_000,
  });
  const redis = createRedis(service.REDIS_URL, 'cache', log);
  // The response cache in its own Redis (allkeys-lru) when CACHE_REDIS_URL is set.
  const cacheRedis =
    service.CACHE_REDIS_URL !== undefined ? createRedis(service.CACHE_REDIS_URL, 'cache', log) : undefined;
  const queueConnection = createRedis(service.REDIS_URL, 'producer', log);
  const queues = createQueues(queueConnection, {
    prefix: service.QUEUE_PREFIX,
    attempts: service.FETCH_ATTEMPTS,
    backoffMs: service.RETRY_BACKOFF_MS,
  });
  const lifecycle: Lifecycle = { draining: false };
  const app = createApp({
    config: service,
    db,
    redis,
    ...(cacheRedis ? { cacheRedis } : {}),
    queues,
    log,
    options: { lifecycle, now: clockFromConfig(service) },
  });

  const server = app.listen(service.PORT, service.HOST);
  server.requestTimeout = 30_000;
  server.headersTimeout = 15_000;
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const port = (server.address() as AddressInfo).port;
  // /metrics on its own port (scraped in-cluster, never routed by the ingress) when API_METRICS_PORT is set.
  let metrics: HealthServer | null = null;
  if (service.API_METRICS_PORT !== undefined) {
    metrics = await startHealthServer({
      host: service.HOST,
      port: service.API_METRICS_PORT,
      readiness: () => Promise.resolve(lifecycle.draining ? 'shutting down' : null),
    });
  }
  log.info({ host: service.HOST, port, metricsPort: metrics?.port ?? null }, 'api listening');

  let closing: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      lifecycle.draining = true;
      log.info('api shutting down: draining in-flight requests');
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const grace = setTimeout(() => {
        log.warn('shutdown grace period over; closing remaining connections');
        server.closeAllConnections();
      }, service.SHUTDOWN_GRACE_SECONDS * 1000);
      await stopped;
      clearTimeout(grace);
      await queues.close().catch((error: unknown) => log.warn({ err: error }, 'closing queues failed'));
      await metrics?.close();
      await Promise.allSettled([
        redis.quit(),
        queueConnection.quit(),
        ...(cacheRedis ? [cacheRedis.quit()] : []),
      ]);
      await db.end().catch((error: unknown) => log.warn({ err: error }, 'closing the pool failed'));
      log.info('api stopped');
    })();
    return closing;
  };

  if (options.handleSignals !== false) onShutdown(log, close);
  return { server, port, close };
}
