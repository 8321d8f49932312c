/**
 * The shape of a doctor check and the helpers every check uses: results, timeouts and the
 * operator-facing names (namespace, deployments, secret and configmap) the fixes refer to.
 */

/** How a check ended. `warn` and `skip` never fail the doctor; `fail` does. */
export type CheckStatus = 'pass' | 'warn' | 'fail' | 'skip';

/** One line of the doctor's report. */
export interface CheckResult {
  /** Short, stable name, e.g. `postgres`, `env JWT_SECRET_KEY`, `aws org 3`. */
  name: string;
  /** False only when `status` is `fail`: warnings and skipped checks are ok. */
  ok: boolean;
  status: CheckStatus;
  /** What was found, with the numbers behind the verdict. */
  detail: string;
  /** What to run or change, for `fail` and `warn`; null when nothing needs doing. */
  fix: string | null;
}

export function pass(name: string, detail: string): CheckResult {
  return { name, ok: true, status: 'pass', detail, fix: null };
}

export function warn(name: string, detail: string, fix: string): CheckResult {
  return { name, ok: true, status: 'warn', detail, fix };
}

export function fail(name: string, detail: string, fix: string): CheckResult {
  return { name, ok: false, status: 'fail', detail, fix };
}

export function skip(name: string, detail: string): CheckResult {
  return { name, ok: true, status: 'skip', detail, fix: null };
}

/** The names of the deployment (k8s/base, docker-compose.yml) that fixes refer to. */
export const K8S = {
  namespace: 'costwatch',
  api: 'api-gateway',
  secret: 'costwatch-secrets',
  configmap: 'costwatch-config',
  serviceAccount: 'costwatch-sa',
} as const;

export class TimeoutError extends Error {
  override name = 'TimeoutError';
}

/** Rejects with TimeoutError when `work` takes longer than `ms`; the doctor never waits on a dead peer. */
export async function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new TimeoutError(`${what}: no answer within ${ms} ms`)), ms);
        timer.unref();
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** The message of an error, with its code when it has one (ECONNREFUSED, 28P01, ...). */
export function describeError(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return describeError(error.errors[0]);
  if (error instanceof Error) {
    const code = 'code' in error && typeof error.code === 'string' ? error.code : undefined;
    const message = error.message || error.name;
    return code && !message.includes(code) ? `${code}: ${message}` : message;
  }
  return String(error);
}

/** The `code` of a Node or driver error (ECONNREFUSED, ENOTFOUND, 28P01, ...), if any. */
export function errorCode(error: unknown): string | undefined {
  if (error instanceof AggregateError && error.errors.length > 0) return errorCode(error.errors[0]);
  if (error && typeof error === 'object' && 'code' in error && typeof error.code === 'string')
    return error.code;
  return undefined;
}

/**
 * `redis-cli` against $REDIS_URL, in a form redis-cli 7 accepts: it reads the empty user of
 * `redis://:password@host` as a user named "" (WRONGPASS), so the URL names the `default` user.
 */
export const REDIS_CLI =
  'redis-cli -u "$(printf %s "$REDIS_URL" | sed s#://:#://default:#)" --no-auth-warning';
