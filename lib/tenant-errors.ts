/**
 * What a tenant may see of a pipeline error. The full text (AWS's message, which names
 * CostWatch's own principal; Postgres and network errors with hostnames and SQL) stays in
 * fetch_runs.error / organizations.last_error for operators. Tenants get a stable code and a
 * message built here from safe parts only: the operation and IAM action, the organization's own
 * role and account, the window, and CostWatch's own limit messages.
 */
import {
  AwsJobLimitError,
  AwsTrustError,
  IAM_ACTIONS,
  awsErrorCode,
  type AwsErrorKind,
} from './aws-errors.js';

/** A tenant-safe error: `code` is stable (docs/API.md), `message` and `remedy` are for people. */
export interface PublicError {
  code: string;
  message: string;
  remedy?: string | null;
}

export interface PublicErrorContext {
  kind: AwsErrorKind;
  error: unknown;
  /** The AWS operation that failed ('unknown' when none). */
  operation: string;
  org: { roleArn: string | null; awsAccountId: string | null };
  window: { from: string; to: string };
  /** Whether the job is retried after this attempt. */
  retried: boolean;
}

const ASK_OPERATOR = 'then ask your CostWatch operator to re-enable the organization';

/** The tenant-safe version of a fetch error. */
export function publicErrorOf(ctx: PublicErrorContext): PublicError {
  const { kind, error, operation, org } = ctx;
  const role = org.roleArn ? `the role ${org.roleArn}` : "CostWatch's own identity";
  if (error instanceof AwsTrustError) {
    if (error.reason === 'no_identity')
      return {
        code: 'aws_no_identity',
        message: 'the organization has no AWS role for CostWatch to assume',
        remedy: `create a read-only role in account ${org.awsAccountId ?? ''} with the trust policy your CostWatch operator gives you, ${ASK_OPERATOR}`,
      };
    if (error.reason === 'platform')
      return {
        code: 'not_applicable',
        message: 'the platform organization has no AWS account to read',
        remedy: null,
      };
    return {
      code: 'aws_account_mismatch',
      message: `the AWS identity CostWatch obtained for this organization is not in its account ${org.awsAccountId ?? ''}; nothing was read with it`,
      remedy: `give CostWatch a role in account ${org.awsAccountId ?? ''}, ${ASK_OPERATOR}`,
    };
  }
  if (error instanceof AwsJobLimitError)
    return {
      code: error.name === 'PageLimitExceeded' ? 'aws_page_limit' : 'aws_job_deadline',
      message: error.message,
      remedy: 'ask your CostWatch operator (the limit is a CostWatch setting)',
    };
  switch (kind) {
    case 'throttled':
      return {
        code: 'aws_throttled',
        message: 'AWS throttled the requests for this organization; the fetch is retried later',
        remedy: null,
      };
    case 'access_denied':
      if (operation === 'AssumeRole')
        return {
          code: 'aws_assume_role_denied',
          message: `AWS did not let CostWatch assume ${role}`,
          remedy: `check that the role exists and that its trust policy allows CostWatch with the external id your CostWatch operator gave you, ${ASK_OPERATOR}`,
        };
      return {
        code: 'aws_access_denied',
        message: `AWS denied ${IAM_ACTIONS[operation] ?? operation} to ${role}`,
        remedy: `allow ${IAM_ACTIONS[operation] ?? operation} in the role's permissions policy (docs/SECURITY.md), ${ASK_OPERATOR}`,
      };
    case 'invalid':
      return {
        code: 'aws_invalid_request',
        // The code names AWS's error class (ValidationException, ...): a fixed set, no free text.
        message: `AWS rejected ${operation} for ${ctx.window.from}..${ctx.window.to} (${awsErrorCode(error)})`,
        remedy: null,
      };
    default:
      return {
        code: 'fetch_failed',
        message: ctx.retried
          ? 'the fetch failed with a temporary error (AWS, the network or CostWatch itself); it is retried'
          : 'the fetch failed with a temporary error (AWS, the network or CostWatch itself) on its last attempt; your CostWatch operator can see the details',
        remedy: null,
      };
  }
}

/**
 * A stored run's error as a tenant sees it: the public version recorded with it, else (runs
 * recorded before migration 0007, or by code that records no public version) a generic one.
 */
export function shownRunError(run: {
  status: string;
  error: string | null;
  error_code: string | null;
  public_error: string | null;
}): { code: string | null; message: string | null } {
  if (run.error === null && run.public_error === null) return { code: run.error_code, message: null };
  if (run.error_code !== null && run.public_error !== null)
    return { code: run.error_code, message: run.public_error };
  if (run.status === 'interrupted')
    return {
      code: 'fetch_interrupted',
      message: 'the worker stopped before this attempt finished; the job was handed to another attempt',
    };
  return { code: 'internal', message: 'the fetch failed; your CostWatch operator can see the details' };
}
