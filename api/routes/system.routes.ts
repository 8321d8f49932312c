/**
 * /health (liveness: the process answers, no I/O), /ready (Postgres and Redis answer within a
 * short timeout, and no shutdown has begun) and /metrics (the prom-client registry; on its own
 * port instead when API_METRICS_PORT is set, see api/main.ts). /ready answers a status only:
 * `ok` or `unavailable` per dependency, never the error text (hostnames, addresses), which goes to
 * the log.
 */
import type { Express } from 'express';
import { registry } from '../../lib/metrics.js';
import type { ApiContext } from '../context.js';
import { labelRoute } from '../middleware/request-context.js';

const READY_TIMEOUT_MS = 1_000;

async function probe(
  ctx: ApiContext,
  name: string,
  work: () => Promise<unknown>,
): Promise<'ok' | 'unavailable'> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      work(),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer within ${READY_TIMEOUT_MS} ms`)),
          READY_TIMEOUT_MS,
        );
      }),
    ]);
    return 'ok';
  } catch (error) {
    ctx.log.warn({ err: error, dependency: name }, 'readiness probe failed');
    return 'unavailable';
  } finally {
    clearTimeout(timer);
  }
}

/** Paths mounted here, with their methods (for 405 answers and the OpenAPI document). */
export const SYSTEM_PATHS: Record<string, string[]> = {
  '/health': ['GET'],
  '/ready': ['GET'],
  '/metrics': ['GET'],
};

export function mountSystemRoutes(app: Express, ctx: ApiContext, options: { metrics: boolean }): void {
  app.get('/health', labelRoute('/health'), (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.get('/ready', labelRoute('/ready'), async (_req, res) => {
    if (ctx.lifecycle.draining) {
      res.status(503).json({ status: 'draining', checks: { shutdown: 'in progress' } });
      return;
    }
    const [postgres, redis] = await Promise.all([
      probe(ctx, 'postgres', () => ctx.db.query('SELECT 1')),
      probe(ctx, 'redis', () => ctx.redis.ping()),
    ]);
    const ok = postgres === 'ok' && redis === 'ok';
    res.status(ok ? 200 : 503).json({ status: ok ? 'ready' : 'unavailable', checks: { postgres, redis } });
  });

  if (!options.metrics) return;
  app.get('/metrics', labelRoute('/metrics'), async (_req, res) => {
    const text = await registry.metrics();
    res.type(registry.contentType).send(text);
  });
}
