/**
 * AWS access of each organization, through the same AwsGateway (STS AssumeRole, request
 * counting, rate limits) the workers use: one cheap call per permission CostWatch needs. Cost
 * Explorer bills $0.01 per request, so the calls are counted and reported.
 */
import { GetCostAndUsageCommand, GetCostForecastCommand } from '@aws-sdk/client-cost-explorer';
import { GetMetricDataCommand, ListMetricsCommand, type Metric } from '@aws-sdk/client-cloudwatch';
import { Redis } from 'ioredis';
import {
  AwsGateway,
  operationOfError,
  RequestTracker,
  withRequestTracker,
  type OrgAwsIdentity,
} from '../../lib/aws.js';
import { AwsRateLimiter } from '../../lib/aws-rate-limit.js';
import { accessRemedy, awsErrorCode, classifyAwsError, IAM_ACTIONS } from '../../lib/aws-errors.js';
import { addDays, type IsoDate } from '../../lib/dates.js';
import { AWS_REQUEST_PRICE_DOLLARS } from '../../lib/metrics.js';
import {
  describeError,
  errorCode,
  fail,
  K8S,
  pass,
  skip,
  warn,
  withTimeout,
  type CheckResult,
} from './check.js';

const NS = `-n ${K8S.namespace}`;

/** An organization as the AWS check needs it. */
export interface DoctorOrg extends OrgAwsIdentity {
  name: string;
  awsAccountId: string;
  status: string;
}

/** A rate limiter that never waits, for when Redis (which holds the shared limits) is down. */
class UnlimitedRateLimiter extends AwsRateLimiter {
  constructor() {
    super(new Redis({ lazyConnect: true, enableOfflineQueue: false }), 'doctor', {
      ce: 1,
      cloudwatch: 1,
      global: 1,
    });
  }
  override async acquire(): Promise<void> {}
}

export interface AwsCheckOptions {
  region: string;
  endpoint: string | undefined;
  /** Connected Redis for the shared per-organization rate limits, or null to skip them. */
  redis: Redis | null;
  prefix: string;
  rates: { ce: number; cloudwatch: number; global: number };
  timeoutMs: number;
  /** Today, UTC. */
  today: IsoDate;
  /** The clock's reading (the GetMetricData probe reads the last whole hour before it). */
  now: Date;
}

/** Requests the doctor sent to AWS, per operation, and their Cost Explorer charge. */
export interface AwsUsage {
  requests: number;
  byOperation: Record<string, number>;
  estimatedDollars: number;
}

type Verdict = {
  action: string;
  state: 'allowed' | 'denied' | 'throttled' | 'error' | 'not tested';
  note: string;
  remedy?: string;
};

function credentialFix(error: unknown, endpoint: string | undefined): string {
  const code = errorCode(error);
  if (
    code === 'ECONNREFUSED' ||
    code === 'ENOTFOUND' ||
    code === 'ETIMEDOUT' ||
    (error instanceof Error && error.name === 'TimeoutError')
  ) {
    return endpoint
      ? `AWS_ENDPOINT_URL=${endpoint} does not answer: start the simulator (costwatch sim; compose: docker compose up -d sim) or unset AWS_ENDPOINT_URL for real AWS`
      : `AWS does not answer: check egress to 443 (kubectl ${NS} get networkpolicy), a proxy, or DNS from the pod`;
  }
  return [
    `CostWatch has no AWS credentials of its own (default provider chain). On EKS (IRSA):`,
    `kubectl ${NS} get sa ${K8S.serviceAccount} -o yaml   # needs eks.amazonaws.com/role-arn: arn:aws:iam::ACCOUNT:role/costwatch-role`,
    `kubectl ${NS} annotate sa ${K8S.serviceAccount} eks.amazonaws.com/role-arn=arn:aws:iam::ACCOUNT:role/ROLE_NAME --overwrite; kubectl ${NS} rollout restart deployment`,
    `kubectl ${NS} exec deploy/${K8S.api} -- env | grep AWS_   # expect AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE`,
  ].join('\n');
}

/** Runs one call and turns its outcome into a verdict for `operation`'s IAM action. */
async function probe(
  org: DoctorOrg,
  operation: string,
  call: () => Promise<unknown>,
  options: AwsCheckOptions,
): Promise<{ verdict: Verdict; assumeFailed: Verdict | null }> {
  const action = IAM_ACTIONS[operation] ?? operation;
  try {
    await withTimeout(call(), options.timeoutMs + 1000, `${action}`);
    return { verdict: { action, state: 'allowed', note: 'allowed' }, assumeFailed: null };
  } catch (error) {
    const failedOn = operationOfError(error) ?? operation;
    const kind = classifyAwsError(error);
    const code = awsErrorCode(error);
    const message = describeError(error).slice(0, 300);
    if (failedOn === 'AssumeRole' || failedOn === 'GetCallerIdentity') {
      const stsAction = `sts:${failedOn}`;
      const assume: Verdict =
        kind === 'access_denied' || kind === 'invalid'
          ? {
              action: stsAction,
              state: 'denied',
              note: `${code}: ${message}`,
              remedy: accessRemedy(failedOn, org, error),
            }
          : kind === 'throttled'
            ? { action: stsAction, state: 'throttled', note: `${code}: throttled, not verified` }
            : {
                action: stsAction,
                state: 'error',
                note: message,
                remedy: credentialFix(error, options.endpoint),
              };
      return {
        verdict: { action, state: 'not tested', note: 'not tested (no credentials)' },
        assumeFailed: assume,
      };
    }
    if (kind === 'access_denied')
      return {
        verdict: {
          action,
          state: 'denied',
          note: `${code}: ${message}`,
          remedy: accessRemedy(operation, org, error),
        },
        assumeFailed: null,
      };
    if (kind === 'throttled')
      return {
        verdict: { action, state: 'throttled', note: `${code}: throttled, not verified (retry later)` },
        assumeFailed: null,
      };
    // AWS checked the permission before rejecting the input (e.g. DataUnavailableException of a new account).
    if (kind === 'invalid')
      return {
        verdict: { action, state: 'allowed', note: `allowed (AWS answered ${code})` },
        assumeFailed: null,
      };
    return {
      verdict: { action, state: 'error', note: message, remedy: credentialFix(error, options.endpoint) },
      assumeFailed: null,
    };
  }
}

/** Checks one organization; `gateway` and `tracker` are shared so requests are counted once. */
async function checkOrg(org: DoctorOrg, gateway: AwsGateway, options: AwsCheckOptions): Promise<CheckResult> {
  const name = `aws org ${org.id} (${org.name})`;
  const signal = () => AbortSignal.timeout(options.timeoutMs);
  const ce = gateway.costExplorer(org);
  const cw = gateway.cloudWatch(org);
  const verdicts: Verdict[] = [];
  const first = await probe(
    org,
    'GetCostAndUsage',
    () =>
      ce.send(
        new GetCostAndUsageCommand({
          TimePeriod: { Start: addDays(options.today, -1), End: options.today },
          Granularity: 'DAILY',
          Metrics: ['UnblendedCost'],
        }),
        { abortSignal: signal() },
      ),
    options,
  );
  if (first.assumeFailed) {
    verdicts.push(first.assumeFailed);
  } else {
    if (org.roleArn) verdicts.push({ action: 'sts:AssumeRole', state: 'allowed', note: 'allowed' });
    verdicts.push({ action: 'sts:GetCallerIdentity', state: 'allowed', note: `account ${org.awsAccountId}` });
    verdicts.push(first.verdict);
    const forecast = await probe(
      org,
      'GetCostForecast',
      () =>
        ce.send(
          new GetCostForecastCommand({
            TimePeriod: { Start: options.today, End: addDays(options.today, 1) },
            Granularity: 'DAILY',
            Metric: 'UNBLENDED_COST',
          }),
          { abortSignal: signal() },
        ),
      options,
    );
    verdicts.push(forecast.verdict);
    let metric: Metric | undefined;
    const list = await probe(
      org,
      'ListMetrics',
      async () => {
        const page = await cw.send(
          new ListMetricsCommand({ Namespace: 'AWS/EC2', MetricName: 'CPUUtilization' }),
          { abortSignal: signal() },
        );
        metric = page.Metrics?.[0];
      },
      options,
    );
    verdicts.push(list.verdict);
    const end = new Date(Math.floor(options.now.getTime() / 3_600_000) * 3_600_000);
    const data = await probe(
      org,
      'GetMetricData',
      () =>
        cw.send(
          new GetMetricDataCommand({
            MetricDataQueries: [
              {
                Id: 'q0',
                MetricStat: {
                  Metric: metric ?? { Namespace: 'AWS/EC2', MetricName: 'CPUUtilization' },
                  Period: 3600,
                  Stat: 'Average',
                },
                ReturnData: true,
              },
            ],
            StartTime: new Date(end.getTime() - 3_600_000),
            EndTime: end,
          }),
          { abortSignal: signal() },
        ),
      options,
    );
    verdicts.push(data.verdict);
  }
  const detail = `account ${org.awsAccountId}, ${org.roleArn ? `role ${org.roleArn}` : org.selfIdentity ? "CostWatch's own identity (--self)" : 'no role (refused)'}, status ${org.status}: ${verdicts
    .map((v) => `${v.action} ${v.state === 'allowed' ? 'ok' : v.note}`)
    .join('; ')}`;
  const remedies = [...new Set(verdicts.flatMap((v) => (v.remedy ? [v.remedy] : [])))];
  const denied = verdicts.filter((v) => v.state === 'denied' || v.state === 'error');
  if (denied.length > 0) {
    return fail(
      name,
      `${denied.map((v) => `${v.action} ${v.state}`).join(', ')} -- ${detail}`,
      remedies.join('\n'),
    );
  }
  if (verdicts.some((v) => v.state === 'throttled')) {
    return warn(
      name,
      detail,
      `AWS throttled the check; run it again later (costwatch doctor --org ${org.id}) or lower CE_RATE_PER_ORG`,
    );
  }
  if (org.status !== 'active') {
    return warn(
      name,
      `access works now, but the organization is ${org.status} -- ${detail}`,
      `re-enable it: costwatch org enable --id ${org.id}`,
    );
  }
  return pass(name, detail);
}

/** Checks every given organization; returns the results and the AWS requests made. */
export async function checkAwsAccess(
  orgs: DoctorOrg[],
  options: AwsCheckOptions,
): Promise<{ results: CheckResult[]; usage: AwsUsage }> {
  const tracker = new RequestTracker();
  const usage = (): AwsUsage => ({
    requests: tracker.total,
    byOperation: { ...tracker.byOperation },
    estimatedDollars:
      Math.round(
        Object.entries(tracker.byOperation).reduce(
          (sum, [op, n]) => sum + (AWS_REQUEST_PRICE_DOLLARS[op] ?? 0) * n,
          0,
        ) * 100,
      ) / 100,
  });
  if (orgs.length === 0)
    return { results: [skip('aws', 'no organizations to check (costwatch org list)')], usage: usage() };
  const limiter = options.redis
    ? new AwsRateLimiter(options.redis, options.prefix, options.rates, options.timeoutMs)
    : new UnlimitedRateLimiter();
  const gateway = new AwsGateway({
    region: options.region,
    endpoint: options.endpoint,
    limiter,
    maxAttempts: 1,
    cacheSize: 8,
  });
  const results: CheckResult[] = [];
  try {
    await withRequestTracker(tracker, async () => {
      for (const org of orgs) {
        results.push(
          await checkOrg(org, gateway, options).catch((error: unknown) =>
            fail(
              `aws org ${org.id} (${org.name})`,
              describeError(error),
              credentialFix(error, options.endpoint),
            ),
          ),
        );
        gateway.forget(org.id);
      }
    });
  } finally {
    gateway.destroy();
  }
  return { results, usage: usage() };
}
