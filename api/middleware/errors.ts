/**
 * The single JSON error handler. Client mistakes map to stable 4xx codes; an unavailable
 * dependency (Postgres, Redis) is 503; only a real server fault is 500, logged with the request id.
 */
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { z } from 'zod';
import type { Logger } from '../../lib/logger.js';
import { ApiError, errorBody, type ErrorCode } from '../errors.js';
import { requestId, requestLog } from './request-context.js';

const BODY_PARSER_ERRORS: Record<string, { code: ErrorCode; status: number; message: string }> = {
  'entity.parse.failed': { code: 'invalid_json', status: 400, message: 'the request body is not valid JSON' },
  'entity.too.large': { code: 'payload_too_large', status: 413, message: 'the request body is too large' },
  'parameters.too.many': {
    code: 'payload_too_large',
    status: 413,
    message: 'the request body has too many parameters',
  },
  'encoding.unsupported': {
    code: 'unsupported_media_type',
    status: 415,
    message: 'unsupported content encoding',
  },
  'charset.unsupported': { code: 'unsupported_media_type', status: 415, message: 'unsupported charset' },
  'request.aborted': { code: 'bad_request', status: 400, message: 'the request was aborted' },
  'request.size.invalid': {
    code: 'bad_request',
    status: 400,
    message: 'the request body length does not match Content-Length',
  },
};

// Node/pg/ioredis conditions meaning "a dependency is down or overloaded", not "the code is wrong".
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'NR_CLOSED',
]);
const UNAVAILABLE_MESSAGES =
  /Connection terminated|timeout exceeded when trying to connect|Connection is closed|connect ECONNREFUSED|Reached the max retries per request limit|Stream isn't writeable|Cannot use a pool after calling end|did not answer within/i;

function property(error: unknown, key: string): unknown {
  return typeof error === 'object' && error !== null && key in error
    ? (error as Record<string, unknown>)[key]
    : undefined;
}

function isUnavailable(error: unknown): boolean {
  const code = property(error, 'code');
  if (typeof code === 'string') {
    if (UNAVAILABLE_CODES.has(code)) return true;
    // SQLSTATE classes 08 (connection), 53 (resources), 57P0x (shutdown), 57014 (statement timeout).
    if (/^(08|53)[0-9A-Z]{3}$/.test(code) || /^57P0\d$/.test(code) || code === '57014') return true;
  }
  const message = property(error, 'message');
  return typeof message === 'string' && UNAVAILABLE_MESSAGES.test(message);
}

/** Turns anything thrown into the ApiError the client sees (null: a real server fault). */
export function toApiError(error: unknown): ApiError | null {
  if (error instanceof ApiError) return error;
  if (error instanceof z.ZodError) {
    const issue = error.issues[0];
    return new ApiError(
      'validation_failed',
      issue?.message ?? 'invalid input',
      issue?.path.join('.') || undefined,
    );
  }
  const type = property(error, 'type');
  if (typeof type === 'string') {
    const known = BODY_PARSER_ERRORS[type];
    if (known)
      return new ApiError(known.code, known.message, known.code === 'invalid_json' ? 'body' : undefined, {
        status: known.status,
      });
  }
  if (isUnavailable(error))
    return new ApiError('service_unavailable', 'a backing service is unavailable; retry shortly');
  const status = property(error, 'status') ?? property(error, 'statusCode');
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const code: ErrorCode =
      status === 413 ? 'payload_too_large' : status === 415 ? 'unsupported_media_type' : 'bad_request';
    return new ApiError(code, 'the request could not be understood', undefined, { status });
  }
  // SQLSTATE class 22 (data exception) or 23 (constraint): the input reached the database unvalidated.
  const sqlState = property(error, 'code');
  if (typeof sqlState === 'string' && /^2[23][0-9A-Z]{3}$/.test(sqlState)) {
    return new ApiError('bad_request', 'the request contains a value the database rejected');
  }
  return null;
}

export function notFoundHandler(): RequestHandler {
  return (req, res) => {
    res
      .status(404)
      .json(
        errorBody('not_found', `no route ${req.method} ${req.path.slice(0, 200)}`, undefined, requestId(req)),
      );
  };
}

/**
 * The challenge of a 401 (RFC 7235 requires one; RFC 6750 gives Bearer's): `error="invalid_token"`
 * when the request presented a bearer token, none when it sent no credentials.
 */
export function bearerChallenge(authorization: string | undefined): string {
  const presented = typeof authorization === 'string' && /^bearer(\s|$)/i.test(authorization.trim());
  return presented
    ? 'Bearer realm="costwatch", error="invalid_token", error_description="the token is invalid, expired or revoked"'
    : 'Bearer realm="costwatch"';
}

export function errorHandler(log: Logger): ErrorRequestHandler {
  return (error: unknown, req, res, _next) => {
    let apiError = toApiError(error);
    const reqLog = requestLog(req, log);
    if (!apiError) {
      reqLog.error({ err: error }, 'unhandled error');
      apiError = new ApiError('internal_error', 'internal server error');
    } else if (apiError.status >= 500) {
      reqLog.warn({ err: error }, 'dependency unavailable');
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    for (const [name, value] of Object.entries(apiError.headers)) res.setHeader(name, value);
    if (apiError.status === 503 && !res.getHeader('Retry-After')) res.setHeader('Retry-After', '5');
    if (apiError.status === 401 && !res.getHeader('WWW-Authenticate')) {
      res.setHeader('WWW-Authenticate', bearerChallenge(req.headers.authorization));
    }
    res
      .status(apiError.status)
      .json(errorBody(apiError.code, apiError.message, apiError.field, requestId(req)));
  };
}
