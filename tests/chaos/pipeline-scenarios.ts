/**
 * Pipeline scenarios: real worker processes, the chaos Postgres and Redis, the simulator as AWS.
 * Each injects a fault during a backfill and then checks the load against the truth.
 */
import { ACCOUNTS, backfillRange, Figures, type ChaosSize, type ScenarioResult } from './report.js';
import { restartChaosPostgres, restartChaosRedis, sleep, startChaosRun, type ChaosRun } from './infra.js';
import { checkLoad, loadCounts, loadIsExact, referenceCeRequests, referenceLoad, type LoadCheck } from './verify.js';
import { backfillProgress } from '../../database/repositories/fetch-runs.repository.js';
import { enqueueFetches } from '../../producers/enqueue.js';
import { splitWindows } from '../../lib/dates.js';

function recordLoad(f: Figures, check: LoadCheck, windows: string): void {
  f.set('windows', windows);
  f.set('rows', `${check.rowsFound}/${check.rowsExpected}`);
  f.set('duplicates', check.duplicates);
  f.note(`count mismatches=${check.countMismatches}, sum mismatches=${check.sumMismatches}, rollup mismatches=${check.rollupMismatches}`);
  f.expect(loadIsExact(check), `load differs from the truth: ${check.problems.join(', ') || JSON.stringify(check)}`);
}

/** Resolves once `fraction` of the backfill's windows succeeded (or after `timeoutMs`). */
async function waitForProgress(run: ChaosRun, backfillId: string, jobs: number, fraction: number, timeoutMs = 300_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const p = await backfillProgress(run.db.pool, backfillId).catch(() => null);
    if ((p && p.succeeded >= jobs * fraction) || Date.now() > deadline) return p?.succeeded ?? 0;
    await sleep(100);
  }
}

async function runStatusCounts(run: ChaosRun): Promise<Record<string, number>> {
  const { rows } = await run.db.pool.query<{ status: string; n: number }>('SELECT status, count(*)::int AS n FROM fetch_runs GROUP BY status');
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}

/** kill -9 of random worker processes at random moments, restarted each time, during a backfill. */
export async function workerKills(size: ChaosSize): Promise<ScenarioResult> {
  const f = new Figures(`kill -9 x${size.kills} (${size.workers} workers)`);
  const accounts = ACCOUNTS.slice(0, size.orgs);
  const { from, to } = backfillRange(size);
  const reference = await referenceLoad(accounts, from, to, size.windowDays);
  // Latency stretches the backfill so that every kill lands while loads are running.
  // Quick mode too: at 40 ms the small backfill could finish between the first and second kill.
  const run = await startChaosRun({ sim: { latencyMs: size.mode === 'full' ? 150 : 120 }, env: { WORKER_CONCURRENCY: '3' } });
  try {
    const orgs = await run.createOrgs(accounts);
    await Promise.all(Array.from({ length: size.workers }, () => run.spawnWorker()));
    const { backfillId, jobs } = await run.backfill(orgs.map((o) => o.id), from, to, size.windowDays);
    let finished = false;
    const done = run.waitBackfill(backfillId, jobs, 900_000).finally(() => (finished = true));
    done.catch(() => undefined);
    const killedAt: number[] = [];
    const started = Date.now();
    // Replacements start in the background (a worker takes seconds to boot), so the next kill is not
    // held back until the backfill is nearly done; victims are drawn from the workers that are up.
    const replacements: Array<Promise<unknown>> = [];
    while (killedAt.length < size.kills && !finished) {
      await sleep(size.mode === 'full' ? 800 + Math.random() * 2_000 : 200 + Math.random() * 600);
      if (finished) break;
      const victim = run.workers[Math.floor(Math.random() * run.workers.length)];
      if (!victim) continue; // every worker is down; the replacements are booting
      await run.kill9(victim);
      killedAt.push(Math.round((Date.now() - started) / 100) / 10);
      const replacement = run.spawnWorker();
      replacement.catch(() => undefined); // awaited (and reported) below
      replacements.push(replacement);
    }
    await Promise.all(replacements);
    const result = await done;
    const statuses = await runStatusCounts(run);
    f.note(`kills at ${killedAt.join(', ')} s`);
    f.note(`runs left 'running' by a kill=${statuses.running ?? 0}`);
    f.note(`recovered in ${(result.ms / 1000).toFixed(1)} s`);
    // What the kills cost on Cost Explorer: every GetCostAndUsage the simulator answered, against
    // the clean reference run's (the same accounts, range and windows, no faults: its simulator's
    // count). The goal (issue 14): at most 1.5x. Also the runs' own ledger: what the succeeded runs
    // sent plus the pages they reused from checkpoints (a clean run of each window, had none died).
    const cleanCount = await referenceCeRequests(accounts, from, to, size.windowDays);
    const ledger = await run.db.pool.query<{ sent: number; reused: number }>(
      `SELECT coalesce(sum((aws_requests_by_operation->>'GetCostAndUsage')::int), 0)::int AS sent,
              coalesce(sum(ce_pages_reused), 0)::int AS reused
         FROM fetch_runs WHERE source = 'costs' AND status = 'succeeded'`,
    );
    const sent = Object.values(run.sim.control.requestCounts().byAccount).reduce((a, ops) => a + (ops['ce:GetCostAndUsage'] ?? 0), 0);
    const ratio = cleanCount ? sent / cleanCount : Number.POSITIVE_INFINITY;
    const { sent: succeededSent = 0, reused = 0 } = ledger.rows[0] ?? {};
    f.set('rate', `GetCostAndUsage ${sent} vs ${cleanCount} clean (${ratio.toFixed(2)}x, goal <= 1.5x)`);
    f.note(`succeeded runs sent ${succeededSent} + reused ${reused} checkpointed pages`);
    f.expect(ratio <= 1.5, `the kills cost ${ratio.toFixed(2)}x the GetCostAndUsage requests of a clean run (goal <= 1.5x)`);
    f.expect(succeededSent + reused === cleanCount, `succeeded runs sent ${succeededSent} + reused ${reused}, a clean run sends ${cleanCount}`);
    f.expect(killedAt.length === size.kills, `only ${killedAt.length} of ${size.kills} kills before the backfill finished`);
    f.expect(result.failed === 0, `${result.failed} windows failed`);
    f.set('errors', `${result.failed} failed windows`);
    recordLoad(f, await checkLoad(run.db.pool, orgs, from, to, reference), `${result.rolledUp}/${jobs}`);
    return f.done();
  } catch (error) {
    return f.crashed(error);
  } finally {
    await run.close();
  }
}

/**
 * A backfill by two workers with the backing service restarted mid-run, once per mode (each at an
 * evenly spaced fraction of the windows): every window completes exactly, no worker dies.
 * `afterRun` adds the service's own figures.
 */
async function restartMidBackfill<Mode extends string>(
  size: ChaosSize,
  title: string,
  modes: Mode[],
  restart: (mode: Mode) => Promise<void>,
  afterRun: (run: ChaosRun, lost: number) => Promise<string>,
): Promise<ScenarioResult> {
  const f = new Figures(`${title} (${modes.join(', ')})`);
  const accounts = ACCOUNTS.slice(0, size.orgs);
  const { from, to } = backfillRange(size);
  const reference = await referenceLoad(accounts, from, to, size.windowDays);
  const run = await startChaosRun({ sim: { latencyMs: 40 }, env: { WORKER_CONCURRENCY: '3', RETRY_BACKOFF_MS: '500' } });
  try {
    const orgs = await run.createOrgs(accounts);
    await Promise.all([run.spawnWorker(), run.spawnWorker()]);
    const { backfillId, jobs } = await run.backfill(orgs.map((o) => o.id), from, to, size.windowDays);
    for (const [i, mode] of modes.entries()) {
      const at = await waitForProgress(run, backfillId, jobs, (i + 1) / (modes.length + 2));
      const t0 = Date.now();
      await restart(mode);
      f.note(`${mode} restart after ${at} windows, down ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }
    const result = await run.waitBackfill(backfillId, jobs, 900_000);
    f.expect(result.failed === 0, `${result.failed} windows failed`);
    f.expect(run.unexpectedExits.length === 0, `worker processes died: ${run.unexpectedExits.join(' | ')}`);
    f.set('errors', `${result.failed} failed windows, ${run.unexpectedExits.length} workers died`);
    f.note(await afterRun(run, jobs - result.rolledUp - result.failed));
    recordLoad(f, await checkLoad(run.db.pool, orgs, from, to, reference), `${result.rolledUp}/${jobs}`);
    return f.done();
  } catch (error) {
    return f.crashed(error);
  } finally {
    await run.close();
  }
}

/** Redis stopped (SHUTDOWN NOSAVE, then in full mode a clean SHUTDOWN) and restarted on its AOF mid-run. */
export function redisRestart(size: ChaosSize): Promise<ScenarioResult> {
  return restartMidBackfill(
    size,
    'Redis restart',
    size.mode === 'full' ? ['nosave', 'clean'] : ['nosave'],
    (mode) => restartChaosRedis(mode, 2_000),
    (_run, lost) => Promise.resolve(`jobs lost=${lost}`),
  );
}

/** Postgres restarted (-m fast, then in full mode -m immediate: a crash) mid-run. */
export function postgresRestart(size: ChaosSize): Promise<ScenarioResult> {
  return restartMidBackfill(
    size,
    'Postgres restart',
    size.mode === 'full' ? ['fast', 'immediate'] : ['immediate'],
    (mode) => restartChaosPostgres(mode, 3_000),
    async (run) => {
      const statuses = await runStatusCounts(run);
      return `attempts recorded as retrying=${statuses.retrying ?? 0}, left running=${statuses.running ?? 0}`;
    },
  );
}

/** Max requests in any 1 s sliding window of sorted epoch-ms timestamps. */
export function maxPerSecond(times: number[]): number {
  let best = 0;
  let start = 0;
  for (let end = 0; end < times.length; end++) {
    while ((times[end] ?? 0) - (times[start] ?? 0) >= 1000) start++;
    best = Math.max(best, end - start + 1);
  }
  return best;
}

/**
 * One org throttled on 50% of its requests, a 5xx storm (errorRate 0.5) for a while on everyone,
 * a per-org Cost Explorer limit of CE_RATE_PER_ORG: all windows complete, the healthy orgs are never
 * delayed and finish first, and no account sees more than 2 x CE_RATE_PER_ORG requests in any
 * sliding second (the limiter's fixed one-second windows let a burst at the end of one window meet
 * the next window's burst: 2x is the bound of a fixed-window limiter), plus the org's STS
 * AssumeRole calls, which the simulator timestamps with the same account.
 */
export async function throttleAndStorm(size: ChaosSize): Promise<ScenarioResult> {
  const rate = 5;
  const f = new Figures(`throttle 50% one org + 5xx storm, CE ${rate}/s per org`);
  const accounts = ACCOUNTS.slice(0, Math.max(2, Math.min(3, size.orgs)));
  const [throttled = '', ...healthy] = accounts;
  const { from, to } = backfillRange(size);
  const reference = await referenceLoad(ACCOUNTS.slice(0, size.orgs), from, to, size.windowDays);
  const run = await startChaosRun({
    sim: { accountThrottleRates: { [throttled]: 0.5 }, pageSize: size.mode === 'full' ? 60 : 200 },
    env: { WORKER_CONCURRENCY: '4', CE_RATE_PER_ORG: String(rate), RETRY_BACKOFF_MS: '300', THROTTLE_BACKOFF_MS: '500', FETCH_ATTEMPTS: '10' },
  });
  try {
    const orgs = await run.createOrgs(accounts);
    await Promise.all([run.spawnWorker(), run.spawnWorker()]);
    const { backfillId, jobs } = await run.backfill(orgs.map((o) => o.id), from, to, size.windowDays, ['costs']);
    const stormMs = size.mode === 'full' ? 15_000 : 5_000;
    await sleep(2_000);
    run.sim.control.setOptions({ errorRate: 0.5 });
    await sleep(stormMs);
    run.sim.control.setOptions({ errorRate: 0 });
    const result = await run.waitBackfill(backfillId, jobs, 900_000);
    const counts = run.sim.control.requestCounts({ timestamps: true });
    const finished = await run.db.pool.query<{ account: string; last: Date; throttled: number }>(
      `SELECT o.aws_account_id AS account, max(r.finished_at) AS last, count(*) FILTER (WHERE r.status = 'throttled')::int AS throttled
       FROM fetch_runs r JOIN organizations o ON o.id = r.organization_id GROUP BY 1`,
    );
    const byAccount = new Map(finished.rows.map((r) => [r.account, r]));
    const peaks = accounts.map((a) => maxPerSecond((counts.timestamps?.[a] ?? []).slice().sort((x, y) => x - y)));
    // The simulator's arrival times are per account, all services: the org's STS AssumeRole calls
    // (not under the Cost Explorer limit; a handful per worker process) may share a peak second.
    const bounds = accounts.map((a) => 2 * rate + (counts.byAccount[a]?.['sts:AssumeRole'] ?? 0));
    const sent = accounts.map((a) => Object.values(counts.byAccount[a] ?? {}).reduce((s, n) => s + n, 0));
    const throttledSeen = Object.values(counts.throttled[throttled] ?? {}).reduce((s, n) => s + n, 0);
    const errors = Object.values(counts.errors).reduce((s, row) => s + Object.values(row).reduce((a, b) => a + b, 0), 0);
    f.set('rate', `max/1s per org ${peaks.join(', ')} (bounds ${bounds.join(', ')})`);
    f.set('errors', `${errors} 5xx + ${throttledSeen} throttles injected; ${result.failed} failed windows`);
    f.note(`requests per org ${sent.join(', ')}; delayed runs of the throttled org=${byAccount.get(throttled)?.throttled ?? 0}`);
    f.expect(result.failed === 0, `${result.failed} windows failed`);
    f.expect(
      peaks.every((p, i) => p <= (bounds[i] ?? 0)),
      `an org exceeded its bound of requests in a second: ${peaks.join(', ')} > ${bounds.join(', ')}`,
    );
    for (const h of healthy) {
      f.expect((byAccount.get(h)?.throttled ?? 0) === 0, `healthy org ${h} had delayed runs`);
      const hl = byAccount.get(h)?.last;
      const tl = byAccount.get(throttled)?.last;
      f.expect(hl !== undefined && tl !== undefined && hl < tl, `healthy org ${h} did not finish before the throttled one`);
    }
    recordLoad(f, await checkLoad(run.db.pool, orgs, from, to, reference, ['costs']), `${result.rolledUp}/${jobs}`);
    return f.done();
  } catch (error) {
    return f.crashed(error);
  } finally {
    await run.close();
  }
}

async function waitForIdle(run: ChaosRun, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const counts = await Promise.all(
      [run.queues.fetchCosts, run.queues.fetchMetrics, run.queues.fetchForecast, run.queues.rollups].map((q) => q.getJobCounts('waiting', 'active', 'delayed', 'prioritized')),
    );
    if (counts.every((c) => Object.values(c).every((n) => n === 0))) return;
    if (Date.now() > deadline) throw new Error(`queues not idle after ${timeoutMs} ms: ${JSON.stringify(counts)}`);
    await sleep(250);
  }
}

/** An org's role revoked while its backfill runs: access_denied with a remedy, requests bounded, the other org exact. */
export async function roleRevoked(size: ChaosSize): Promise<ScenarioResult> {
  const f = new Figures('role revoked mid-backfill');
  const [revoked = '', fine = ''] = ACCOUNTS;
  const { from, to } = backfillRange(size);
  const reference = await referenceLoad(ACCOUNTS.slice(0, size.orgs), from, to, size.windowDays);
  const workers = 2;
  const concurrency = 3;
  const run = await startChaosRun({ sim: { latencyMs: 60 }, env: { WORKER_CONCURRENCY: String(concurrency), METRICS_CONCURRENCY: '4' } });
  try {
    const [bad, good] = await run.createOrgs([revoked, fine]);
    if (!bad || !good) throw new Error('orgs not created');
    for (let i = 0; i < workers; i++) await run.spawnWorker();
    const { backfillId, jobs } = await run.backfill([bad.id, good.id], from, to, size.windowDays);
    for (let i = 0; i < 600; i++) {
      const { rows } = await run.db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM fetch_runs WHERE organization_id = $1 AND status = 'succeeded'`, [bad.id]);
      if ((rows[0]?.n ?? 0) >= 2) break;
      await sleep(100);
    }
    const before = Object.values(run.sim.control.requestCounts().byAccount[revoked] ?? {}).reduce((s, n) => s + n, 0);
    run.sim.control.setOptions({ accessDeniedAccounts: [revoked] });
    await waitForIdle(run, 600_000);
    const after = Object.values(run.sim.control.requestCounts().byAccount[revoked] ?? {}).reduce((s, n) => s + n, 0);
    const org = await run.db.pool.query<{ status: string; last_error: string | null; last_error_remedy: string | null }>(
      'SELECT status, last_error, last_error_remedy FROM organizations WHERE id = $1',
      [bad.id],
    );
    const row = org.rows[0];
    // Only jobs already running when the first denial lands may still ask AWS: per worker process,
    // `concurrency` jobs per fetch queue, and a metrics job runs up to METRICS_CONCURRENCY requests at once.
    const bound = workers * concurrency * (1 + 4);
    const progress = await backfillProgress(run.db.pool, backfillId);
    f.set('windows', `${progress.rolledUp} rolled up, ${progress.failed} failed of ${jobs}`);
    f.set('errors', `status=${row?.status}`);
    f.set('rate', `${after - before} requests after revocation (bound ${bound})`);
    f.note(`last_error="${(row?.last_error ?? '').slice(0, 90)}"`);
    f.note(`remedy="${(row?.last_error_remedy ?? '').slice(0, 80)}"`);
    f.expect(row?.status === 'access_denied', `status ${row?.status}, expected access_denied`);
    f.expect(/AccessDenied|denied/i.test(row?.last_error ?? ''), 'last_error does not say access was denied');
    f.expect((row?.last_error_remedy ?? '').length > 20, 'no remedy recorded');
    f.expect(after - before <= bound, `retry storm: ${after - before} requests after revocation`);
    const check = await checkLoad(run.db.pool, [good], from, to, reference);
    f.set('rows', `${check.rowsFound}/${check.rowsExpected} (healthy org)`);
    f.set('duplicates', check.duplicates);
    f.expect(loadIsExact(check), `healthy org's load differs: ${check.problems.join(', ')}`);
    return f.done();
  } catch (error) {
    return f.crashed(error);
  } finally {
    await run.close();
  }
}

/**
 * SIGTERM while a slow window loads (simulator latency: a window takes seconds, longer than the
 * grace period): the worker exits 0, the window is handed back and finished by the next worker,
 * and per (day, grouping) the rows readers see are always all-or-nothing: with the window loaded
 * before, every observation equals the full count.
 */
export async function sigtermMidLoad(size: ChaosSize): Promise<ScenarioResult> {
  const f = new Figures('SIGTERM during a slow load');
  const account = ACCOUNTS[0] ?? '';
  const { from, to } = backfillRange(size);
  const reference = await referenceLoad(ACCOUNTS.slice(0, size.orgs), from, to, size.windowDays);
  const run = await startChaosRun({ env: { WORKER_CONCURRENCY: '2', SHUTDOWN_GRACE_SECONDS: '2' } });
  let observing = true;
  try {
    const [org] = await run.createOrgs([account]);
    if (!org) throw new Error('org not created');
    await run.spawnWorker();
    const windows = splitWindows(from, to, size.windowDays).slice(0, 2);
    const loadedTo = windows[windows.length - 1]?.to ?? to;
    const first = await run.backfill([org.id], from, loadedTo, size.windowDays, ['costs']);
    await run.waitBackfill(first.backfillId, first.jobs, 300_000);
    // Slow AWS: many small pages, each 400 ms.
    run.sim.control.setOptions({ latencyMs: 400, pageSize: 15 });
    const runsBefore = (await run.db.pool.query<{ id: number }>('SELECT coalesce(max(id), 0)::int AS id FROM fetch_runs')).rows[0]?.id ?? 0;
    await enqueueFetches(run.queues, 'costs', windows.map((w) => ({ orgId: org.id, ...w, trigger: 'manual' as const })));
    let observations = 0;
    let partial = 0;
    const partialSamples: string[] = [];
    const observer = (async () => {
      while (observing) {
        const counts = await loadCounts(run.db.pool, from, to).catch(() => null);
        if (counts) {
          observations++;
          for (const [key, expected] of reference) {
            if (!key.startsWith(`${account}|costs|`) || (key.split('|')[2] ?? '') >= loadedTo) continue;
            const n = counts.get(key)?.n ?? 0;
            if (n !== expected) {
              partial++;
              if (partialSamples.length < 3) partialSamples.push(`${key}=${n}/${expected}`);
            }
          }
        }
        await sleep(50);
      }
    })();
    // Wait until the loads have run for 2 s, then SIGTERM.
    for (let i = 0; i < 300; i++) {
      const { rows } = await run.db.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM fetch_runs WHERE id > $1 AND status = 'running' AND started_at < now() - interval '2 seconds'`,
        [runsBefore],
      );
      if ((rows[0]?.n ?? 0) > 0) break;
      await sleep(100);
    }
    const worker = run.workers[0];
    if (!worker) throw new Error('no worker');
    const t0 = Date.now();
    const code = await run.stop(worker, 30_000);
    const exitMs = Date.now() - t0;
    const mid = await run.db.pool.query<{ status: string; n: number }>(
      'SELECT status, count(*)::int AS n FROM fetch_runs WHERE id > $1 GROUP BY status',
      [runsBefore],
    );
    f.note(`exit code ${code} after ${(exitMs / 1000).toFixed(1)} s; runs at exit: ${mid.rows.map((r) => `${r.status}=${r.n}`).join(', ')}`);
    f.expect(code === 0, `worker exited with ${code}`);
    f.expect(exitMs < 10_000, `worker took ${exitMs} ms to exit (grace 2 s)`);
    run.sim.control.setOptions({ latencyMs: 0, pageSize: 500 });
    await run.spawnWorker();
    await waitForIdle(run, 300_000);
    observing = false;
    await observer;
    const runs = await run.db.pool.query<{ status: string; n: number }>(
      'SELECT status, count(*)::int AS n FROM fetch_runs WHERE id > $1 GROUP BY status',
      [runsBefore],
    );
    const succeeded = runs.rows.find((r) => r.status === 'succeeded')?.n ?? 0;
    f.set('windows', `${succeeded}/${windows.length} re-fetched`);
    f.set('errors', `${partial} partial observations of ${observations}`);
    f.note(`runs: ${runs.rows.map((r) => `${r.status}=${r.n}`).join(', ')}`);
    f.expect(partial === 0, `partially visible windows: ${partialSamples.join(', ')}`);
    f.expect(succeeded >= windows.length, `${succeeded} of ${windows.length} windows re-fetched`);
    recordLoad(f, await checkLoad(run.db.pool, [org], from, loadedTo, reference, ['costs']), `${succeeded}/${windows.length}`);
    return f.done();
  } catch (error) {
    return f.crashed(error);
  } finally {
    observing = false;
    await run.close();
  }
}
