/**
 * How CostWatch reacts to an AWS error: throttling slows the organization down, permission errors
 * stop it with a remedy, validation errors fail the job, anything else is retried.
 */
export type AwsErrorKind = 'throttled' | 'access_denied' | 'invalid' | 'limit' | 'transient';

/**
 * An AWS response CostWatch cannot store as sent (missing fields, a non-decimal amount, a repeated
 * page token). Treated as transient: the load rolls back and the job retries, then fails clearly.
 */
export class MalformedDataError extends Error {
  override name = 'MalformedDataError';
}

/** Why CostWatch refuses to read an organization with the AWS identity it has (a permission-type stop). */
export type TrustFailure = 'no_identity' | 'role_account_mismatch' | 'caller_account_mismatch' | 'platform';

/**
 * CostWatch's own refusal to read an organization: no role and no `--self`, a role ARN in another
 * account than the organization's, or STS GetCallerIdentity naming another account. Classified
 * like AccessDenied: the organization stops with a remedy, no retries.
 */
export class AwsTrustError extends Error {
  override name = 'AwsTrustError';
  constructor(
    readonly reason: TrustFailure,
    message: string,
    readonly remedy: string,
  ) {
    super(message);
  }
}

/**
 * A job hit AWS_MAX_PAGES (one query paged on and on) or AWS_JOB_DEADLINE_SECONDS. The job fails
 * for good with this message (retrying would pay for the same pages again); the org stays active.
 */
export class AwsJobLimitError extends Error {
  constructor(
    override readonly name: 'PageLimitExceeded' | 'JobDeadlineExceeded',
    message: string,
  ) {
    super(message);
  }
}

const THROTTLING = new Set([
  'LimitExceededException',
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'ThrottledException',
  'RequestThrottledException',
  'SlowDown',
]);

const ACCESS = new Set([
  'AccessDeniedException',
  'AccessDenied',
  'UnauthorizedOperation',
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'ExpiredToken',
  'ExpiredTokenException',
  'NotAuthorized',
  'OptInRequired',
]);

const INVALID = new Set([
  'ValidationException',
  'InvalidParameterValueException',
  'InvalidParameterCombinationException',
  'InvalidParameterValue',
  'MissingParameter',
  'BillExpirationException',
  'DataUnavailableException',
  'InvalidNextTokenException',
  'RequestChangedException',
  'UnresolvableUsageUnitException',
]);

interface AwsLikeError {
  name?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: { throttling?: boolean };
}

export function awsErrorCode(error: unknown): string {
  if (
    error &&
    typeof error === 'object' &&
    'name' in error &&
    typeof (error as AwsLikeError).name === 'string'
  ) {
    return (error as AwsLikeError).name ?? 'Error';
  }
  return 'Error';
}

export function classifyAwsError(error: unknown): AwsErrorKind {
  if (error instanceof AwsTrustError) return 'access_denied';
  if (error instanceof AwsJobLimitError) return 'limit';
  const e = (error ?? {}) as AwsLikeError;
  const name = awsErrorCode(error);
  const status = e.$metadata?.httpStatusCode;
  if (THROTTLING.has(name) || status === 429 || e.$retryable?.throttling) return 'throttled';
  if (ACCESS.has(name) || status === 403) return 'access_denied';
  if (INVALID.has(name)) return 'invalid';
  return 'transient';
}

/** The IAM action behind an API operation, for remedies. */
export const IAM_ACTIONS: Record<string, string> = {
  GetCostAndUsage: 'ce:GetCostAndUsage',
  GetCostForecast: 'ce:GetCostForecast',
  GetDimensionValues: 'ce:GetDimensionValues',
  ListMetrics: 'cloudwatch:ListMetrics',
  GetMetricData: 'cloudwatch:GetMetricData',
  GetMetricStatistics: 'cloudwatch:GetMetricStatistics',
  AssumeRole: 'sts:AssumeRole',
  GetCallerIdentity: 'sts:GetCallerIdentity',
};

/** A message an operator can act on for a permission error of `operation` (or CostWatch's own refusal, `error`). */
export function accessRemedy(
  operation: string,
  org: { id: number; roleArn: string | null; externalId: string | null },
  error?: unknown,
): string {
  if (error instanceof AwsTrustError) return error.remedy;
  if (operation === 'AssumeRole') {
    return (
      `CostWatch could not assume ${org.roleArn ?? 'the role'}: check that the role exists, that its trust policy lets ` +
      `CostWatch's principal call sts:AssumeRole${org.externalId ? ' with the external id set on this organization' : ''}, ` +
      `then run \`costwatch org enable --id ${org.id}\`.`
    );
  }
  const action = IAM_ACTIONS[operation] ?? `the IAM action for ${operation}`;
  return (
    `Allow ${action} to ${org.roleArn ?? "CostWatch's own role (IRSA / default credentials)"} ` +
    `(see the policy in docs/SECURITY.md), then run \`costwatch org enable --id ${org.id}\`.`
  );
}
