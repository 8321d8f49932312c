/**
 * The metrics endpoint: answers 200 with CostWatch's own metrics. Nothing listening is a note,
 * not a failure (the doctor often runs where no role runs, e.g. a one-off pod or a laptop).
 */
import { describeError, errorCode, fail, K8S, pass, skip, type CheckResult } from './check.js';

const NS = `-n ${K8S.namespace}`;

const scrapeFix = [
  `curl -s URL | head; kubectl ${NS} get pods -o wide; kubectl ${NS} logs deploy/worker --tail=50`,
  `Prometheus targets: kubectl port-forward -n monitoring svc/prometheus 9090:9090, then http://localhost:9090/targets;`,
  `kubectl ${NS} get svc api-gateway-service worker-metrics scheduler-metrics -o yaml | grep prometheus.io   (scrape, port, path /metrics)`,
].join('\n');

/** GETs `url` with a timeout and checks the status and the presence of `costwatch_` series. */
export async function checkMetricsEndpoint(url: string, timeoutMs: number): Promise<CheckResult> {
  const name = `metrics ${url}`;
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'manual' });
  } catch (error) {
    const code = errorCode(error) ?? errorCode(error instanceof Error ? error.cause : undefined);
    if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EADDRNOTAVAIL') {
      return skip(
        name,
        `nothing listens there (${code}); run the doctor where a role runs (kubectl ${NS} exec deploy/worker -- costwatch doctor) or pass --metrics-url`,
      );
    }
    return fail(
      name,
      `no answer: ${describeError(error instanceof Error && error.cause ? error.cause : error)}`,
      scrapeFix,
    );
  }
  const body = await response.text().catch(() => '');
  if (response.status !== 200)
    return fail(name, `answered ${response.status}: ${body.slice(0, 200)}`, scrapeFix);
  const series = new Set(
    body
      .split('\n')
      .filter((line) => line.startsWith('costwatch_'))
      .map((line) => /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)?.[0] ?? ''),
  );
  if (!body.includes('costwatch_')) {
    return fail(
      name,
      `answered 200 but has no costwatch_ metrics (${body.length} bytes): is this a CostWatch role?`,
      scrapeFix,
    );
  }
  return pass(name, `200, ${series.size} costwatch_ series names with samples, ${body.length} bytes`);
}
