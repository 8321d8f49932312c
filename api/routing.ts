/**
 * Typed route definitions: one object per endpoint holds its method, path, zod schemas (query,
 * body, response), access rule and handler. The same objects mount the Express routes (validation
 * before the handler, auth, organization scoping, cache) and generate the OpenAPI document, so
 * the documentation cannot drift from what is enforced.
 */
import type { Request, Response } from 'express';
import { z } from 'zod';
import type { UserRole } from '../database/repositories/users.repository.js';
import { toIsoDate } from '../lib/dates.js';
import { ApiError } from './errors.js';
import type { ApiContext } from './context.js';
import { authenticate, requireRole, resolveOrganization, type Principal } from './middleware/auth.js';

export type HttpMethod = 'get' | 'post' | 'patch' | 'delete';

export interface PublicContext<Q, B> {
  req: Request;
  res: Response;
  app: ApiContext;
  query: Q;
  body: B;
  /** The request's clock reading (AppOptions.now). */
  now: Date;
}

export interface OrgContext<Q, B> extends PublicContext<Q, B> {
  principal: Principal;
  /** The organization this request reads or acts on (the caller's own unless an operator named one). */
  orgId: number;
}

interface RouteMeta {
  method: HttpMethod;
  /** Path under /api/v1, e.g. /costs/daily; `:name` segments are path parameters (whole numbers, `req.params`). */
  path: string;
  summary: string;
  description?: string;
  tag: string;
  /** Success status, default 200. */
  status?: number;
  /** Error statuses this route can answer besides 400/401/404/405/500/503, for the docs. */
  errors?: number[];
}

type QuerySchema = z.ZodType<Record<string, unknown>>;

export interface PublicRouteDef<
  Q extends QuerySchema,
  B extends z.ZodType,
  R extends z.ZodType,
> extends RouteMeta {
  query: Q;
  body?: B;
  response: R;
  handler(ctx: PublicContext<z.output<Q>, z.output<B>>): Promise<z.input<R>>;
}

export interface OrgRouteDef<
  Q extends z.ZodType<{ org_id?: number | undefined }>,
  B extends z.ZodType,
  R extends z.ZodType,
> extends RouteMeta {
  query: Q;
  body?: B;
  response: R;
  /** Roles allowed (default: every role). */
  roles?: readonly UserRole[];
  /** Cache the answer in Redis per org and query (rollup-backed reads only). */
  cache?: boolean;
  handler(ctx: OrgContext<z.output<Q>, z.output<B>>): Promise<z.input<R>>;
}

/** A route with its types erased, ready to mount and document. */
export interface Route {
  method: HttpMethod;
  path: string;
  summary: string;
  description: string | undefined;
  tag: string;
  status: number;
  errors: number[];
  secured: boolean;
  roles: readonly UserRole[] | null;
  cached: boolean;
  query: z.ZodType;
  body: z.ZodType | null;
  response: z.ZodType;
  handle(app: ApiContext, req: Request, res: Response): Promise<void>;
}

/**
 * Refuses a query string with a malformed percent-escape (`%ZZ`, a cut UTF-8 sequence): Express's
 * simple parser would keep it as literal text, so `?service=%ZZ` would filter on "%ZZ".
 */
export function checkQueryEncoding(url: string): void {
  const start = url.indexOf('?');
  if (start < 0) return;
  for (const pair of url.slice(start + 1).split('&')) {
    const eq = pair.indexOf('=');
    const rawName = eq < 0 ? pair : pair.slice(0, eq);
    const decode = (s: string): string | null => {
      try {
        return decodeURIComponent(s.replace(/\+/g, ' '));
      } catch {
        return null;
      }
    };
    const name = decode(rawName);
    if (name === null || (eq >= 0 && decode(pair.slice(eq + 1)) === null)) {
      const field = name === null || name === '' ? 'query' : name.slice(0, 100);
      throw new ApiError(
        'bad_request',
        `${field}: malformed percent-encoding in the query string (write a literal % as %25)`,
        field,
      );
    }
  }
}

/** Parses a value or throws 400 naming the offending field. */
export function parseInput<S extends z.ZodType>(
  schema: S,
  value: unknown,
  where: 'query' | 'body',
): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  if (!issue) throw new ApiError('validation_failed', `invalid ${where}`, where);
  if (issue.code === 'unrecognized_keys') {
    const key = String(issue.keys[0] ?? '').slice(0, 100);
    throw new ApiError(
      'validation_failed',
      `unknown ${where === 'query' ? 'query parameter' : 'field'} "${key}"`,
      key,
    );
  }
  const field = issue.path.map(String).join('.') || where;
  throw new ApiError('validation_failed', `${field}: ${issue.message}`, field);
}

function requestBody(req: Request): unknown {
  const body: unknown = req.body;
  // express.json leaves the body undefined when there is none, or when it is not JSON.
  if (body === undefined) {
    const length = Number(req.headers['content-length'] ?? 0);
    if (length > 0 || req.headers['transfer-encoding'] !== undefined) {
      throw new ApiError('unsupported_media_type', 'send the body as application/json', 'body');
    }
  }
  return body;
}

function send(res: Response, status: number, json: string | Buffer): void {
  res.status(status).type('application/json').send(json);
}

export function publicRoute<
  Q extends QuerySchema,
  B extends z.ZodType = z.ZodUndefined,
  R extends z.ZodType = z.ZodType,
>(def: PublicRouteDef<Q, B, R>): Route {
  const body = def.body ?? null;
  return {
    method: def.method,
    path: def.path,
    summary: def.summary,
    description: def.description,
    tag: def.tag,
    status: def.status ?? 200,
    errors: def.errors ?? [],
    secured: false,
    roles: null,
    cached: false,
    query: def.query,
    body,
    response: def.response,
    async handle(app, req, res) {
      checkQueryEncoding(req.originalUrl);
      const query = parseInput(def.query, req.query, 'query');
      const parsedBody = (body ? parseInput(body, requestBody(req), 'body') : undefined) as z.output<B>;
      const result = await def.handler({ req, res, app, query, body: parsedBody, now: app.now() });
      send(res, def.status ?? 200, JSON.stringify(result));
    },
  };
}

export function orgRoute<
  Q extends z.ZodType<{ org_id?: number | undefined }>,
  B extends z.ZodType = z.ZodUndefined,
  R extends z.ZodType = z.ZodType,
>(def: OrgRouteDef<Q, B, R>): Route {
  const body = def.body ?? null;
  const roles = def.roles ?? null;
  const cached = def.cache === true;
  return {
    method: def.method,
    path: def.path,
    summary: def.summary,
    description: def.description,
    tag: def.tag,
    status: def.status ?? 200,
    errors: def.errors ?? [],
    secured: true,
    roles,
    cached,
    query: def.query,
    body,
    response: def.response,
    async handle(app, req, res) {
      const principal = await authenticate(app, req);
      requireRole(principal, roles);
      checkQueryEncoding(req.originalUrl);
      const query = parseInput(def.query, req.query, 'query');
      const parsedBody = (body ? parseInput(body, requestBody(req), 'body') : undefined) as z.output<B>;
      const orgId = await resolveOrganization(app, principal, query.org_id);
      const now = app.now();
      const status = def.status ?? 200;

      let entry: Awaited<ReturnType<typeof app.cache.lookup>> = null;
      if (cached && app.cache.enabled) {
        const { org_id: _ignored, ...rest } = query;
        entry = await app.cache.lookup(orgId, def.path, rest, toIsoDate(now));
        if (entry?.hit) {
          res.setHeader('X-Cache', 'hit');
          send(res, status, entry.hit);
          return;
        }
      }
      const result = await def.handler({ req, res, app, query, body: parsedBody, now, principal, orgId });
      const json = JSON.stringify(result);
      if (cached) {
        res.setHeader('X-Cache', 'miss');
        if (entry) await entry.store(json);
      }
      send(res, status, json);
    },
  };
}
