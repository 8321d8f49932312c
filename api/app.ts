/**
 * `createApp(deps)`: the Express application of the API role, without listening. Middleware order:
 * request id and log line, X-Process-Time, HTTP metrics; probes; /api/v1 routes (each validates
 * and authorizes before its handler); 405 for known paths with the wrong method; Bull Board;
 * 404; the one JSON error handler.
 *
 * TRUST_PROXY sets express's `trust proxy` to a hop count or a list of proxy addresses/CIDRs (never
 * `true`), so req.ip (the login limiter's key) and req.secure (the Bull Board cookie's Secure flag)
 * come from X-Forwarded-For/-Proto only when the peer is a trusted proxy. Unset, forwarded headers
 * are ignored; a request that carries one is recorded for `costwatch doctor` (see
 * `FORWARDED_SEEN_KEY`).
 */
import { randomBytes } from 'node:crypto';
import express, { type Express, type RequestHandler } from 'express';
import { forwardedSeenKey } from '../lib/secrets.js';
import { systemNow } from '../lib/clock.js';
import { ApiError } from './errors.js';
import type { ApiContext, AppDeps } from './context.js';
import { LoginLimiter } from './auth/login.js';
import { AdminSessions, PrincipalRateLimiter, RefreshCooldown } from './auth/limits.js';
import { DEFAULT_BCRYPT_COST, hashPassword } from './auth/passwords.js';
import { TokenSigner } from './auth/tokens.js';
import { ResponseCache } from './middleware/cache.js';
import { errorHandler, notFoundHandler } from './middleware/errors.js';
import { httpMetrics } from './middleware/metrics.js';
import { labelRoute, requestContext } from './middleware/request-context.js';
import { processTime } from './middleware/timing.js';
import { buildOpenApiDocument } from './openapi.js';
import type { Route } from './routing.js';
import { LOGIN_PATH, LOGOUT_PATH, mountAdminRoutes } from './routes/admin.routes.js';
import { anomalyRoutes } from './routes/anomalies.routes.js';
import { authRoutes } from './routes/auth.routes.js';
import { costRoutes } from './routes/costs.routes.js';
import { dimensionRoutes } from './routes/dimensions.routes.js';
import { exportRoutes } from './routes/export.routes.js';
import { ingestionRoutes } from './routes/ingestion.routes.js';
import { mountSystemRoutes, SYSTEM_PATHS } from './routes/system.routes.js';
import { utilizationRoutes } from './routes/utilization.routes.js';
import { alertRoutes, budgetRoutes, channelRoutes } from './routes/budgets.routes.js';

export type { AppDeps, AppOptions, Lifecycle } from './context.js';

export const API_PREFIX = '/api/v1';

export const API_VERSION = '1.0.0';

/** Every /api/v1 route, in documentation order. */
export const apiRoutes: Route[] = [
  ...authRoutes,
  ...costRoutes,
  ...exportRoutes,
  ...dimensionRoutes,
  ...utilizationRoutes,
  ...ingestionRoutes,
  ...budgetRoutes,
  ...channelRoutes,
  ...alertRoutes,
  ...anomalyRoutes,
];

const JSON_BODY_LIMIT = '16kb';

function methodNotAllowed(template: string, methods: string[]): RequestHandler[] {
  const allow = [...new Set(methods.flatMap((m) => (m === 'GET' ? ['GET', 'HEAD'] : [m])))].join(', ');
  return [
    labelRoute(template),
    (req, res) => {
      res.setHeader('Allow', allow);
      if (req.method === 'OPTIONS') {
        res.status(204).end();
        return;
      }
      throw new ApiError('method_not_allowed', `${req.method} is not allowed here; use ${allow}`);
    },
  ];
}

function buildContext(deps: AppDeps): ApiContext {
  const options = deps.options ?? {};
  const dummyHash = hashPassword(
    randomBytes(24).toString('base64url'),
    options.passwordHashCost ?? DEFAULT_BCRYPT_COST,
  );
  dummyHash.catch((error: unknown) =>
    deps.log.error({ err: error }, 'could not compute the dummy password hash'),
  );
  return {
    config: deps.config,
    db: deps.db,
    redis: deps.redis,
    queues: deps.queues,
    log: deps.log,
    now: options.now ?? systemNow,
    lifecycle: options.lifecycle ?? { draining: false },
    tokens: new TokenSigner(deps.config.JWT_SECRET_KEYS),
    loginLimiter: new LoginLimiter(
      deps.redis,
      deps.config.QUEUE_PREFIX,
      deps.config.LOGIN_ATTEMPTS_PER_15MIN,
    ),
    apiLimiter: new PrincipalRateLimiter(
      deps.redis,
      deps.config.QUEUE_PREFIX,
      deps.config.API_RATE_PER_MINUTE,
    ),
    refreshCooldown: new RefreshCooldown(
      deps.redis,
      deps.config.QUEUE_PREFIX,
      deps.config.REFRESH_COOLDOWN_SECONDS,
    ),
    adminSessions: new AdminSessions(deps.redis, deps.config.QUEUE_PREFIX),
    cache: new ResponseCache(
      deps.cacheRedis ?? deps.redis,
      deps.config.QUEUE_PREFIX,
      deps.config.API_CACHE_TTL_SECONDS,
      deps.log,
      {
        maxEntryBytes: deps.config.CACHE_MAX_ENTRY_BYTES,
        maxEntriesPerOrg: deps.config.CACHE_MAX_ENTRIES_PER_ORG,
        maxOffset: deps.config.CACHE_MAX_OFFSET,
      },
    ),
    dummyHash,
    adminSessionSeconds: options.adminSessionSeconds ?? Math.min(deps.config.TOKEN_TTL_SECONDS, 900),
  };
}

/** Marks (at most once a minute per process) that forwarded headers arrive although no proxy is trusted. */
function recordUntrustedForwarding(deps: AppDeps): RequestHandler {
  let lastMark = 0;
  return (req, _res, next) => {
    if (req.headers['x-forwarded-for'] !== undefined && Date.now() - lastMark > 60_000) {
      lastMark = Date.now();
      deps.redis
        .set(forwardedSeenKey(deps.config.QUEUE_PREFIX), new Date(lastMark).toISOString(), 'EX', 86_400)
        .catch(() => undefined);
    }
    next();
  };
}

/** Builds the API's Express app from its dependencies (deps.options: clock, hash cost, lifecycle). */
export function createApp(deps: AppDeps): Express {
  const ctx = buildContext(deps);
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  app.set('trust proxy', deps.config.TRUST_PROXY ?? false);
  if (deps.config.TRUST_PROXY === undefined) app.use(recordUntrustedForwarding(deps));

  app.use(requestContext(deps.log), processTime(), httpMetrics());
  app.use((req, res, next) => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    // HTTPS as seen through a trusted proxy (TRUST_PROXY): browsers keep to HTTPS for a year.
    if (req.secure) res.setHeader('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
    next();
  });

  const metricsOnMainPort = deps.config.API_METRICS_PORT === undefined;
  mountSystemRoutes(app, ctx, { metrics: metricsOnMainPort });
  for (const [path, methods] of Object.entries(SYSTEM_PATHS))
    if (metricsOnMainPort || path !== '/metrics') app.all(path, ...methodNotAllowed(path, methods));

  const openApi = JSON.stringify(buildOpenApiDocument(apiRoutes, API_VERSION));
  app.get(`${API_PREFIX}/openapi.json`, labelRoute(`${API_PREFIX}/openapi.json`), (_req, res) => {
    res.type('application/json').send(openApi);
  });

  const jsonBody = express.json({
    limit: JSON_BODY_LIMIT,
    strict: true,
    type: ['application/json', 'application/*+json'],
  });
  const methodsByPath = new Map<string, string[]>([[`${API_PREFIX}/openapi.json`, ['GET']]]);
  for (const route of apiRoutes) {
    const template = `${API_PREFIX}${route.path}`;
    const handle: RequestHandler = (req, res) => route.handle(ctx, req, res);
    if (route.method === 'get') app.get(template, labelRoute(template), handle);
    else if (route.method === 'delete') app.delete(template, labelRoute(template), handle);
    else app[route.method](template, labelRoute(template), jsonBody, handle);
    methodsByPath.set(template, [...(methodsByPath.get(template) ?? []), route.method.toUpperCase()]);
  }
  for (const [template, methods] of methodsByPath) app.all(template, ...methodNotAllowed(template, methods));

  mountAdminRoutes(app, ctx);
  app.all(LOGIN_PATH, ...methodNotAllowed(LOGIN_PATH, ['GET', 'POST']));
  app.all(LOGOUT_PATH, ...methodNotAllowed(LOGOUT_PATH, ['POST']));

  app.use(notFoundHandler());
  app.use(errorHandler(deps.log));
  return app;
}
