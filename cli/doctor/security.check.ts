/**
 * Security settings of the deployment (issue 12): a proxy in front of the api without
 * TRUST_PROXY, a JWT key that is public or typed, and a response cache sharing the queue Redis.
 * All are warnings: the deployment works, but is open to the attack named in the detail.
 *
 * "Behind a proxy" is detected two ways: the api records in Redis (key
 * `<QUEUE_PREFIX>:security:forwarded-without-trust-proxy`, one day) that requests arrived with
 * X-Forwarded-For while TRUST_PROXY was unset; and the doctor runs in Kubernetes (the kubelet sets
 * KUBERNETES_SERVICE_HOST in every pod), where k8s/base always puts the ingress in front.
 */
import type { Redis } from 'ioredis';
import { signingKeys, type Config } from '../../lib/config.js';
import { forwardedSeenKey, KEY_FIX, weakKeyReason } from '../../lib/secrets.js';
import { K8S, pass, skip, warn, type CheckResult } from './check.js';

const NS = `-n ${K8S.namespace}`;

const TRUST_PROXY_FIX = [
  `set TRUST_PROXY to the hop count or the addresses/CIDRs of the proxies in front of the api, e.g. TRUST_PROXY=1 behind one ingress controller,`,
  `or the controller's pod CIDR: kubectl ${NS} edit configmap ${K8S.configmap} (k8s/base sets it), then kubectl ${NS} rollout restart deployment ${K8S.api}`,
  `(compose: TRUST_PROXY=... in .env). Without it every client shares the proxy's address: ten bad logins lock everyone out.`,
].join('\n');

async function forwardedSeenAt(redis: Redis | null, prefix: string): Promise<string | null> {
  if (!redis) return null;
  try {
    return await redis.get(forwardedSeenKey(prefix));
  } catch {
    return null;
  }
}

/** The three security warnings, each passing when the setting is right. */
export async function checkSecurity(
  env: Record<string, string | undefined>,
  config: Config,
  redis: Redis | null,
): Promise<CheckResult[]> {
  const results: CheckResult[] = [];

  if (config.TRUST_PROXY !== undefined) {
    results.push(pass('trust proxy', `TRUST_PROXY=${JSON.stringify(config.TRUST_PROXY)}`));
  } else {
    const seen = await forwardedSeenAt(redis, config.QUEUE_PREFIX);
    const inKubernetes = (env.KUBERNETES_SERVICE_HOST ?? '') !== '';
    if (seen !== null)
      results.push(
        warn(
          'trust proxy',
          `TRUST_PROXY is unset, yet the api received requests with X-Forwarded-For (last at ${seen}): it is behind a proxy and counts every client as the proxy`,
          TRUST_PROXY_FIX,
        ),
      );
    else if (inKubernetes)
      results.push(
        warn(
          'trust proxy',
          'TRUST_PROXY is unset and this runs in Kubernetes (KUBERNETES_SERVICE_HOST is set), where the api sits behind the ingress controller',
          TRUST_PROXY_FIX,
        ),
      );
    else results.push(pass('trust proxy', 'TRUST_PROXY unset; no sign of a proxy in front of the api'));
  }

  const keys = signingKeys(config);
  if (keys.length === 0) {
    results.push(skip('jwt key', 'JWT_SECRET_KEY / JWT_SECRET_KEYS not set here (only the api needs it)'));
  } else {
    const weak = keys
      .map((key, i) => ({ i, reason: weakKeyReason(key) }))
      .filter((k): k is { i: number; reason: string } => k.reason !== null);
    if (weak.length > 0)
      results.push(
        warn(
          'jwt key',
          `${weak.map((w) => `${keys.length > 1 ? `key ${w.i + 1}` : 'the key'} is insecure: ${w.reason}`).join('; ')}` +
            (config.ALLOW_INSECURE_DEV_SECRETS
              ? ' (accepted only because ALLOW_INSECURE_DEV_SECRETS is set: anyone who knows it can sign an operator token)'
              : ' (the api refuses to start with it)'),
          `${KEY_FIX}\nkubectl ${NS} patch secret ${K8S.secret} --type merge -p '{"stringData":{"JWT_SECRET_KEY":"'"$(openssl rand -base64 48)"'"}}'`,
        ),
      );
    else results.push(pass('jwt key', `${keys.length} signing key(s), none public or low-entropy`));
  }

  const sharesQueueRedis =
    config.CACHE_REDIS_URL === undefined || config.CACHE_REDIS_URL === config.REDIS_URL;
  if (sharesQueueRedis)
    results.push(
      warn(
        'response cache',
        `the API response cache shares the queue Redis (noeviction): bounded to ${config.CACHE_MAX_ENTRIES_PER_ORG} answers of at most ${config.CACHE_MAX_ENTRY_BYTES} bytes per organization per ${config.API_CACHE_TTL_SECONDS} s, but it still competes with BullMQ for memory`,
        'give the cache its own Redis with maxmemory and allkeys-lru: CACHE_REDIS_URL=redis://cache-host:6379 (e.g. redis-server --maxmemory 256mb --maxmemory-policy allkeys-lru)',
      ),
    );
  else results.push(pass('response cache', 'the response cache has its own Redis (CACHE_REDIS_URL)'));
  return results;
}
