/**
 * AWS client factory. Per organization: credentials from STS AssumeRole (role ARN in the org's
 * account + the org's external id, cached until shortly before expiry) or, for an org an operator
 * marked `--self`, the default provider chain (IRSA); either way STS GetCallerIdentity must name
 * the org's account before any data is read (the confused-deputy guard). Cost Explorer and
 * CloudWatch clients carry a middleware that, on every attempt (retries included), checks the
 * job's deadline, waits for the organization's rate-limit slot, counts the request for the
 * running job and for /metrics, and records throttles and errors; another stops a query that
 * pages past AWS_MAX_PAGES.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { CostExplorerClient } from '@aws-sdk/client-cost-explorer';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import type {
  AwsCredentialIdentity,
  AwsCredentialIdentityProvider,
  FinalizeRequestMiddleware,
  InitializeMiddleware,
  Pluggable,
} from '@smithy/types';
import type { AwsRateLimiter, AwsService } from './aws-rate-limit.js';
import type { CeRequestCap } from './ce-request-cap.js';
import { AwsJobLimitError, AwsTrustError, classifyAwsError, awsErrorCode } from './aws-errors.js';
import { roleArnAccount } from './aws-trust.js';
import { AwsRetryStrategy } from './aws-retry.js';
import {
  awsErrors,
  awsEstimatedCost,
  awsRequests,
  awsThrottles,
  AWS_REQUEST_PRICE_DOLLARS,
} from './metrics.js';

/** Counts the AWS requests of one job, per operation; its creation starts the job's deadline. */
export class RequestTracker {
  readonly byOperation: Record<string, number> = {};
  /** Epoch ms the job started (AWS_JOB_DEADLINE_SECONDS counts from here). */
  readonly startedAt = Date.now();
  /** Follow-up pages per paged query (operation + input without its page token). */
  readonly followUpPages = new Map<string, number>();
  count(operation: string): void {
    this.byOperation[operation] = (this.byOperation[operation] ?? 0) + 1;
  }
  get total(): number {
    return Object.values(this.byOperation).reduce((a, b) => a + b, 0);
  }
}

const trackerStore = new AsyncLocalStorage<RequestTracker>();

/** Runs `work` with every AWS request it makes counted in `tracker`. */
export function withRequestTracker<T>(tracker: RequestTracker, work: () => Promise<T>): Promise<T> {
  return trackerStore.run(tracker, work);
}

const failedOperation = new WeakMap<object, string>();

/** The AWS operation whose response was this error (AssumeRole for credential failures). */
export function operationOfError(error: unknown): string | undefined {
  return error && typeof error === 'object' ? failedOperation.get(error) : undefined;
}

export interface OrgAwsIdentity {
  id: number;
  /** The org's account; null for the platform organization (never read). */
  awsAccountId: string | null;
  roleArn: string | null;
  externalId: string | null;
  /** No role: read with CostWatch's own identity, which an operator asked for explicitly. */
  selfIdentity: boolean;
}

export interface AwsGatewayOptions {
  region: string;
  /** AWS_ENDPOINT_URL: an emulator such as `costwatch sim`. */
  endpoint?: string | undefined;
  limiter: AwsRateLimiter;
  /** Attempts of one request on transient and server errors (backoff with full jitter). */
  maxAttempts?: number;
  /** Attempts of one request while AWS throttles it (see lib/aws-retry.ts: no SDK retry quota). */
  throttleAttempts?: number;
  /** Organizations whose clients are kept (least recently used are closed). */
  cacheSize?: number;
  /** AWS_MAX_PAGES: pages of one paged query (token loop) before the job fails; unset = no cap. */
  maxPages?: number;
  /** AWS_JOB_DEADLINE_SECONDS in ms: no AWS request of a job starts after this; unset = none. */
  jobDeadlineMs?: number;
  /** CE_DAILY_REQUEST_CAP: counts every answered Cost Explorer request per org and day, refuses those over the cap. */
  ceRequestCap?: CeRequestCap | undefined;
}

const PAGE_TOKENS = ['NextPageToken', 'NextToken'] as const;

/** Stops a query whose page-token loop runs past `maxPages` (AWS_MAX_PAGES). Runs once per command. */
function pageCapPlugin<I extends object, O extends object>(maxPages: number): Pluggable<I, O> {
  const middleware: InitializeMiddleware<I, O> = (next, context) => async (args) => {
    const tracker = trackerStore.getStore();
    const input = args.input as Record<string, unknown>;
    const token = PAGE_TOKENS.find((k) => typeof input[k] === 'string' && input[k] !== '');
    if (tracker && token) {
      const operation = String(context.commandName ?? 'Unknown').replace(/Command$/, '');
      const rest = Object.fromEntries(Object.entries(input).filter(([k]) => k !== token));
      const key = `${operation}|${JSON.stringify(rest)}`;
      const followUps = (tracker.followUpPages.get(key) ?? 0) + 1;
      tracker.followUpPages.set(key, followUps);
      if (followUps + 1 > maxPages) {
        const error = new AwsJobLimitError(
          'PageLimitExceeded',
          `${operation} kept answering with a ${token} after ${maxPages} pages of one query (AWS_MAX_PAGES=${maxPages}); ` +
            'the job stopped instead of paging on. Raise AWS_MAX_PAGES only if the account really has that much data.',
        );
        failedOperation.set(error, operation);
        throw error;
      }
    }
    return next(args);
  };
  return {
    applyToStack(stack) {
      stack.add(middleware, { step: 'initialize', name: 'costwatchPageCap', override: true });
    },
  };
}

/** Throws when the running job is past its deadline (AWS_JOB_DEADLINE_SECONDS). */
function checkDeadline(jobDeadlineMs: number | undefined, operation: string): void {
  const tracker = trackerStore.getStore();
  if (jobDeadlineMs === undefined || !tracker) return;
  const elapsed = Date.now() - tracker.startedAt;
  if (elapsed <= jobDeadlineMs) return;
  const error = new AwsJobLimitError(
    'JobDeadlineExceeded',
    `the job ran ${Math.round(elapsed / 1000)} s, past its deadline of ${Math.round(jobDeadlineMs / 1000)} s ` +
      `(AWS_JOB_DEADLINE_SECONDS), before ${operation}; it stopped instead of calling AWS again`,
  );
  failedOperation.set(error, operation);
  throw error;
}

interface OrgClients {
  key: string;
  ce: CostExplorerClient;
  cloudwatch: CloudWatchClient;
}

function trackingPlugin<I extends object, O extends object>(
  service: AwsService,
  orgId: number,
  limiter: AwsRateLimiter,
  jobDeadlineMs: number | undefined,
  cap?: CeRequestCap,
): Pluggable<I, O> {
  const middleware: FinalizeRequestMiddleware<I, O> = (next, context) => async (args) => {
    const operation = String(context.commandName ?? 'Unknown').replace(/Command$/, '');
    checkDeadline(jobDeadlineMs, operation);
    const reserved = await cap?.admit(orgId);
    await limiter.acquire(service, orgId).catch(async (error: unknown) => {
      if (reserved && cap) await cap.release(reserved).catch(() => undefined);
      throw error;
    });
    checkDeadline(jobDeadlineMs, operation);
    // Counted once AWS answered (any status): an attempt lost to a reset keep-alive socket never
    // reached AWS and is not billed, so the per-org counts match what AWS saw.
    const answered = () => {
      trackerStore.getStore()?.count(operation);
      awsRequests.inc({ service, operation });
      const price = AWS_REQUEST_PRICE_DOLLARS[operation];
      if (price) awsEstimatedCost.inc({ service, operation }, price);
    };
    try {
      const result = await next(args);
      answered();
      return result;
    } catch (error) {
      if (
        (error as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode !== undefined
      )
        answered();
      else if (reserved && cap) await cap.release(reserved).catch(() => undefined);
      if (error && typeof error === 'object' && !failedOperation.has(error))
        failedOperation.set(error, operation);
      if (classifyAwsError(error) === 'throttled') awsThrottles.inc({ service, operation });
      else awsErrors.inc({ service, operation, code: awsErrorCode(error) });
      throw error;
    }
  };
  return {
    applyToStack(stack) {
      // Low priority in finalizeRequest runs inside the retry middleware: once per attempt.
      stack.add(middleware, {
        step: 'finalizeRequest',
        priority: 'low',
        name: 'costwatchTracking',
        override: true,
      });
    },
  };
}

function trustError(
  reason: ConstructorParameters<typeof AwsTrustError>[0],
  operation: string,
  message: string,
  remedy: string,
): AwsTrustError {
  const error = new AwsTrustError(reason, message, remedy);
  failedOperation.set(error, operation);
  return error;
}

export class AwsGateway {
  private readonly clients = new Map<number, OrgClients>();
  private readonly credentials = new Map<string, Promise<AwsCredentialIdentity>>();
  private readonly sts: STSClient;
  private readonly retryStrategy: AwsRetryStrategy;

  constructor(private readonly options: AwsGatewayOptions) {
    const maxAttempts = options.maxAttempts ?? 3;
    this.retryStrategy = new AwsRetryStrategy({
      maxAttempts,
      throttleAttempts: options.throttleAttempts ?? maxAttempts,
    });
    this.sts = new STSClient(this.clientConfig());
  }

  private clientConfig(): {
    region: string;
    endpoint?: string;
    maxAttempts: number;
    retryStrategy: AwsRetryStrategy;
  } {
    return {
      region: this.options.region,
      maxAttempts: this.options.maxAttempts ?? 3,
      retryStrategy: this.retryStrategy,
      ...(this.options.endpoint ? { endpoint: this.options.endpoint } : {}),
    };
  }

  /**
   * Credentials of an organization: its assumed role, or the default chain for a `--self` org,
   * each once GetCallerIdentity confirmed the org's account. Anything else is refused.
   */
  private credentialsFor(org: OrgAwsIdentity): AwsCredentialIdentityProvider {
    const key = `${org.id}|${org.roleArn ?? 'self'}|${org.externalId ?? ''}|${org.awsAccountId ?? ''}`;
    return async () => {
      const cached = this.credentials.get(key);
      if (cached) {
        const identity = await cached.catch(() => null);
        if (identity && (identity.expiration?.getTime() ?? 0) - Date.now() > 5 * 60_000) return identity;
      }
      const pending = this.verifiedCredentials(org);
      this.credentials.set(key, pending);
      pending.catch(() => this.credentials.delete(key));
      return pending;
    };
  }

  private async verifiedCredentials(org: OrgAwsIdentity): Promise<AwsCredentialIdentity> {
    const account = org.awsAccountId;
    if (account === null)
      throw trustError(
        'platform',
        'AssumeRole',
        `organization ${org.id} is the platform organization: it has no AWS account to read`,
        'nothing to fetch for the platform organization; refresh a customer organization instead',
      );
    if (org.roleArn) {
      const roleAccount = roleArnAccount(org.roleArn);
      if (roleAccount !== account)
        throw trustError(
          'role_account_mismatch',
          'AssumeRole',
          `the role ${org.roleArn} is in account ${roleAccount ?? '(not a role ARN)'}, not in organization ${org.id}'s account ${account}: CostWatch does not assume it`,
          `give the organization a role in account ${account}: costwatch org update --id ${org.id} --role-arn arn:aws:iam::${account}:role/ROLE_NAME, then costwatch org enable --id ${org.id}`,
        );
      const credentials = await this.assumeRole(org, org.roleArn);
      const sts = new STSClient({ ...this.clientConfig(), credentials });
      try {
        await this.confirmAccount(org, account, sts, `the session of ${org.roleArn}`);
      } finally {
        sts.destroy();
      }
      return credentials;
    }
    if (!org.selfIdentity)
      throw trustError(
        'no_identity',
        'AssumeRole',
        `organization ${org.id} has no role to assume and is not marked to read with CostWatch's own identity`,
        `give it a role in account ${account}: costwatch org update --id ${org.id} --role-arn arn:aws:iam::${account}:role/ROLE_NAME ` +
          `(or --self if CostWatch itself runs in that account), then costwatch org enable --id ${org.id}`,
      );
    await this.confirmAccount(org, account, this.sts, "CostWatch's own identity (--self)");
    const own = await this.sts.config.credentials();
    // The default chain refreshes its own credentials: re-check the account within the hour.
    const recheckAt = new Date(Date.now() + 3_600_000);
    const expiration = own.expiration && own.expiration < recheckAt ? own.expiration : recheckAt;
    return { ...own, expiration };
  }

  /** STS GetCallerIdentity through `sts` must name `account` (counted per org like every request). */
  private async confirmAccount(
    org: OrgAwsIdentity,
    account: string,
    sts: STSClient,
    what: string,
  ): Promise<void> {
    const identity = await this.countedSts(org, 'GetCallerIdentity', () =>
      sts.send(new GetCallerIdentityCommand({})),
    );
    if (identity.Account !== account)
      throw trustError(
        'caller_account_mismatch',
        'GetCallerIdentity',
        `STS GetCallerIdentity says ${what} is ${identity.Arn ?? 'an identity'} in account ${identity.Account ?? '(none)'}, not organization ${org.id}'s account ${account}: CostWatch reads nothing with it`,
        `check the organization's account and role (costwatch org show --id ${org.id}); fix them with costwatch org update --id ${org.id} ` +
          `--role-arn arn:aws:iam::${account}:role/ROLE_NAME, then costwatch org enable --id ${org.id}`,
      );
  }

  /** One STS request of an organization: rate-limited, counted for the job and /metrics, errors recorded. */
  private async countedSts<T>(org: OrgAwsIdentity, operation: string, send: () => Promise<T>): Promise<T> {
    await this.options.limiter.acquire('sts', org.id);
    trackerStore.getStore()?.count(operation);
    awsRequests.inc({ service: 'sts', operation });
    try {
      return await send();
    } catch (error) {
      if (error && typeof error === 'object') failedOperation.set(error, operation);
      awsErrors.inc({ service: 'sts', operation, code: awsErrorCode(error) });
      throw error;
    }
  }

  private async assumeRole(org: OrgAwsIdentity, roleArn: string): Promise<AwsCredentialIdentity> {
    const response = await this.countedSts(org, 'AssumeRole', () =>
      this.sts.send(
        new AssumeRoleCommand({
          RoleArn: roleArn,
          RoleSessionName: `costwatch-org-${org.id}`,
          DurationSeconds: 3600,
          ...(org.externalId ? { ExternalId: org.externalId } : {}),
        }),
      ),
    );
    const c = response.Credentials;
    if (!c?.AccessKeyId || !c.SecretAccessKey) {
      const error = new Error(`STS AssumeRole of ${roleArn} returned no credentials`);
      failedOperation.set(error, 'AssumeRole');
      throw error;
    }
    return {
      accessKeyId: c.AccessKeyId,
      secretAccessKey: c.SecretAccessKey,
      ...(c.SessionToken ? { sessionToken: c.SessionToken } : {}),
      ...(c.Expiration ? { expiration: c.Expiration } : {}),
    };
  }

  private forOrg(org: OrgAwsIdentity): OrgClients {
    const key = `${org.roleArn ?? ''}|${org.externalId ?? ''}|${org.selfIdentity}|${org.awsAccountId ?? ''}`;
    const existing = this.clients.get(org.id);
    if (existing && existing.key === key) {
      // Refresh LRU position.
      this.clients.delete(org.id);
      this.clients.set(org.id, existing);
      return existing;
    }
    if (existing) this.closeClients(existing);
    const base = { ...this.clientConfig(), credentials: this.credentialsFor(org) };
    const { limiter, jobDeadlineMs, maxPages } = this.options;
    const ce = new CostExplorerClient(base);
    ce.middlewareStack.use(trackingPlugin('ce', org.id, limiter, jobDeadlineMs, this.options.ceRequestCap));
    const cloudwatch = new CloudWatchClient(base);
    cloudwatch.middlewareStack.use(trackingPlugin('cloudwatch', org.id, limiter, jobDeadlineMs));
    if (maxPages !== undefined) {
      ce.middlewareStack.use(pageCapPlugin(maxPages));
      cloudwatch.middlewareStack.use(pageCapPlugin(maxPages));
    }
    const clients = { key, ce, cloudwatch };
    this.clients.set(org.id, clients);
    const max = this.options.cacheSize ?? 500;
    while (this.clients.size > max) {
      const oldest = this.clients.keys().next();
      if (oldest.done) break;
      const evicted = this.clients.get(oldest.value);
      this.clients.delete(oldest.value);
      if (evicted) this.closeClients(evicted);
    }
    return clients;
  }

  private closeClients(clients: OrgClients): void {
    clients.ce.destroy();
    clients.cloudwatch.destroy();
  }

  costExplorer(org: OrgAwsIdentity): CostExplorerClient {
    return this.forOrg(org).ce;
  }

  cloudWatch(org: OrgAwsIdentity): CloudWatchClient {
    return this.forOrg(org).cloudwatch;
  }

  /** Forgets cached credentials of an organization (after its role or external id changed). */
  forget(orgId: number): void {
    const clients = this.clients.get(orgId);
    if (clients) this.closeClients(clients);
    this.clients.delete(orgId);
    for (const key of this.credentials.keys()) if (key.startsWith(`${orgId}|`)) this.credentials.delete(key);
  }

  destroy(): void {
    for (const clients of this.clients.values()) this.closeClients(clients);
    this.clients.clear();
    this.sts.destroy();
  }
}
