/**
 * `createApp(deps)`: the Express application of the API role, without listening. Middleware order:
 * request id and log line, X-Process-Time, HTTP metrics; probes; /api/v1 routes (each validates
 * and authorizes before its handler); 405 for known paths with the wrong method; Bull Board;
 * 404; the one JSON error handler.
 */
import { randomBytes } from 'node:crypto';
import express, { type Express, type RequestHandler } from 'express';
import { ApiError } from './errors.js';
import type { ApiContext, AppDeps } from './context.js';
import { LoginLimiter } from './auth/login.js';
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
import { authRoutes } from './routes/auth.routes.js';
import { costRoutes } from './routes/costs.routes.js';
import { dimensionRoutes } from './routes/dimensions.routes.js';
import { exportRoutes } from './routes/export.routes.js';
import { ingestionRoutes } from './routes/ingestion.routes.js';
import { mountSystemRoutes, SYSTEM_PATHS } from './routes/system.routes.js';
import { utilizationRoutes } from './routes/utilization.routes.js';

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
    now: options.now ?? (() => new Date()),
    lifecycle: options.lifecycle ?? { draining: false },
    tokens: new TokenSigner(deps.config.JWT_SECRET_KEY),
    loginLimiter: new LoginLimiter(
      deps.redis,
      deps.config.QUEUE_PREFIX,
      deps.config.LOGIN_ATTEMPTS_PER_15MIN,
    ),
    cache: new ResponseCache(
      deps.redis,
      deps.config.QUEUE_PREFIX,
      deps.config.API_CACHE_TTL_SECONDS,
      deps.log,
    ),
    dummyHash,
    adminSessionSeconds: options.adminSessionSeconds ?? Math.min(deps.config.TOKEN_TTL_SECONDS, 900),
  };
}

/** Builds the API's Express app from its dependencies (deps.options: clock, hash cost, lifecycle). */
export function createApp(deps: AppDeps): Express {
  const ctx = buildContext(deps);
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');

  app.use(requestContext(deps.log), processTime(), httpMetrics());
  app.use((_req, res, next) => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    next();
  });

  mountSystemRoutes(app, ctx);
  for (const [path, methods] of Object.entries(SYSTEM_PATHS))
    app.all(path, ...methodNotAllowed(path, methods));

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
    else app.post(template, labelRoute(template), jsonBody, handle);
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
