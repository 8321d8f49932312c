/**
 * Request decoding and response encoding for the three wire protocols the SDK speaks:
 * awsJson1_1 (Cost Explorer), awsJson1_0 query-compatible (CloudWatch) and awsQuery (STS,
 * and CloudWatch from older SDKs). Handlers see plain objects and return plain objects;
 * timestamps are `WireTimestamp(s)`, written as epoch seconds in JSON and ISO 8601 in XML.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { SimError, errorSpelling, faultOf, type ServiceName } from './errors.js';

export type Protocol = 'json' | 'query';

/** A decoded AWS request. */
export interface AwsRequest {
  readonly service: ServiceName;
  readonly protocol: Protocol;
  readonly operation: string;
  /** Decoded input: parsed JSON, or the awsQuery form turned into the same nested shape. */
  readonly input: Record<string, unknown>;
  /** Access key id from the SigV4 Authorization header, if any. */
  readonly accessKeyId: string | undefined;
  readonly sessionToken: string | undefined;
}

const CE_TARGET = 'AWSInsightsIndexService.';
const CW_TARGET = 'GraniteServiceVersion20100801.';
const STS_ACTIONS = new Set(['AssumeRole', 'GetCallerIdentity']);

export function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Access key id from `Authorization: AWS4-HMAC-SHA256 Credential=AKID/date/region/service/aws4_request, ...`. */
export function accessKeyFromAuthorization(authorization: string | undefined): string | undefined {
  if (!authorization) return undefined;
  const match = /Credential=([^/,\s]+)\//.exec(authorization);
  return match?.[1];
}

/** Signing service name from the credential scope (`monitoring`, `ce`, `sts`). */
function signingService(authorization: string | undefined): string | undefined {
  return /Credential=[^/]+\/[^/]+\/[^/]+\/([^/]+)\//.exec(authorization ?? '')?.[1];
}

/**
 * Decodes a request into service, operation and input. Throws SimError (with the service it
 * was meant for) when the request cannot be understood.
 */
export function decodeRequest(
  req: IncomingMessage,
  body: Buffer,
): { request?: AwsRequest; error?: { service: ServiceName; protocol: Protocol; error: SimError } } {
  const authorization = header(req, 'authorization');
  const accessKeyId = accessKeyFromAuthorization(authorization);
  const sessionToken = header(req, 'x-amz-security-token');
  const target = header(req, 'x-amz-target');
  if (target !== undefined) {
    const service: ServiceName | undefined = target.startsWith(CE_TARGET)
      ? 'ce'
      : target.startsWith(CW_TARGET)
        ? 'cloudwatch'
        : undefined;
    if (!service)
      return {
        error: {
          service: 'ce',
          protocol: 'json',
          error: new SimError('UnknownOperation', `Unknown target ${target}`),
        },
      };
    const operation = target.slice(target.indexOf('.') + 1);
    let input: unknown;
    try {
      input = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
    } catch {
      return {
        error: {
          service,
          protocol: 'json',
          error: new SimError('Validation', 'Request body is not valid JSON'),
        },
      };
    }
    if (typeof input !== 'object' || input === null || Array.isArray(input)) {
      return {
        error: {
          service,
          protocol: 'json',
          error: new SimError('Validation', 'Request body must be a JSON object'),
        },
      };
    }
    return {
      request: {
        service,
        protocol: 'json',
        operation,
        input: input as Record<string, unknown>,
        accessKeyId,
        sessionToken,
      },
    };
  }
  const form = new URLSearchParams(body.toString('utf8'));
  const url = new URL(req.url ?? '/', 'http://sim');
  for (const [key, value] of url.searchParams) if (!form.has(key)) form.set(key, value);
  const operation = form.get('Action') ?? '';
  const scope = signingService(authorization);
  const service: ServiceName = STS_ACTIONS.has(operation) || scope === 'sts' ? 'sts' : 'cloudwatch';
  if (!operation)
    return {
      error: { service, protocol: 'query', error: new SimError('UnknownOperation', 'Missing Action') },
    };
  return {
    request: { service, protocol: 'query', operation, input: formToObject(form), accessKeyId, sessionToken },
  };
}

/**
 * Turns awsQuery parameters (`A.member.1.B=x`, `Map.entry.1.key=k`) into the nested object
 * the JSON protocol would carry. Scalars stay strings; handlers coerce them.
 */
export function formToObject(form: URLSearchParams): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const [key, value] of form) {
    if (key === 'Action' || key === 'Version') continue;
    const parts = key.split('.');
    let node: Record<string, unknown> | unknown[] = root;
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i] ?? '';
      const last = i === parts.length - 1;
      if ((part === 'member' || part === 'entry') && i + 1 < parts.length) continue;
      const isIndex = /^\d+$/.test(part) && (parts[i - 1] === 'member' || parts[i - 1] === 'entry');
      const nextIsList = !last && (parts[i + 1] === 'member' || parts[i + 1] === 'entry');
      const container: Record<string, unknown> = node as Record<string, unknown>;
      const slot = isIndex ? String(Number(part) - 1) : part;
      if (last) {
        container[slot] = value;
      } else {
        container[slot] ??= nextIsList ? [] : {};
        node = container[slot] as Record<string, unknown>;
      }
    }
  }
  return root;
}

/**
 * Timestamps in a handler's result, as epoch seconds. JSON answers are one native
 * `JSON.stringify` of the result (no copy of it), which writes these as numbers through
 * `toJSON` — AWS JSON protocols' default timestamp format; awsQuery XML writes ISO 8601.
 * Results must not carry `Date`s: JSON.stringify would write them as ISO text.
 */
export class WireTimestamp {
  constructor(readonly epochSeconds: number) {}
  toJSON(): number {
    return this.epochSeconds;
  }
}

/** A list of timestamps (GetMetricData `Timestamps`), one wrapper for the whole list. */
export class WireTimestamps {
  constructor(readonly epochSeconds: readonly number[]) {}
  toJSON(): readonly number[] {
    return this.epochSeconds;
  }
}

function isoTime(epochSeconds: number): string {
  return new Date(epochSeconds * 1000).toISOString();
}

function escapeXml(text: string): string {
  return text.replace(
    /[<>&'"]/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c] ?? c,
  );
}

/** awsQuery XML for a value: lists become `<member>`, Dates ISO 8601. */
function toXml(value: unknown): string {
  if (value instanceof WireTimestamp) return isoTime(value.epochSeconds);
  if (value instanceof WireTimestamps)
    return value.epochSeconds.map((seconds) => `<member>${isoTime(seconds)}</member>`).join('');
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map((item) => `<member>${toXml(item)}</member>`).join('');
  if (value !== null && typeof value === 'object') {
    return Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `<${k}>${toXml(v)}</${k}>`)
      .join('');
  }
  return escapeXml(String(value));
}

const XML_NAMESPACES: Record<ServiceName, string> = {
  sts: 'https://sts.amazonaws.com/doc/2011-06-15/',
  cloudwatch: 'http://monitoring.amazonaws.com/doc/2010-08-01/',
  ce: '',
};

/** How a response is to be written. */
export interface ResponseTarget {
  readonly service: ServiceName;
  readonly protocol: Protocol;
  readonly operation: string;
}

function jsonContentType(service: ServiceName): string {
  return service === 'ce' ? 'application/x-amz-json-1.1' : 'application/x-amz-json-1.0';
}

/** Writes a successful result. `malformed` cuts the body short to exercise client parsing. */
export function writeResult(
  res: ServerResponse,
  target: ResponseTarget,
  result: Record<string, unknown>,
  malformed = false,
): void {
  const requestId = randomUUID();
  let body: string;
  let contentType: string;
  if (target.protocol === 'json') {
    body = JSON.stringify(result);
    contentType = jsonContentType(target.service);
  } else {
    const op = target.operation;
    body =
      `<${op}Response xmlns="${XML_NAMESPACES[target.service]}"><${op}Result>${toXml(result)}</${op}Result>` +
      `<ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></${op}Response>`;
    contentType = 'text/xml';
  }
  if (malformed) body = body.slice(0, Math.max(1, Math.floor(body.length / 2)));
  res.writeHead(200, {
    'content-type': contentType,
    'x-amzn-requestid': requestId,
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

/** Writes an error exactly as the service would. */
export function writeError(
  res: ServerResponse,
  target: Pick<ResponseTarget, 'service' | 'protocol'>,
  error: SimError,
): void {
  const requestId = randomUUID();
  const spelling = errorSpelling(target.service, error.kind);
  const headers: Record<string, string | number> = { 'x-amzn-requestid': requestId };
  let body: string;
  if (target.protocol === 'json') {
    headers['content-type'] = jsonContentType(target.service);
    if (target.service === 'cloudwatch')
      headers['x-amzn-query-error'] = `${spelling.queryCode};${faultOf(spelling.status)}`;
    body = JSON.stringify({ __type: spelling.jsonType, [spelling.messageKey]: error.message });
  } else {
    headers['content-type'] = 'text/xml';
    body =
      `<ErrorResponse xmlns="${XML_NAMESPACES[target.service]}"><Error><Type>${faultOf(spelling.status)}</Type>` +
      `<Code>${spelling.queryCode}</Code><Message>${escapeXml(error.message)}</Message></Error>` +
      `<RequestId>${requestId}</RequestId></ErrorResponse>`;
  }
  headers['content-length'] = Buffer.byteLength(body);
  res.writeHead(spelling.status, headers);
  res.end(body);
}
