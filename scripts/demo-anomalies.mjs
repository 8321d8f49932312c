// The demo's anomaly (issue 16): before the backfill, the simulator is told that the EC2 usage of
// Acme's payer account was 15x its usual ten days ago (+~35% of Acme's EC2); after it, the demo
// waits for the detector and prints the anomaly with its root cause. Hooked into scripts/demo.mjs
// with two calls.

const EC2 = 'Amazon Elastic Compute Cloud - Compute';

/** `offset` days from `today` (the simulator's today: the demo's clock, which CLOCK_START may pin). */
function dayOffset(today, offset) {
  return new Date(Date.parse(`${today}T00:00:00Z`) + offset * 86_400_000).toISOString().slice(0, 10);
}

/** Injects the demo spike through the simulator's control API (`costInjections`). */
export async function injectDemoAnomaly(simUrl, account) {
  const { today } = await (await fetch(`${simUrl}/_sim/health`)).json();
  const res = await fetch(`${simUrl}/_sim/options`, {
    method: 'PATCH',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      costInjections: [{ kind: 'spike', account, service: EC2, from: dayOffset(today, -10), factor: 15 }],
    }),
  });
  if (!res.ok) throw new Error(`simulator refused the demo anomaly: ${res.status} ${await res.text()}`);
}

/** Waits (up to 60 s) for the detector to have opened the demo anomaly; returns lines describing it. */
export async function describeDemoAnomaly(api, token, today) {
  const deadline = Date.now() + 60_000;
  const spikeDay = dayOffset(today, -10);
  for (;;) {
    const res = await fetch(
      `${api}/api/v1/anomalies?service=${encodeURIComponent(EC2)}&from=${spikeDay}&to=${spikeDay}`,
      {
        headers: { authorization: `Bearer ${token}` },
      },
    );
    const body = res.ok ? await res.json() : { items: [] };
    const live = (body.items ?? []).filter((a) => a.status !== 'withdrawn');
    // The service's anomaly, else the account's (the spike is of one account's EC2).
    const found = live.find((a) => a.dimension === 'service' && a.key === EC2) ?? live[0];
    if (found) {
      const causes = found.root_causes
        .map(
          (c) =>
            `${c.dimension} ${c.linked_account ?? c.region ?? c.service} ${c.impact.contribution} USD (${Math.round(c.impact.share * 100)}%)`,
        )
        .join('; ');
      return [
        `  Anomaly        #${found.id} ${found.kind} of ${found.key} on ${found.start}..${found.end} (${found.status}):`,
        `                 ${found.impact.amount} USD above the expected ${found.expected.amount} USD, score ${found.max_score}`,
        `                 root causes: ${causes}`,
        `                 curl -s "${api}/api/v1/anomalies" -H "authorization: Bearer $TOKEN"`,
      ].join('\n');
    }
    if (Date.now() > deadline)
      return '  Anomaly        (the detector has not opened the demo anomaly yet: see GET /api/v1/anomalies)';
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}
