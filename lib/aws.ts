/**
 * AWS client factory. Per organization: credentials from STS AssumeRole (role ARN + external id,
 * cached until shortly before expiry) or the default provider chain (IRSA); Cost Explorer and
 * CloudWatch clients carrying a middleware that, on every attempt (retries included), waits for
 * the organization's rate-limit slot, counts the request for the running job and for /metrics,
 * and records throttles and errors.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { CostExplorerClient } from '@aws-sdk/client-cost-explorer';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import type {
  AwsCredentialIdentity,
  AwsCredentialIdentityProvider,
  FinalizeRequestMiddleware,
  Pluggable,
} from '@smithy/types';
import type { AwsRateLimiter, AwsService } from './aws-rate-limit.js';
import type { CeRequestCap } from './ce-request-cap.js';
import { classifyAwsError, awsErrorCode } from './aws-errors.js';
import { AwsRetryStrategy } from './aws-retry.js';
import {
  awsErrors,
  awsEstimatedCost,
  awsRequests,
  awsThrottles,
  AWS_REQUEST_PRICE_DOLLARS,
} from './metrics.js';

/** Counts the AWS requests of one job, per operation. */
export class RequestTracker {
  readonly byOperation: Record<string, number> = {};
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
  roleArn: string | null;
  externalId: string | null;
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
  /** CE_DAILY_REQUEST_CAP: counts every answered Cost Explorer request per org and day, refuses those over the cap. */
  ceRequestCap?: CeRequestCap | undefined;
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
  cap?: CeRequestCap,
): Pluggable<I, O> {
  const middleware: FinalizeRequestMiddleware<I, O> = (next, context) => async (args) => {
    const operation = String(context.commandName ?? 'Unknown').replace(/Command$/, '');
    const reserved = await cap?.admit(orgId);
    await limiter.acquire(service, orgId).catch(async (error: unknown) => {
      if (reserved && cap) await cap.release(reserved).catch(() => undefined);
      throw error;
    });
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

  /** Credentials of an organization: its assumed role, or undefined for the default chain. */
  private credentialsFor(org: OrgAwsIdentity): AwsCredentialIdentityProvider | undefined {
    const { roleArn } = org;
    if (!roleArn) return undefined;
    const key = `${org.id}|${roleArn}|${org.externalId ?? ''}`;
    return async () => {
      const cached = this.credentials.get(key);
      if (cached) {
        const identity = await cached.catch(() => null);
        if (identity && (identity.expiration?.getTime() ?? 0) - Date.now() > 5 * 60_000) return identity;
      }
      const pending = this.assumeRole(org, roleArn);
      this.credentials.set(key, pending);
      pending.catch(() => this.credentials.delete(key));
      return pending;
    };
  }

  private async assumeRole(org: OrgAwsIdentity, roleArn: string): Promise<AwsCredentialIdentity> {
    await this.options.limiter.acquire('sts', org.id);
    trackerStore.getStore()?.count('AssumeRole');
    awsRequests.inc({ service: 'sts', operation: 'AssumeRole' });
    try {
      const response = await this.sts.send(
        new AssumeRoleCommand({
          RoleArn: roleArn,
          RoleSessionName: `costwatch-org-${org.id}`,
          DurationSeconds: 3600,
          ...(org.externalId ? { ExternalId: org.externalId } : {}),
        }),
      );
      const c = response.Credentials;
      if (!c?.AccessKeyId || !c.SecretAccessKey)
        throw new Error(`STS AssumeRole of ${roleArn} returned no credentials`);
      return {
        accessKeyId: c.AccessKeyId,
        secretAccessKey: c.SecretAccessKey,
        ...(c.SessionToken ? { sessionToken: c.SessionToken } : {}),
        ...(c.Expiration ? { expiration: c.Expiration } : {}),
      };
    } catch (error) {
      if (error && typeof error === 'object') failedOperation.set(error, 'AssumeRole');
      awsErrors.inc({ service: 'sts', operation: 'AssumeRole', code: awsErrorCode(error) });
      throw error;
    }
  }

  private forOrg(org: OrgAwsIdentity): OrgClients {
    const key = `${org.roleArn ?? ''}|${org.externalId ?? ''}`;
    const existing = this.clients.get(org.id);
    if (existing && existing.key === key) {
      // Refresh LRU position.
      this.clients.delete(org.id);
      this.clients.set(org.id, existing);
      return existing;
    }
    if (existing) this.closeClients(existing);
    const credentials = this.credentialsFor(org);
    const base = { ...this.clientConfig(), ...(credentials ? { credentials } : {}) };
    const ce = new CostExplorerClient(base);
    ce.middlewareStack.use(trackingPlugin('ce', org.id, this.options.limiter, this.options.ceRequestCap));
    const cloudwatch = new CloudWatchClient(base);
    cloudwatch.middlewareStack.use(trackingPlugin('cloudwatch', org.id, this.options.limiter));
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
