/**
 * The OpenAPI 3.1 document, generated from the route definitions: their zod query and body schemas
 * (the ones that validate, rendered as accepted input) and response schemas (`z.toJSONSchema`).
 */
import { z } from 'zod';
import { errorSchema } from './routes/common.schema.js';
import type { Route } from './routing.js';

type JsonObject = Record<string, unknown>;

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonObject {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as JsonObject;
  return rest;
}

const STATUS_TEXT: Record<number, string> = {
  400: 'invalid input (error.field names the parameter)',
  401: 'missing, invalid, expired or revoked bearer token',
  403: 'your role may not do this',
  404: 'not found (also: an organization you may not see)',
  405: 'method not allowed (see the Allow header)',
  409: 'conflict with the current state',
  413: 'body too large',
  415: 'body must be application/json',
  429: 'too many attempts (see Retry-After)',
  500: 'server fault (logged with the request id)',
  503: 'Postgres or Redis unavailable; retry',
};

const COMMON_HEADERS = {
  'X-Process-Time': { $ref: '#/components/headers/X-Process-Time' },
  'X-Request-Id': { $ref: '#/components/headers/X-Request-Id' },
};

function errorResponse(status: number): JsonObject {
  return {
    description: STATUS_TEXT[status] ?? 'error',
    headers: COMMON_HEADERS,
    content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
  };
}

/**
 * Patterns with Unicode property escapes (`\p{...}`) are dropped from the document (the zod schema
 * still validates them): JSON Schema recommends a portable ECMA-262 subset, and many validators'
 * and generators' regex engines (Python's re, for one) reject them.
 */
/** The object schema under whole-object refinements (`z.object({...}).transform(...)`), whose fields are typed. */
function fieldsOf(schema: z.ZodType): z.ZodType {
  let current: z.ZodType = schema;
  while (current instanceof z.ZodPipe && current.out instanceof z.ZodTransform)
    current = current.in as z.ZodType;
  return current;
}

function portable(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(portable);
  if (schema === null || typeof schema !== 'object') return schema;
  return Object.fromEntries(
    Object.entries(schema)
      .filter(([key, value]) => !(key === 'pattern' && typeof value === 'string' && /\\[pP]\{/.test(value)))
      .map(([key, value]) => [key, portable(value)]),
  );
}

function operation(route: Route): JsonObject {
  const query = jsonSchema(route.query, 'input');
  // Numbers arrive as digit strings and are parsed (limit, offset, org_id, ...): document what
  // they are, an integer with its bounds and default, as OpenAPI query parameters are typed.
  const parsed = (jsonSchema(fieldsOf(route.query), 'output').properties ?? {}) as Record<string, JsonObject>;
  const properties = (query.properties ?? {}) as Record<string, JsonObject>;
  const required = new Set(Array.isArray(query.required) ? (query.required as string[]) : []);
  // Express path parameters (`:id`) are positive whole numbers in every route that has them.
  const pathParameters = [...route.path.matchAll(/:([A-Za-z_]+)/g)].map((m) => ({
    name: m[1],
    in: 'path',
    required: true,
    schema: { type: 'integer', minimum: 1 },
  }));
  const queryParameters = Object.entries(properties).map(([name, input]) => {
    const output = parsed[name];
    const numeric = input.type === 'string' && (output?.type === 'integer' || output?.type === 'number');
    const schema = numeric && output ? output : input;
    return {
      name,
      in: 'query',
      required: required.has(name),
      ...(typeof schema.description === 'string' ? { description: schema.description } : {}),
      schema: portable(schema),
    };
  });
  const statuses = new Set<number>([400, 404, 405, 500, 503, ...route.errors]);
  if (route.secured || route.path === '/auth/login') statuses.add(401);
  if (route.roles) statuses.add(403);
  if (route.body) statuses.add(413);
  const responses: JsonObject = {
    [String(route.status)]: {
      description: route.summary,
      headers: route.cached
        ? { ...COMMON_HEADERS, 'X-Cache': { $ref: '#/components/headers/X-Cache' } }
        : COMMON_HEADERS,
      content: { 'application/json': { schema: portable(jsonSchema(route.response, 'output')) } },
    },
  };
  for (const status of [...statuses].sort()) responses[String(status)] = errorResponse(status);
  return {
    operationId: `${route.method}${route.path.replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
    summary: route.summary,
    ...(route.description ? { description: route.description } : {}),
    tags: [route.tag],
    security: route.secured ? [{ bearerAuth: [] }] : [],
    ...(route.roles ? { 'x-roles': route.roles } : {}),
    parameters: [...pathParameters, ...queryParameters],
    ...(route.body
      ? {
          requestBody: {
            required: route.method === 'post' && route.path === '/auth/login',
            content: { 'application/json': { schema: portable(jsonSchema(route.body, 'input')) } },
          },
        }
      : {}),
    responses,
  };
}

const text = (description: string, type = 'text/plain') => ({
  description,
  content: { [type]: { schema: { type: 'string' } } },
});

/** Operations served outside /api/v1 (probes, metrics, Bull Board) and the document itself. */
function systemPaths(): JsonObject {
  const open = { security: [] };
  return {
    '/health': {
      get: {
        ...open,
        operationId: 'health',
        tags: ['system'],
        summary: 'Liveness: the process answers (no I/O)',
        responses: { 200: text('ok', 'application/json') },
      },
    },
    '/ready': {
      get: {
        ...open,
        operationId: 'ready',
        tags: ['system'],
        summary: 'Readiness: Postgres SELECT 1 and Redis PING within 1 s, and no shutdown in progress',
        responses: {
          200: text('ready', 'application/json'),
          503: text('a dependency failed or shutdown began (body names which)', 'application/json'),
        },
      },
    },
    '/metrics': {
      get: {
        ...open,
        operationId: 'metrics',
        tags: ['system'],
        summary: 'Prometheus metrics (text exposition format)',
        responses: { 200: text('metrics') },
      },
    },
    '/api/v1/openapi.json': {
      get: {
        ...open,
        operationId: 'openapi',
        tags: ['system'],
        summary: 'This document',
        responses: { 200: text('OpenAPI 3.1 document', 'application/json') },
      },
    },
    '/admin/login': {
      get: {
        ...open,
        operationId: 'adminLoginForm',
        tags: ['admin'],
        summary: 'Operator login form for Bull Board',
        responses: { 200: text('HTML form', 'text/html') },
      },
      post: {
        ...open,
        operationId: 'adminLogin',
        tags: ['admin'],
        summary:
          'Operator login: sets the HttpOnly, SameSite=Strict session cookie and redirects to Bull Board',
        requestBody: {
          content: {
            'application/x-www-form-urlencoded': {
              schema: {
                type: 'object',
                properties: {
                  email: { type: 'string' },
                  password: { type: 'string' },
                  next: { type: 'string' },
                },
                required: ['email', 'password'],
              },
            },
          },
        },
        responses: {
          303: { description: 'signed in; redirect to Bull Board' },
          401: text('wrong credentials (form shown again)', 'text/html'),
          403: text('not an operator', 'text/html'),
          429: text('too many attempts', 'text/html'),
        },
      },
    },
    '/admin/logout': {
      post: {
        ...open,
        operationId: 'adminLogout',
        tags: ['admin'],
        summary: 'Operator logout: clears the Bull Board session cookie and redirects to the login form',
        responses: {
          303: { description: 'signed out; redirect to /admin/login' },
        },
      },
    },
    '/admin/queues': {
      get: {
        operationId: 'bullBoard',
        tags: ['admin'],
        summary: 'Bull Board over every queue (operators; session cookie or Bearer token)',
        security: [{ bearerAuth: [] }, { adminSession: [] }],
        responses: {
          200: text('Bull Board', 'text/html'),
          302: { description: 'no session: redirect to /admin/login' },
          401: errorResponse(401),
          403: errorResponse(403),
        },
      },
    },
  };
}

/** Builds the OpenAPI 3.1 document of every route (call once; it is static). */
export function buildOpenApiDocument(routes: Route[], version: string): JsonObject {
  const paths: Record<string, JsonObject> = systemPaths() as Record<string, JsonObject>;
  for (const route of routes) {
    const path = `/api/v1${route.path.replace(/:([A-Za-z_]+)/g, '{$1}')}`;
    paths[path] = { ...(paths[path] ?? {}), [route.method]: operation(route) };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'CostWatch API',
      version,
      description:
        'Multi-tenant AWS cost monitoring. Costs come from rollup tables; amounts are decimal strings with their unit. ' +
        'Dates are YYYY-MM-DD (UTC), ranges inclusive. See docs/API.md.',
    },
    servers: [{ url: '/' }],
    security: [{ bearerAuth: [] }],
    tags: [
      { name: 'auth' },
      { name: 'costs' },
      { name: 'utilization' },
      { name: 'ingestion' },
      { name: 'budgets' },
      { name: 'notification-channels' },
      { name: 'alerts' },
      { name: 'system' },
      { name: 'admin' },
    ],
    paths,
    components: {
      securitySchemes: {
        bearerAuth: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: 'POST /api/v1/auth/login for a token (HS256)',
        },
        adminSession: {
          type: 'apiKey',
          in: 'cookie',
          name: 'cw_admin',
          description: 'Bull Board session set by POST /admin/login',
        },
      },
      schemas: { Error: jsonSchema(errorSchema, 'output') },
      headers: {
        'X-Process-Time': {
          description: 'milliseconds spent serving the request, e.g. "1.234"',
          schema: { type: 'string' },
        },
        'X-Request-Id': {
          description: 'the request id (yours if you sent an acceptable one)',
          schema: { type: 'string' },
        },
        'X-Cache': {
          description: 'hit or miss: whether the answer came from the Redis response cache',
          schema: { type: 'string', enum: ['hit', 'miss'] },
        },
      },
    },
  };
}
