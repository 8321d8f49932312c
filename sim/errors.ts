/**
 * Simulator errors and how each AWS protocol spells them. Handlers throw `SimError` with a
 * protocol-neutral kind; the codec turns it into the status, body and headers the real
 * service sends, so the SDK's own error parsing and retry classification run unchanged.
 */

export type ErrorKind =
  | 'Throttling'
  | 'AccessDenied'
  | 'Validation'
  | 'InvalidParameterValue'
  | 'InvalidParameterCombination'
  | 'MissingParameter'
  | 'InvalidNextToken'
  | 'DataUnavailable'
  | 'ExpiredToken'
  | 'MissingAuthenticationToken'
  | 'UnknownOperation'
  | 'InternalFailure'
  | 'ServiceUnavailable';

/** A failure to report to the client in the service's own error shape. */
export class SimError extends Error {
  constructor(
    readonly kind: ErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'SimError';
  }
}

/** How one service encodes one error kind. */
export interface ErrorSpelling {
  readonly status: number;
  /** `__type` of awsJson bodies; for CloudWatch also the shape the SDK resolves. */
  readonly jsonType: string;
  /** Code of awsQuery bodies and of CloudWatch's `x-amzn-query-error` header. */
  readonly queryCode: string;
  /** Name of the message member in awsJson bodies (Cost Explorer models `Message`). */
  readonly messageKey: 'message' | 'Message';
}

const spell = (
  status: number,
  jsonType: string,
  queryCode: string,
  messageKey: 'message' | 'Message' = 'message',
): ErrorSpelling => ({
  status,
  jsonType,
  queryCode,
  messageKey,
});

/** Cost Explorer (awsJson1_1). Its throttling error is LimitExceededException. */
const COST_EXPLORER: Record<ErrorKind, ErrorSpelling> = {
  Throttling: spell(400, 'LimitExceededException', 'LimitExceededException', 'Message'),
  AccessDenied: spell(400, 'AccessDeniedException', 'AccessDeniedException', 'Message'),
  Validation: spell(400, 'ValidationException', 'ValidationException', 'Message'),
  InvalidParameterValue: spell(400, 'ValidationException', 'ValidationException', 'Message'),
  InvalidParameterCombination: spell(400, 'ValidationException', 'ValidationException', 'Message'),
  MissingParameter: spell(400, 'ValidationException', 'ValidationException', 'Message'),
  InvalidNextToken: spell(400, 'InvalidNextTokenException', 'InvalidNextTokenException', 'Message'),
  DataUnavailable: spell(400, 'DataUnavailableException', 'DataUnavailableException', 'Message'),
  ExpiredToken: spell(400, 'ExpiredTokenException', 'ExpiredTokenException'),
  MissingAuthenticationToken: spell(403, 'MissingAuthenticationTokenException', 'MissingAuthenticationToken'),
  UnknownOperation: spell(400, 'UnknownOperationException', 'UnknownOperationException'),
  InternalFailure: spell(500, 'InternalFailure', 'InternalFailure'),
  ServiceUnavailable: spell(503, 'ServiceUnavailable', 'ServiceUnavailable'),
};

/**
 * CloudWatch (awsJson1_0 in query-compatible mode, and awsQuery). The SDK takes the error
 * code from `x-amzn-query-error`, so queryCode is what callers see as `error.name`.
 */
const CLOUDWATCH: Record<ErrorKind, ErrorSpelling> = {
  Throttling: spell(400, 'com.amazon.coral.availability#ThrottlingException', 'Throttling'),
  AccessDenied: spell(403, 'com.amazon.coral.service#AccessDeniedException', 'AccessDenied'),
  Validation: spell(400, 'com.amazonaws.cloudwatch#InvalidParameterValueException', 'InvalidParameterValue'),
  InvalidParameterValue: spell(
    400,
    'com.amazonaws.cloudwatch#InvalidParameterValueException',
    'InvalidParameterValue',
  ),
  InvalidParameterCombination: spell(
    400,
    'com.amazonaws.cloudwatch#InvalidParameterCombinationException',
    'InvalidParameterCombination',
  ),
  MissingParameter: spell(
    400,
    'com.amazonaws.cloudwatch#MissingRequiredParameterException',
    'MissingParameter',
  ),
  InvalidNextToken: spell(400, 'com.amazonaws.cloudwatch#InvalidNextToken', 'InvalidNextToken'),
  DataUnavailable: spell(
    400,
    'com.amazonaws.cloudwatch#InvalidParameterValueException',
    'InvalidParameterValue',
  ),
  ExpiredToken: spell(403, 'com.amazon.coral.service#ExpiredTokenException', 'ExpiredToken'),
  MissingAuthenticationToken: spell(
    403,
    'com.amazon.coral.service#MissingAuthenticationTokenException',
    'MissingAuthenticationToken',
  ),
  UnknownOperation: spell(400, 'com.amazon.coral.service#UnknownOperationException', 'InvalidAction'),
  InternalFailure: spell(500, 'com.amazonaws.cloudwatch#InternalServiceFault', 'InternalServiceError'),
  ServiceUnavailable: spell(
    503,
    'com.amazon.coral.availability#ServiceUnavailableException',
    'ServiceUnavailable',
  ),
};

/** STS (awsQuery). */
const STS: Record<ErrorKind, ErrorSpelling> = {
  Throttling: spell(400, 'Throttling', 'Throttling'),
  AccessDenied: spell(403, 'AccessDenied', 'AccessDenied'),
  Validation: spell(400, 'ValidationError', 'ValidationError'),
  InvalidParameterValue: spell(400, 'ValidationError', 'ValidationError'),
  InvalidParameterCombination: spell(400, 'ValidationError', 'ValidationError'),
  MissingParameter: spell(400, 'MissingParameter', 'MissingParameter'),
  InvalidNextToken: spell(400, 'ValidationError', 'ValidationError'),
  DataUnavailable: spell(400, 'ValidationError', 'ValidationError'),
  ExpiredToken: spell(400, 'ExpiredToken', 'ExpiredToken'),
  MissingAuthenticationToken: spell(403, 'MissingAuthenticationToken', 'MissingAuthenticationToken'),
  UnknownOperation: spell(400, 'InvalidAction', 'InvalidAction'),
  InternalFailure: spell(500, 'InternalFailure', 'InternalFailure'),
  ServiceUnavailable: spell(503, 'ServiceUnavailable', 'ServiceUnavailable'),
};

export type ServiceName = 'ce' | 'cloudwatch' | 'sts';

export function errorSpelling(service: ServiceName, kind: ErrorKind): ErrorSpelling {
  const table = service === 'ce' ? COST_EXPLORER : service === 'cloudwatch' ? CLOUDWATCH : STS;
  return table[kind];
}

/** Sender (client fault) or Receiver (server fault), as awsQuery error bodies say it. */
export function faultOf(status: number): 'Sender' | 'Receiver' {
  return status >= 500 ? 'Receiver' : 'Sender';
}
