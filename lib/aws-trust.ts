/**
 * The trust between CostWatch and a customer's AWS account: the external id CostWatch generates
 * for each organization (random, unique, never chosen by whoever asks for the organization), the
 * trust policy the customer pastes into the role, and the account a role ARN lives in.
 */
import { randomBytes } from 'node:crypto';

/** A fresh external id: `cw-` + 40 hex characters (160 random bits), within STS's allowed characters. */
export function generateExternalId(): string {
  return `cw-${randomBytes(20).toString('hex')}`;
}

const ROLE_ARN = /^arn:aws[a-z-]*:iam::(\d{12}):role\/[A-Za-z0-9+=,.@_/-]{1,512}$/;

/** The 12-digit account an IAM role ARN lives in, or undefined when it is not a role ARN. */
export function roleArnAccount(roleArn: string): string | undefined {
  return ROLE_ARN.exec(roleArn)?.[1];
}

/** Shown in a trust policy when AWS_PRINCIPAL_ARN is not set. */
export const PRINCIPAL_PLACEHOLDER = 'arn:aws:iam::COSTWATCH_ACCOUNT_ID:role/COSTWATCH_ROLE';

/**
 * The trust policy of the customer's role: only CostWatch's principal may assume it, and only
 * with this organization's external id (the confused-deputy guard AWS documents).
 */
export function trustPolicy(principalArn: string | undefined, externalId: string): Record<string, unknown> {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: { AWS: principalArn ?? PRINCIPAL_PLACEHOLDER },
        Action: 'sts:AssumeRole',
        Condition: { StringEquals: { 'sts:ExternalId': externalId } },
      },
    ],
  };
}
