/**
 * Variables: the environment parsed exactly as a worker parses it at start (`parseConfig`), one
 * result per problem, each with where the variable lives in the deployment.
 */
import { ConfigError, parseConfig, type Config, type Role } from '../../lib/config.js';
import { fail, K8S, pass, type CheckResult } from './check.js';

const SECRET_VARIABLES = new Set(['DATABASE_URL', 'REDIS_URL', 'JWT_SECRET_KEY']);

/** How to set one variable in Kubernetes and in docker compose. */
export function variableFix(name: string): string {
  if (SECRET_VARIABLES.has(name)) {
    const example =
      name === 'JWT_SECRET_KEY'
        ? 'JWT_SECRET_KEY="$(openssl rand -base64 48)"'
        : name === 'DATABASE_URL'
          ? 'DATABASE_URL=postgresql://user:password@host:5432/costwatch'
          : 'REDIS_URL=redis://:password@host:6379';
    return [
      `${name} lives in the secret ${K8S.secret}: kubectl -n ${K8S.namespace} get secret ${K8S.secret} -o jsonpath='{.data.${name}}' | base64 -d`,
      `set it (keep the other keys): kubectl -n ${K8S.namespace} patch secret ${K8S.secret} --type merge -p '{"stringData":{"${name}":"..."}}'`,
      `then: kubectl -n ${K8S.namespace} rollout restart deployment   (compose: put ${example} in .env, then docker compose up -d)`,
    ].join('\n');
  }
  return [
    `${name} lives in the configmap ${K8S.configmap}: kubectl -n ${K8S.namespace} describe configmap ${K8S.configmap}`,
    `fix it: kubectl -n ${K8S.namespace} edit configmap ${K8S.configmap}, then kubectl -n ${K8S.namespace} rollout restart deployment`,
    `(compose: set ${name} in .env, then docker compose up -d; the accepted values are documented in lib/config.ts)`,
  ].join('\n');
}

/** One failed result per problem of `role`'s configuration, or one passing result. */
export function checkVariables(
  env: Record<string, string | undefined>,
  role: Role = 'worker',
): CheckResult[] {
  try {
    parseConfig(role, env);
    return [pass('variables', `every variable the ${role} role needs is set and valid`)];
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return error.problems.map((problem) => {
      const name = /^([A-Z0-9_]+):/.exec(problem)?.[1] ?? 'environment';
      return fail(`env ${name}`, problem, variableFix(name));
    });
  }
}

/**
 * The doctor's own settings: what parses of `env`, with malformed variables dropped (they are
 * reported by checkVariables) so the other checks still run on what is usable.
 */
export function usableConfig(env: Record<string, string | undefined>): Config {
  const remaining: Record<string, string | undefined> = { ...env };
  for (let attempt = 0; attempt < 50; attempt++) {
    try {
      return parseConfig('doctor', remaining);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      const bad = error.problems
        .map((p) => /^([A-Z0-9_]+):/.exec(p)?.[1])
        .filter((n): n is string => n !== undefined && n in remaining);
      if (bad.length === 0) break;
      for (const name of bad) delete remaining[name];
    }
  }
  return parseConfig('doctor', {});
}
