/**
 * The path of one AWS request through the simulator: decode, attribute to an account,
 * count, delay, then the front-door checks AWS applies before an operation runs
 * (authentication, expired session, injected faults, rate limit, access denied), then the
 * operation itself.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  getCostAndUsage,
  getCostCategories,
  getCostForecast,
  getDimensionValues,
  getTags,
} from './ce-handlers.js';
import type { CallContext } from './context.js';
import { getMetricData, getMetricStatistics, listMetrics } from './cw-handlers.js';
import { SimError, type ServiceName } from './errors.js';
import { accountForAccessKey, sessionExpiry } from './identity.js';
import type { Input } from './input.js';
import { hashUnit } from './prng.js';
import type { SimulatorState } from './state.js';
import { assumeRole, getCallerIdentity, roleAccount } from './sts-handlers.js';
import { decodeRequest, writeError, writeResult, type AwsRequest } from './wire.js';

type Handler = (
  ctx: CallContext,
  input: Input,
  request: AwsRequest,
  state: SimulatorState,
) => Record<string, unknown>;

/** Operations by IAM-style name. */
const HANDLERS: Record<string, Handler> = {
  'ce:GetCostAndUsage': (ctx, input) => getCostAndUsage(ctx, input),
  'ce:GetCostForecast': (ctx, input) => getCostForecast(ctx, input),
  'ce:GetDimensionValues': (ctx, input) => getDimensionValues(ctx, input),
  'ce:GetTags': (ctx, input) => getTags(ctx, input),
  'ce:GetCostCategories': (ctx, input) => getCostCategories(ctx, input),
  'cloudwatch:ListMetrics': (ctx, input) => listMetrics(ctx, input),
  'cloudwatch:GetMetricData': (ctx, input) => getMetricData(ctx, input),
  'cloudwatch:GetMetricStatistics': (ctx, input) => getMetricStatistics(ctx, input),
  'sts:AssumeRole': (ctx, input, _request, state) =>
    assumeRole(ctx, input, { nowMs: Date.now(), serial: state.nextSerial() }),
  'sts:GetCallerIdentity': (ctx, _input, request) =>
    getCallerIdentity(ctx, request.accessKeyId ?? '', request.sessionToken),
};

/** The page token field of each paged operation. */
const PAGE_TOKEN_FIELDS: Record<string, string> = {
  'ce:GetCostAndUsage': 'NextPageToken',
  'ce:GetDimensionValues': 'NextPageToken',
  'cloudwatch:ListMetrics': 'NextToken',
  'cloudwatch:GetMetricData': 'NextToken',
};
const ENDLESS_PREFIX = 'endless-';

/**
 * endlessPagingAccounts: after the first page, every page is empty (its lists have no items) and
 * carries a fresh token (a repeated-token check never fires), so only a client's own page cap or
 * deadline ends the loop.
 */
function isEndlessFollowUp(input: Input, field: string): boolean {
  const token = input[field];
  return typeof token === 'string' && token.startsWith(ENDLESS_PREFIX);
}

function withoutField(input: Input, field: string): Input {
  return Object.fromEntries(Object.entries(input).filter(([k]) => k !== field));
}

function emptied(result: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(result).map(([k, v]) => [k, Array.isArray(v) ? [] : v]));
}

function deniedMessage(service: ServiceName, accountId: string, action: string): string {
  const principal = `arn:aws:sts::${accountId}:assumed-role/CostWatchRole/costwatch`;
  return service === 'ce'
    ? `User: ${principal} is not authorized to perform: ${action} on resource: arn:aws:ce:us-east-1:${accountId}:/${action.slice(3)}`
    : `User: ${principal} is not authorized to perform: ${action} because no identity-based policy allows the ${action} action`;
}

/** Runs the front-door checks; returns the error to answer with, if any. */
function frontDoor(
  state: SimulatorState,
  request: AwsRequest,
  account: string,
  action: string,
  sequence: number,
): SimError | undefined {
  const options = state.current;
  if (request.accessKeyId === undefined) {
    return new SimError('MissingAuthenticationToken', 'Request is missing Authentication Token');
  }
  const expiry = request.sessionToken === undefined ? undefined : sessionExpiry(request.sessionToken);
  if (expiry !== undefined && expiry <= Date.now()) {
    return new SimError('ExpiredToken', 'The security token included in the request is expired');
  }
  const fault = options.operationFaults[action];
  if (fault === 'error')
    return new SimError('InternalFailure', 'We encountered an internal error. Please try again.');
  if (fault === 'throttle') return new SimError('Throttling', 'Rate exceeded');
  if (fault === 'unavailable')
    return new SimError('DataUnavailable', 'Data is not available. Please try to adjust the time period.');
  if (
    options.errorRate > 0 &&
    hashUnit(options.seed, 'error', account, action, sequence) < options.errorRate
  ) {
    return hashUnit(options.seed, 'error-kind', account, action, sequence) < 0.5
      ? new SimError('InternalFailure', 'We encountered an internal error. Please try again.')
      : new SimError('ServiceUnavailable', 'Service is unavailable. Please try again later.');
  }
  const throttleRate = options.accountThrottleRates[account] ?? options.throttleRate;
  if (throttleRate > 0 && hashUnit(options.seed, 'throttle', account, action, sequence) < throttleRate) {
    return new SimError('Throttling', 'Rate exceeded');
  }
  if (!state.limiter.tryTake(`${account}|${request.service}`, options.rateLimit, Date.now())) {
    return new SimError('Throttling', 'Rate exceeded');
  }
  if (request.service !== 'sts' && options.accessDeniedAccounts.includes(account)) {
    return new SimError('AccessDenied', deniedMessage(request.service, account, action));
  }
  if (request.service === 'ce' && options.dataUnavailableAccounts.includes(account)) {
    return new SimError(
      'DataUnavailable',
      'Data is not available. Please try to adjust the time period. If you have recently created your account, please wait up to 24 hours for your data to be available.',
    );
  }
  return undefined;
}

function isPlainObject(value: object): boolean {
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Well-formed JSON with wrong values: every `Amount` becomes a non-decimal, plus a key AWS never sends. */
function corruptAmounts(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(corruptAmounts);
  if (typeof value !== 'object' || value === null || !isPlainObject(value)) return value;
  const out: Record<string, unknown> = { UnexpectedKey: { Nested: [1, 'two'] } };
  for (const [k, v] of Object.entries(value)) out[k] = k === 'Amount' ? '1,234.5O USD' : corruptAmounts(v);
  return out;
}

export async function handleAws(
  state: SimulatorState,
  req: IncomingMessage,
  res: ServerResponse,
  body: Buffer,
): Promise<void> {
  const decoded = decodeRequest(req, body);
  if (!decoded.request) {
    const failure = decoded.error;
    if (failure) writeError(res, failure, failure.error);
    return;
  }
  const request = decoded.request;
  const options = state.current;
  const action = `${request.service}:${request.operation}`;
  const caller = accountForAccessKey(request.accessKeyId ?? '', options.defaultAccountId);
  // AssumeRole is attributed to the organization whose role is assumed, not to the caller.
  const account =
    (action === 'sts:AssumeRole'
      ? roleAccount(typeof request.input.RoleArn === 'string' ? request.input.RoleArn : undefined)
      : undefined) ?? caller;
  state.log.arrived(account, action, Date.now());
  const sequence = state.nextSequence(account, action);

  const delay =
    options.latencyMs +
    options.latencyJitterMs * hashUnit(options.seed, 'latency', account, action, sequence);
  if (delay > 0) await sleep(delay);

  const handler = HANDLERS[action];
  let error = handler
    ? frontDoor(state, request, account, action, sequence)
    : new SimError('UnknownOperation', `Operation ${request.operation} is not supported by the simulator`);
  if (!error && handler) {
    const ctx: CallContext = {
      accountId: caller,
      options: state.current,
      todayIndex: state.todayIndex(),
      nowSeconds: state.nowSeconds(),
      nextRevision: () => state.nextRevision(),
    };
    const tokenField = PAGE_TOKEN_FIELDS[action];
    const endless = tokenField !== undefined && options.endlessPagingAccounts.includes(caller);
    try {
      const followUp = endless && isEndlessFollowUp(request.input, tokenField);
      let result = handler(
        ctx,
        followUp ? withoutField(request.input, tokenField) : request.input,
        request,
        state,
      );
      if (endless)
        result = { ...(followUp ? emptied(result) : result), [tokenField]: `${ENDLESS_PREFIX}${sequence}` };
      if (
        options.corruptAmountRate > 0 &&
        request.service === 'ce' &&
        hashUnit(options.seed, 'corrupt', account, action, sequence) < options.corruptAmountRate
      )
        result = corruptAmounts(result) as Record<string, unknown>;
      const malformed =
        options.operationFaults[action] === 'malformed' ||
        (options.malformedRate > 0 &&
          hashUnit(options.seed, 'malformed', account, action, sequence) < options.malformedRate);
      writeResult(res, request, result, malformed);
      state.log.finished(account, action, 'ok');
      return;
    } catch (thrown) {
      if (thrown instanceof SimError) error = thrown;
      else {
        process.stderr.write(
          `costwatch sim: ${action} failed: ${thrown instanceof Error ? (thrown.stack ?? thrown.message) : String(thrown)}\n`,
        );
        error = new SimError('InternalFailure', 'We encountered an internal error. Please try again.');
      }
    }
  }
  if (error) {
    writeError(res, request, error);
    state.log.finished(account, action, error.kind === 'Throttling' ? 'throttled' : 'error');
  }
}
