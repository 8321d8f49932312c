/**
 * STS operations: AssumeRole (role ARN, session name, external id and duration checked as
 * STS does; a role can require an external id, per role ARN or per account) and
 * GetCallerIdentity (the account, and for an assumed role its session ARN, of the caller).
 */
import type { CallContext } from './context.js';
import { SimError } from './errors.js';
import { issueCredentials, sessionIdentity } from './identity.js';
import { optionalNumber, optionalString, type Input } from './input.js';
import { WireTimestamp } from './wire.js';

const ROLE_ARN = /^arn:aws[a-z-]*:iam::(\d{12}):role\/((?:[\w+=,.@-]+\/)*)([\w+=,.@-]{1,64})$/;
const SESSION_NAME = /^[\w+=,.@-]{2,64}$/;

/** The account a role ARN lives in, or undefined if the ARN is not an IAM role ARN. */
export function roleAccount(roleArn: string | undefined): string | undefined {
  return roleArn === undefined ? undefined : ROLE_ARN.exec(roleArn)?.[1];
}

function validationError(value: string, field: string, constraint: string): SimError {
  return new SimError(
    'Validation',
    `1 validation error detected: Value '${value}' at '${field}' failed to satisfy constraint: ${constraint}`,
  );
}

/** State AssumeRole needs beyond the call context. */
export interface AssumeRoleDeps {
  /** Real clock in ms: credentials expire in wall-clock time, whatever the sim's today. */
  readonly nowMs: number;
  /** Distinct number per issued session. */
  readonly serial: number;
}

export function assumeRole(ctx: CallContext, input: Input, deps: AssumeRoleDeps): Record<string, unknown> {
  const roleArn = optionalString(input, 'RoleArn') ?? '';
  const sessionName = optionalString(input, 'RoleSessionName') ?? '';
  if (roleArn.length < 20)
    throw validationError(roleArn, 'roleArn', 'Member must have length greater than or equal to 20');
  const match = ROLE_ARN.exec(roleArn);
  const account = match?.[1];
  const path = match?.[2] ?? '';
  const roleName = match?.[3];
  if (!account || !roleName) throw new SimError('Validation', `${roleArn} is invalid`);
  if (!SESSION_NAME.test(sessionName))
    throw validationError(
      sessionName,
      'roleSessionName',
      'Member must satisfy regular expression pattern: [\\w+=,.@-]*',
    );
  const duration = optionalNumber(input, 'DurationSeconds') ?? ctx.options.sessionDurationSeconds;
  if (!Number.isInteger(duration) || duration < 900)
    throw validationError(
      String(duration),
      'durationSeconds',
      'Member must have value greater than or equal to 900',
    );
  if (duration > 43_200)
    throw validationError(
      String(duration),
      'durationSeconds',
      'Member must have value less than or equal to 43200',
    );
  if (duration > ctx.options.maxSessionDurationSeconds) {
    throw new SimError(
      'Validation',
      'The requested DurationSeconds exceeds the MaxSessionDuration set for this role.',
    );
  }
  const externalId = optionalString(input, 'ExternalId');
  if (externalId !== undefined && !/^[\w+=,.@:/-]{2,1224}$/.test(externalId)) {
    throw validationError(
      externalId,
      'externalId',
      'Member must satisfy regular expression pattern: [\\w+=,.@:\\/-]*',
    );
  }
  const required = ctx.options.externalIds[roleArn] ?? ctx.options.externalIds[account];
  const callerArn = `arn:aws:iam::${ctx.accountId}:user/costwatch`;
  if (
    ctx.options.accessDeniedAccounts.includes(account) ||
    (required !== undefined && externalId !== required)
  ) {
    // STS says nothing about why: a wrong external id looks like any other denial.
    throw new SimError(
      'AccessDenied',
      `User: ${callerArn} is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`,
    );
  }
  const credentials = issueCredentials(
    account,
    roleArn,
    deps.nowMs + duration * 1000,
    deps.serial,
    ctx.options.seed,
    sessionName,
  );
  const roleId = `AROA${credentials.AccessKeyId.slice(4, 20)}`;
  return {
    Credentials: { ...credentials, Expiration: new WireTimestamp(credentials.Expiration.getTime() / 1000) },
    AssumedRoleUser: {
      AssumedRoleId: `${roleId}:${sessionName}`,
      Arn: `arn:aws:sts::${account}:assumed-role/${path}${roleName}/${sessionName}`,
    },
    PackedPolicySize: undefined,
  };
}

export function getCallerIdentity(
  ctx: CallContext,
  accessKeyId: string,
  sessionToken: string | undefined,
): Record<string, unknown> {
  const session = sessionToken === undefined ? undefined : sessionIdentity(sessionToken);
  const role = session ? ROLE_ARN.exec(session.roleArn) : null;
  const arn =
    session && role
      ? `arn:aws:sts::${ctx.accountId}:assumed-role/${role[2] ?? ''}${role[3] ?? ''}/${session.sessionName}`
      : accessKeyId.startsWith('ASIA')
        ? `arn:aws:sts::${ctx.accountId}:assumed-role/costwatch/session`
        : `arn:aws:iam::${ctx.accountId}:user/costwatch`;
  return { UserId: accessKeyId, Account: ctx.accountId, Arn: arn };
}
