/**
 * The API's error contract: every error leaves as `{ error: { code, message, field? } }` with a
 * stable `code`. Handlers throw `ApiError`; the error middleware maps everything else.
 */

/** Stable error codes (documented in docs/API.md). */
export const ERROR_CODES = {
  validation_failed: 400,
  invalid_json: 400,
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  internal_error: 500,
  service_unavailable: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class ApiError extends Error {
  readonly status: number;
  /** Extra response headers, e.g. Retry-After or Allow. */
  readonly headers: Record<string, string>;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly field?: string,
    options: { status?: number; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.name = 'ApiError';
    this.status = options.status ?? ERROR_CODES[code];
    this.headers = options.headers ?? {};
  }
}

export interface ErrorBody {
  error: { code: ErrorCode; message: string; field?: string; request_id?: string };
}

export function errorBody(code: ErrorCode, message: string, field?: string, requestId?: string): ErrorBody {
  return {
    error: {
      code,
      message,
      ...(field !== undefined ? { field } : {}),
      ...(requestId !== undefined ? { request_id: requestId } : {}),
    },
  };
}

export const notFound = (what = 'resource'): ApiError => new ApiError('not_found', `${what} not found`);
export const unauthorized = (message = 'a valid bearer token is required'): ApiError =>
  new ApiError('unauthorized', message);
export const forbidden = (message = 'your role may not do this'): ApiError =>
  new ApiError('forbidden', message);
