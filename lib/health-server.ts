/**
 * The small HTTP server of the scheduler and worker roles on METRICS_PORT: `/health` (liveness:
 * the process answers), `/ready` (dependencies reachable and not shutting down), `/metrics`.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { registry } from './metrics.js';

export interface HealthServer {
  port: number;
  close(): Promise<void>;
}

export async function startHealthServer(options: {
  host: string;
  port: number;
  /** Resolves to null when ready, else a reason. */
  readiness: () => Promise<string | null>;
}): Promise<HealthServer> {
  const server = http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    const send = (status: number, body: string, type = 'application/json') => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, JSON.stringify({ error: 'method not allowed' }));
    if (url === '/health') return send(200, JSON.stringify({ status: 'ok' }));
    if (url === '/ready') {
      options
        .readiness()
        .then((reason) => send(reason ? 503 : 200, JSON.stringify(reason ? { status: 'not ready', reason } : { status: 'ready' })))
        .catch((error: unknown) => send(503, JSON.stringify({ status: 'not ready', reason: String(error) })));
      return;
    }
    if (url === '/metrics') {
      registry
        .metrics()
        .then((text) => send(200, text, registry.contentType))
        .catch((error: unknown) => send(500, `# metrics collection failed: ${String(error)}\n`, 'text/plain'));
      return;
    }
    send(404, JSON.stringify({ error: 'not found' }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Resolves `null` if Postgres and Redis answer within `ms`, else the reason. */
export async function dependencyReadiness(
  checks: Record<string, () => Promise<unknown>>,
  ms = 2_000,
): Promise<string | null> {
  const failures: string[] = [];
  await Promise.all(
    Object.entries(checks).map(async ([name, check]) => {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          check(),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error('timed out')), ms);
          }),
        ]);
      } catch (error) {
        failures.push(`${name}: ${error instanceof Error ? error.message : String(error)}`);
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  return failures.length ? failures.join('; ') : null;
}
