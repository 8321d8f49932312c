/**
 * Per-request state: the request id (an acceptable incoming `X-Request-Id` is kept, else a new
 * UUID; echoed in the response), the matched route template, and a pino-http style log line when
 * the response finishes (headers redacted by lib/logger.ts).
 */
import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Logger } from '../../lib/logger.js';

interface RequestState {
  id: string;
  startedAt: bigint;
  route: string | null;
  log: Logger;
}

const states = new WeakMap<Request, RequestState>();
const ACCEPTABLE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function requestId(req: Request): string {
  return states.get(req)?.id ?? 'unknown';
}

/** The logger bound to this request's id. */
export function requestLog(req: Request, fallback: Logger): Logger {
  return states.get(req)?.log ?? fallback;
}

/** Records which route template matched, for metrics labels and logs (never the raw path). */
export function setRouteTemplate(req: Request, template: string): void {
  const state = states.get(req);
  if (state) state.route = template;
}

export function routeTemplate(req: Request): string | null {
  return states.get(req)?.route ?? null;
}

export function startedAt(req: Request): bigint {
  return states.get(req)?.startedAt ?? process.hrtime.bigint();
}

/** A route-labelling middleware for a fixed template. */
export function labelRoute(template: string): RequestHandler {
  return (req, _res, next) => {
    setRouteTemplate(req, template);
    next();
  };
}

export function requestContext(log: Logger): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const incoming = req.headers['x-request-id'];
    const id = typeof incoming === 'string' && ACCEPTABLE_ID.test(incoming) ? incoming : randomUUID();
    const child = log.child({ reqId: id });
    const state: RequestState = { id, startedAt: process.hrtime.bigint(), route: null, log: child };
    states.set(req, state);
    res.setHeader('X-Request-Id', id);
    let logged = false;
    const done = () => {
      if (logged) return;
      logged = true;
      const responseTime = Number(process.hrtime.bigint() - state.startedAt) / 1e6;
      const status = res.headersSent ? res.statusCode : 499;
      const entry = {
        req: {
          id,
          method: req.method,
          url: req.originalUrl,
          route: state.route ?? 'unmatched',
          headers: req.headers,
          remoteAddress: req.ip,
        },
        res: { statusCode: status },
        responseTime: Math.round(responseTime * 1000) / 1000,
      };
      if (status >= 500) child.error(entry, 'request failed');
      else child.info(entry, 'request completed');
    };
    res.on('finish', done);
    res.on('close', done);
    next();
  };
}
